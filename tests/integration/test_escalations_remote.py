"""`clawtui --connect`: escalations, incidents and the morning brief through the remote client
(`RemoteEngine.escalations` / `.incidents` / `.briefs`) against a real `clawtui serve` (service
runner in front of a real engine), checked against the engine's store and the thread queue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from clawtui.client.engine import RemoteEngine
from clawtui.config.escalations import BriefConfig, EscalationsConfig
from clawtui.engine.api.escalations import (
    Action,
    Brief,
    BriefAPI,
    Decision,
    Escalation,
    EscalationError,
    EscalationsAPI,
    IncidentError,
    IncidentsAPI,
    LoopState,
    NewEscalation,
    Report,
    Status,
    briefs_of,
    escalations_of,
    incidents_of,
)
from clawtui.engine.api.models import EventKind
from clawtui.engine.core import Engine
from clawtui.engine.threads.queue import IncomingMessage
from clawtui.service.runner import ServiceRunner
from tests.integration.engine_helpers import make_settings, wait_for_event

pytestmark = pytest.mark.integration

TOKEN = "t0ken-for-remote-escalations-0123456789"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Engine, RemoteEngine]]:
    settings = make_settings(tmp_path / "state")
    settings.escalations = EscalationsConfig(stuck_detector=False)
    settings.brief = BriefConfig(enabled=False)
    engine = Engine(settings)
    await engine.start()
    runner = ServiceRunner(engine, settings, token=TOKEN, listen=("127.0.0.1", 0))
    await runner.start()
    remote = RemoteEngine(runner.url, TOKEN)
    await remote.start()
    try:
        await asyncio.wait_for(remote.connected.wait(), 10)
        yield engine, remote
    finally:
        await remote.stop()
        await runner.stop()
        await engine.stop()


def _incoming(engine: Engine, thread: int) -> list[IncomingMessage]:
    msgs = [engine.queue.read(p) for p in engine.queue.files("incoming")]
    return [m for m in msgs if isinstance(m, IncomingMessage) and m.threadId == thread]


async def test_escalations_over_the_remote_client(served: tuple[Engine, RemoteEngine]) -> None:
    engine, remote = served
    escalations: EscalationsAPI | None = escalations_of(remote)
    assert escalations is not None
    sub = remote.subscribe([EventKind.ESCALATION])

    first = await escalations.raise_(
        NewEscalation(agent="peter", thread_id=1, doing="deploy", need="fqdn", proposed_fix="x")
    )
    event = await wait_for_event(sub, lambda e: e.data.get("change") == "raised", 10)
    assert isinstance(event.data["escalation"], Escalation)
    assert event.data["escalation"].id == first.id
    second = await escalations.raise_(
        NewEscalation(agent="maya", thread_id=2, doing="spawn", need="approval")
    )
    third = await escalations.raise_(
        NewEscalation(agent="sam", thread_id=3, doing="rotate", need="a go", proposed_fix="now")
    )
    # What the client got is what the store keeps.
    assert first.status is Status.PENDING and (await engine.escalations.get(first.id)) == first

    listed = await escalations.find()
    assert [e.id for e in listed] == [first.id, second.id, third.id]
    assert await escalations.get(second.id) == await engine.escalations.get(second.id)
    assert await escalations.get(99_999) is None

    approved = await escalations.decide(first.id, Decision(action=Action.APPROVE, by="remote"))
    assert approved.status is Status.APPROVED and approved.delivered_message_id
    assert "APPROVED by remote" in _incoming(engine, 1)[0].message
    skipped = await escalations.decide(second.id, Decision(action=Action.SKIP))
    assert skipped.status is Status.SKIPPED and "SKIPPED" in _incoming(engine, 2)[0].message
    with pytest.raises(EscalationError) as bad:
        await escalations.decide(third.id, Decision(action=Action.MODIFY))
    assert bad.value.status == 400 and "text" in str(bad.value)
    modified = await escalations.decide(
        third.id, Decision(action=Action.MODIFY, text="rotate tomorrow")
    )
    assert modified.status is Status.MODIFIED
    assert "Do this instead: rotate tomorrow" in _incoming(engine, 3)[0].message
    with pytest.raises(EscalationError) as again:
        await escalations.decide(first.id, Decision(action=Action.SKIP))
    assert again.value.status == 409 and "already approved" in str(again.value)
    with pytest.raises(EscalationError) as unknown:
        await escalations.decide(99_999, Decision(action=Action.SKIP))
    assert unknown.value.status == 404

    pending = await escalations.find(status=Status.PENDING)
    assert pending == []
    resolved = await escalations.resolve(first.id, note="shipped")
    assert resolved.status is Status.RESOLVED
    stored = await engine.escalations.get(first.id)
    assert stored is not None and stored.status is Status.RESOLVED


async def test_incidents_and_brief_over_the_remote_client(
    served: tuple[Engine, RemoteEngine],
) -> None:
    engine, remote = served
    incidents: IncidentsAPI | None = incidents_of(remote)
    briefs: BriefAPI | None = briefs_of(remote)
    assert incidents is not None and briefs is not None
    sub = remote.subscribe([EventKind.INCIDENT])
    inc = await engine.incidents.anomaly(
        "staging", "disk:/var", Report(summary="disk /var 91%", recommended_fix="rotate logs")
    )
    event = await wait_for_event(sub, lambda e: e.data.get("change") == "detected", 10)
    assert event.data["incident"] == inc

    assert [i.id for i in await incidents.find(open_only=True)] == [inc.id]
    assert await incidents.get(inc.id) == inc
    assert await incidents.get(99_999) is None
    ready = await incidents.mark_pr_ready(inc.id, "https://git/pr/1")
    assert ready.state is LoopState.PR_READY and ready.pr_url == "https://git/pr/1"
    with pytest.raises(IncidentError) as refused:
        await incidents.mark_pr_ready(inc.id)
    assert refused.value.status == 409

    assert await briefs.latest() is None
    assert await briefs.get("2026-11-23") is None
    preview = await briefs.build()
    assert isinstance(preview, Brief) and preview.needs_human
    assert "BLOCKED:" in preview.text() and "rotate logs" in preview.text()
    with pytest.raises(ValueError, match="isoformat"):
        await briefs.build("yesterday")
    await engine.briefs.run("2026-11-23")
    kept = await briefs.get("2026-11-23")
    assert kept is not None and kept.sent and kept == await briefs.latest()
