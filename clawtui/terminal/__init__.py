"""clawtui.terminal."""
