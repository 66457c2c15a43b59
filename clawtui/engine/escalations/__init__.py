"""clawtui.engine.escalations.manager."""
