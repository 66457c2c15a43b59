"""One event of every kind with the value types the capabilities really publish (ApplyResult,
Escalation, Incident, AutohealOutcome, Brief, IngressRecord, a ThreadStatus dump, ...), for the
tests of the event payloads and of the event stream."""

from __future__ import annotations

import time
from typing import Any

from clawtui.engine.api.escalations import (
    AutohealOutcome,
    Brief,
    Escalation,
    Incident,
    LoopState,
    Report,
    Severity,
)
from clawtui.engine.api.ingress import IngressRecord
from clawtui.engine.api.memory import ApplyResult, BatchState, MemoryPlan
from clawtui.engine.api.models import (
    ActivityEntry,
    ContainerInfo,
    ContainerStats,
    EventKind,
    HostInfo,
    HostState,
)
from clawtui.engine.api.threads import HeartbeatState, ThreadInfo, ThreadStatus


def every_kind(host: str = "elsewhere") -> list[tuple[EventKind, str | None, dict[str, Any]]]:
    """(kind, host, fields) of one event of every kind, in the order they are published."""
    now = time.time()
    container = ContainerInfo(
        id="c0ffee0123456789",
        host=host,
        name="far-away",
        image="alpine:3.20",
        state="running",
        labels={"clawtui.role": "devbox"},
        memory_limit=256 << 20,
        started_at=now - 60,
    )
    thread = ThreadStatus(
        thread=ThreadInfo(id=7, name="seven", cwd="/work/seven"),
        heartbeat=HeartbeatState(liveness="alive", runs=3),
        queue_in=1,
        last_activity=now,
    )
    escalation = Escalation(
        id=11,
        created_at=now,
        updated_at=now,
        agent="builder",
        thread_id=7,
        doing="deploying",
        tried=["retry"],
        need="a token",
        severity=Severity.HIGH,
    )
    incident = Incident(
        id=5,
        opened_at=now - 10,
        updated_at=now,
        monitor="api",
        signal="5xx",
        state=LoopState.DETECTED,
        severity="high",
        summary="the API answers 502",
        report=Report(summary="the API answers 502", evidence=["502 x 40"]),
    )
    return [
        (
            EventKind.HOST,
            host,
            {"info": HostInfo(name=host, url="tcp://far:2375", state=HostState.ONLINE, ncpu=4)},
        ),
        (EventKind.CONTAINER, host, {"container": container}),
        (
            EventKind.STATS,
            host,
            {
                "stats": {
                    container.id: ContainerStats(
                        cpu_percent=12.5,
                        mem_used=100 << 20,
                        mem_limit=256 << 20,
                        pids=9,
                        sampled_at=now,
                    )
                }
            },
        ),
        (EventKind.CONTAINER_REMOVED, host, {"id": container.id, "name": container.name}),
        (EventKind.LOG, host, {"entry": ActivityEntry(ts=now, host=host, message="hello")}),
        (
            EventKind.MEMORY,
            host,
            {
                "result": ApplyResult(
                    batch_id="b-1",
                    who="tester",
                    state=BatchState.APPLIED,
                    plan=MemoryPlan(ok=True, who="tester", planned_at=now),
                    started_at=now,
                    seconds=0.25,
                )
            },
        ),
        (EventKind.THREAD, None, {"thread": thread.model_dump(mode="json")}),
        (
            EventKind.HEARTBEAT,
            None,
            {
                "thread_id": 7,
                "action": "ran",
                "tiers": ["quick"],
                "ok": True,
                "reply": "HEARTBEAT_OK",
            },
        ),
        (EventKind.KB, None, {"action": "report", "thread_id": 7, "committed": True}),
        (
            EventKind.POOL,
            host,
            {
                "pool": "agents",
                "action": "claimed",
                "tenant": "alice",
                "container": "agents-1",
                "source": "warm",
            },
        ),
        (
            EventKind.SYNC,
            host,
            {
                "tenant": "alice",
                "pool": "agents",
                "mapping": "home",
                "direction": "in",
                "phase": "finished",
                "status": "ok",
                "bytes": 1234,
                "duration": 0.5,
                "error": None,
            },
        ),
        (EventKind.ESCALATION, None, {"escalation": escalation, "change": "raised"}),
        (EventKind.INCIDENT, None, {"incident": incident, "change": "opened"}),
        (
            EventKind.INCIDENT,
            None,
            {
                "autoheal": AutohealOutcome(
                    path="/etc/app.json",
                    ok=True,
                    action="restored",
                    restored_from="/b/app.json",
                    ts=now,
                ),
                "change": "autoheal",
            },
        ),
        (
            EventKind.BRIEF,
            None,
            {"brief": Brief(day="2026-12-03", created_at=now, happening=["seven: deploying"])},
        ),
        (
            EventKind.INGRESS,
            None,
            {
                "record": IngressRecord(
                    ts=now,
                    kind="webhook",
                    result="accepted",
                    status=202,
                    summary="PR 12",
                    thread_id=7,
                )
            },
        ),
        (
            EventKind.TMUX,
            host,
            {
                "target": "far-away",
                "key": f"{host}/{container.id}",
                "action": "run",
                "session": "main",
                "window": "build",
            },
        ),
        (
            EventKind.TMUX,
            None,
            {"action": "broadcast", "targets": ["a", "b"], "ok": 2, "session": "main"},
        ),
    ]
