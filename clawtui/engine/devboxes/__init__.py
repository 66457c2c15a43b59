"""clawtui.engine.devboxes.manager."""
