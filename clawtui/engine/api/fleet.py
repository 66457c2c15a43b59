"""Container actions in the engine interface: the protocol (`ContainerActionsAPI`, `actions_of`)
and the errors its verbs raise. Pure: no I/O; the verbs are the engine's (`engine.fleet.actions`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from clawtui.engine.api.protocols import EngineAPI


class ActionError(Exception):
    """An action could not be done; the message says why, in words for a person."""


class UnknownContainer(ActionError):
    """The key names no container the engine knows."""


class ContainerActionsAPI(Protocol):
    """Lifecycle verbs and logs of containers the engine knows, by key (`host/id`).

    Every method raises an exception whose message is meant for a person (the engine's
    `ActionError`) when the key is unknown, the host is offline or Docker refuses.
    """

    async def start(self, key: str) -> None: ...

    async def stop(self, key: str, *, timeout: int = 10) -> None: ...

    async def restart(self, key: str, *, timeout: int = 10) -> None: ...

    async def remove(self, key: str, *, force: bool = False, volumes: bool = False) -> None: ...

    def logs(self, key: str, *, tail: int | None = 100, follow: bool = False) -> AsyncIterator[str]:
        """Log lines (stdout and stderr): the last `tail`, then new ones while `follow`."""
        ...


def actions_of(engine: EngineAPI) -> ContainerActionsAPI | None:
    """The engine's container actions, or None when it has none."""
    actions: ContainerActionsAPI | None = getattr(engine, "actions", None)
    return actions
