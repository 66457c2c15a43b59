"""`[threads]`: where the agents' TinyClaw home (threads.json and the file queue) lives."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from clawtui.config.base import ConfigPath, Section


class ThreadsConfig(Section):
    """The TinyClaw home shared with agents (`[threads]`)."""

    home: ConfigPath | None = Field(
        default=None,
        description="A TinyClaw home folder (the one holding threads.json and queue/). "
        "Unset: <state_dir>/tinyclaw, created on first use.",
    )

    def resolved_home(self, state_dir: Path) -> Path:
        """`home`, or `<state_dir>/tinyclaw` when it is not set."""
        return self.home if self.home is not None else state_dir / "tinyclaw"
