"""clawtui.engine.ingress.manager."""
