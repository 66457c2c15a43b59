"""clawtui.engine.threads.manager."""
