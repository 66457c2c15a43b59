"""clawtui.engine.stuck.detector."""
