"""Dev boxes in the engine interface: the value types (`DevboxInfo`, `DevboxStatus`), how a
container's labels make one, and the protocol (`DevboxesAPI`, `devboxes_of`).

Names, labels, keys and ports are checked with `clawtui.engine.api.devbox_checks`. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, ConfigDict, Field

from clawtui.engine.api.devbox_checks import LABEL_OWNER, LABEL_PORT, ROLE, int_port, volume_name
from clawtui.engine.api.models import ContainerInfo

if TYPE_CHECKING:
    from clawtui.engine.api.protocols import EngineAPI

Progress = Callable[[str], None]
"""Receives one line of progress at a time (build output, steps), on the event loop thread."""


class DevboxInfo(BaseModel):
    """One dev box as the engine knows it."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    name: str = Field(description="The dev box name (label clawtui.owner).")
    host: str
    key: str = Field(description="Container key, HOST/ID.")
    container: str = Field(description="Container name, dev-NAME.")
    state: str
    status: str = ""
    port: int | None = Field(None, description="Host port of its sshd (label).")
    memory_limit: int = Field(0, description="Bytes; 0 = unlimited.")
    cpus: float = Field(0.0, description="CPU limit; 0 = unlimited.")
    image: str = ""
    created: float = 0.0
    home_volume: str = ""

    @property
    def running(self) -> bool:
        return self.state == "running"


class DevboxStatus(BaseModel):
    """Summary of all dev boxes (the coordinator's `status`)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    total: int
    running: int
    stopped: int
    memory_limit_total: int = Field(description="Sum of memory limits of all dev boxes, bytes.")
    memory_limit_running: int = Field(description="Sum of memory limits of running ones, bytes.")


def devbox_info(c: ContainerInfo) -> DevboxInfo:
    """The dev box `c` is (its labels say which), as the engine reports it."""
    owner = c.labels.get(LABEL_OWNER, "")
    return DevboxInfo(
        name=owner or c.name.removeprefix("dev-"),
        host=c.host,
        key=c.key,
        container=c.name,
        state=c.state,
        status=c.status,
        port=int_port(c.labels.get(LABEL_PORT)),
        memory_limit=c.memory_limit,
        cpus=round(c.nano_cpus / 1e9, 3),
        image=c.image,
        created=c.created,
        home_volume=volume_name(owner) if owner else "",
    )


def devboxes_in(
    containers: Iterable[ContainerInfo], *, labels: Mapping[str, str] | None = None
) -> list[DevboxInfo]:
    """The dev boxes among `containers` (label `clawtui.role=devbox`), by host and name; with
    `labels`, only those carrying all of them."""
    want = dict(labels or {})
    out = [
        devbox_info(c)
        for c in containers
        if c.role == ROLE and all(c.labels.get(k) == v for k, v in want.items())
    ]
    out.sort(key=lambda d: (d.host, d.name))
    return out


class DevboxesAPI(Protocol):
    """Create and remove dev boxes (containers labelled `clawtui.role=devbox`)."""

    async def create(
        self,
        name: str,
        pubkey_text: str,
        *,
        memory: int | str | None = None,
        cpus: float | None = None,
        port: int | None = None,
        host: str | None = None,
        sudo: bool = False,
        progress: Progress | None = None,
    ) -> DevboxInfo:
        """Create and start one; `progress` gets lines (build steps, waiting for sshd)."""
        ...

    async def remove(self, name: str, *, keep_home: bool = False, host: str | None = None) -> str:
        """Remove one (and its home volume unless `keep_home`); what was done, in words."""
        ...

    def ssh_command(self, box: DevboxInfo) -> str:
        """The command a developer types to reach the dev box."""
        ...


def devboxes_of(engine: EngineAPI) -> DevboxesAPI | None:
    """The engine's dev boxes, or None when it has none."""
    devboxes: DevboxesAPI | None = getattr(engine, "devboxes", None)
    return devboxes
