"""clawtui.engine.heartbeats."""
