"""clawtui.engine.pools.manager."""
