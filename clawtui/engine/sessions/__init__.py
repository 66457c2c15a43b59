"""clawtui.engine.sessions."""
