"""clawtui.engine.kb.knowledge."""
