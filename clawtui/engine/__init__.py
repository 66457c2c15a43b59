"""The clawtui engine: all state and side effects. Never imports textual or rich."""

from clawtui.engine.api import EngineAPI
from clawtui.engine.core import Engine
from clawtui.engine.models import ContainerInfo, Event, EventKind, HostInfo, HostState

__all__ = ["ContainerInfo", "Engine", "EngineAPI", "Event", "EventKind", "HostInfo", "HostState"]
