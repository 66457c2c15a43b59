"""`[attach]`: how clawtui reaches containers over SSH (attach, tmux listing and sending)."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator

from clawtui.config.base import ConfigPath, Section

_SESSION_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class AttachConfig(Section):
    """SSH into containers' tmux sessions (`[attach]`)."""

    known_hosts: ConfigPath | None = Field(
        default=None,
        description="known_hosts file clawtui checks host keys against (dev box keys are pinned "
        "here at creation). Unset: <state_dir>/known_hosts.",
    )
    identity_file: ConfigPath | None = Field(
        default=None,
        description="Unencrypted private key offered to sshd; unset: only the ssh-agent keys.",
    )
    use_agent: bool = Field(
        default=True,
        description="Offer the keys held by ssh-agent ($SSH_AUTH_SOCK).",
    )
    session: str = Field(
        default="main",
        description="tmux session attached to when none is named (letters, digits, '_', '-').",
    )
    username: str = Field(
        default="dev",
        min_length=1,
        max_length=32,
        description="SSH user in dev boxes.",
    )

    @field_validator("session")
    @classmethod
    def _check_session(cls, value: str) -> str:
        if not _SESSION_RE.fullmatch(value):
            raise ValueError(
                f"invalid tmux session name {value!r}: use 1-64 letters, digits, '_' or '-'"
            )
        return value

    def resolved_known_hosts(self, state_dir: Path) -> Path:
        """`known_hosts`, or `<state_dir>/known_hosts` when it is not set."""
        return self.known_hosts if self.known_hosts is not None else state_dir / "known_hosts"
