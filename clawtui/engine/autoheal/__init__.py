"""clawtui.engine.autoheal.repair."""
