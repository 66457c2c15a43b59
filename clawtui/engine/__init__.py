"""The clawtui engine: all state and side effects. Never imports textual or rich.

`Engine` and `EngineAPI` are imported on first use, so a light command (`clawtui attach`) that
needs one engine module does not pay for the whole engine (aiohttp, Docker monitors, ...).
"""

from typing import TYPE_CHECKING, Any

from clawtui.engine.models import ContainerInfo, Event, EventKind, HostInfo, HostState

if TYPE_CHECKING:
    from clawtui.engine.api import EngineAPI
    from clawtui.engine.core import Engine

__all__ = ["ContainerInfo", "Engine", "EngineAPI", "Event", "EventKind", "HostInfo", "HostState"]


def __getattr__(name: str) -> Any:
    if name == "Engine":
        from clawtui.engine.core import Engine

        return Engine
    if name == "EngineAPI":
        from clawtui.engine.api import EngineAPI

        return EngineAPI
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
