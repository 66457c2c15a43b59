"""SSH in the engine interface: where and how to connect (`SSHTarget`), and the failure that
front ends catch (`SSHFailure`).

The connecting itself (host keys always checked) is the engine's (`clawtui.engine.sessions.ssh`).
Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

DEFAULT_KEEPALIVE_INTERVAL: Final = 15.0
DEFAULT_KEEPALIVE_COUNT: Final = 3
DEFAULT_CONNECT_TIMEOUT: Final = 10.0


class SSHFailure(Exception):
    """Connecting over SSH failed; the message says why and what to do."""

    retryable = False


@dataclass(frozen=True)
class SSHTarget:
    """Where and how to connect."""

    host: str
    port: int = 22
    username: str = "dev"
    known_hosts: Path = Path("known_hosts")
    identity_files: tuple[Path, ...] = ()
    use_agent: bool = True
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    keepalive_interval: float = DEFAULT_KEEPALIVE_INTERVAL
    keepalive_count: int = DEFAULT_KEEPALIVE_COUNT
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def display(self) -> str:
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"

    @property
    def known_hosts_name(self) -> str:
        """How known_hosts spells this host (`host`, or `[host]:port` off port 22)."""
        return self.display
