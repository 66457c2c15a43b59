"""Typed results of the MCP tools that are not one of the interface's own models."""

from __future__ import annotations

from pydantic import BaseModel, Field

from clawtui.engine.api.devboxes import DevboxInfo
from clawtui.engine.api.escalations import Escalation, Incident
from clawtui.engine.api.models import HostInfo
from clawtui.engine.api.pools import ClaimInfo, PoolStatus
from clawtui.engine.api.threads import ThreadStatus


class ContainerRow(BaseModel):
    key: str = Field(description="HOST/ID: what container_status and tmux tools take.")
    host: str
    name: str
    image: str
    state: str
    status: str = ""
    role: str | None = None
    memory_limit: int = 0
    cpu_percent: float | None = None
    memory_usage: int | None = None


class FleetStatus(BaseModel):
    hosts: list[HostInfo]
    containers: list[ContainerRow]


class ThreadList(BaseModel):
    threads: list[ThreadStatus]


class Queued(BaseModel):
    thread_id: int
    queued: bool = True


class EscalationList(BaseModel):
    escalations: list[Escalation]


class IncidentList(BaseModel):
    incidents: list[Incident]


class BriefView(BaseModel):
    day: str
    text: str
    needs_human: bool


class PoolList(BaseModel):
    pools: list[PoolStatus]
    tenants: list[ClaimInfo]


class DevboxList(BaseModel):
    devboxes: list[DevboxInfo]


class TmuxStarted(BaseModel):
    container: str
    session: str


class RelaySent(BaseModel):
    sender: str
    to: str
    thread_id: int
    message_id: str
