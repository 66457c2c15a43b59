"""clawtui.engine.brief.briefs."""
