"""The one engine interface the front ends talk to: protocols (`protocols`) and value types.

Front ends (TUI, service, remote client, CLI) import only this package and its modules, never a
capability package (import-linter contracts in pyproject.toml). Names are resolved on first use,
so importing the interface does not import pydantic models nobody asked for.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clawtui.engine.api.models import (
        ActivityEntry,
        ContainerInfo,
        ContainerStats,
        Event,
        EventKind,
        HostInfo,
        HostMemory,
        HostState,
    )
    from clawtui.engine.api.protocols import (
        ContainerActionsAPI,
        DevboxesAPI,
        EngineAPI,
        IngressAPI,
        MemoryAPI,
        PoolsAPI,
        ThreadsAPI,
        TmuxAPI,
        actions_of,
        devboxes_of,
        ingress_of,
        memory_of,
        pools_of,
        threads_of,
        tmux_of,
    )

__all__ = [
    "ActivityEntry",
    "ContainerActionsAPI",
    "ContainerInfo",
    "ContainerStats",
    "DevboxesAPI",
    "EngineAPI",
    "Event",
    "EventKind",
    "HostInfo",
    "HostMemory",
    "HostState",
    "IngressAPI",
    "MemoryAPI",
    "PoolsAPI",
    "ThreadsAPI",
    "TmuxAPI",
    "actions_of",
    "devboxes_of",
    "ingress_of",
    "memory_of",
    "pools_of",
    "threads_of",
    "tmux_of",
]

_HOME = dict.fromkeys(
    (
        "ActivityEntry",
        "ContainerInfo",
        "ContainerStats",
        "Event",
        "EventKind",
        "HostInfo",
        "HostMemory",
        "HostState",
    ),
    "models",
) | dict.fromkeys(
    (
        "ContainerActionsAPI",
        "DevboxesAPI",
        "EngineAPI",
        "IngressAPI",
        "MemoryAPI",
        "PoolsAPI",
        "ThreadsAPI",
        "TmuxAPI",
        "actions_of",
        "devboxes_of",
        "ingress_of",
        "memory_of",
        "pools_of",
        "threads_of",
        "tmux_of",
    ),
    "protocols",
)


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"clawtui.engine.api.{module}"), name)
