"""clawtui.engine.memory.manager."""
