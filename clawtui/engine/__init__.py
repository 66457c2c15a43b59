"""The clawtui engine: all state and side effects. Never imports textual or rich.

Everything here is imported on first use, so a light command (`clawtui attach`) that needs one
engine module does not pay for the whole engine (pydantic models, aiohttp, Docker monitors).
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clawtui.engine.api.models import ContainerInfo, Event, EventKind, HostInfo, HostState
    from clawtui.engine.api.protocols import EngineAPI
    from clawtui.engine.core import Engine

__all__ = ["ContainerInfo", "Engine", "EngineAPI", "Event", "EventKind", "HostInfo", "HostState"]
_HOME = {"Engine": "core", "EngineAPI": "api.protocols"} | dict.fromkeys(
    ("ContainerInfo", "Event", "EventKind", "HostInfo", "HostState"), "api.models"
)


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"clawtui.engine.{module}"), name)
