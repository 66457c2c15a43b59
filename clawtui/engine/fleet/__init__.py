"""clawtui.engine.fleet.hosts."""
