"""clawtui.client."""
