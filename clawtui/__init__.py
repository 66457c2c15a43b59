"""clawtui: the control room for fleets of AI-agent containers."""

__version__ = "0.1.0"
