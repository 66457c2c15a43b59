"""clawtui.engine.health.monitors."""
