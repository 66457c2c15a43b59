"""The stuck protocol over real TinyClaw queue files: a thread given work and silent for longer
than `stuck_after` escalates once; its reply resolves the escalation."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from clawtui.config import EngineConfig, Settings
from clawtui.config.escalations import EscalationsConfig
from clawtui.engine.api.escalations import Source, Status
from clawtui.engine.core import Engine
from clawtui.engine.stuck.detector import QueueActivity
from clawtui.engine.threads.queue import IncomingMessage, OutgoingMessage


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    eng = Engine(
        Settings(
            engine=EngineConfig(state_dir=tmp_path),
            escalations=EscalationsConfig(stuck_after=3600),
        )
    )
    await asyncio.to_thread(eng.store.open)
    eng.queue.ensure()
    yield eng
    await eng.notifier.aclose()
    await asyncio.to_thread(eng.store.close)


def _ms(ts: float) -> int:
    return int(ts * 1000)


async def test_stuck_thread_escalates_once_and_resolves_on_progress(engine: Engine) -> None:
    now = time.time()
    (engine.queue.home / "threads.json").write_text(
        json.dumps({"threads": {"5": {"name": "peter"}}})
    )
    engine.queue.write(
        "incoming",
        IncomingMessage(
            channel="telegram",
            threadId=5,
            sender="jan",
            message="deploy api v2.1",
            timestamp=_ms(now - 2 * 3600),
        ),
    )
    engine.queue.write(
        "incoming",
        IncomingMessage(
            channel="telegram",
            threadId=6,
            sender="jan",
            message="fresh work",
            timestamp=_ms(now - 60),
        ),
    )
    engine.queue.write(
        "incoming",
        IncomingMessage(
            channel="x", threadId=7, sender="j", message="old", timestamp=_ms(now - 3 * 3600)
        ),
    )
    engine.queue.write(
        "outgoing",
        OutgoingMessage(
            channel="x", threadId=7, sender="sam", message="done", timestamp=_ms(now - 3 * 3600 + 5)
        ),
    )
    (engine.queue.folder("incoming") / "junk.json").write_text("{not a message")

    raised = await engine.stuck.check_once(now)
    assert len(raised) == 1
    esc = await engine.escalations.get(raised[0])
    assert esc is not None
    assert esc.agent == "peter" and esc.thread_id == 5 and esc.source is Source.STUCK
    assert esc.doing == "deploy api v2.1"
    assert esc.tried == ["no reply for 120 min since the task arrived"]
    assert await engine.stuck.check_once(now + 60) == raised  # one escalation per episode
    assert len(await engine.escalations.find(status=Status.PENDING)) == 1

    engine.queue.write(
        "outgoing",
        OutgoingMessage(
            channel="telegram",
            threadId=5,
            sender="peter",
            message="deployed",
            timestamp=_ms(now + 120),
        ),
    )
    assert await engine.stuck.check_once(now + 180) == []
    done = await engine.escalations.get(raised[0])
    assert done is not None and done.status is Status.RESOLVED


async def test_queue_activity_reads_last_in_and_out(engine: Engine) -> None:
    engine.queue.write(
        "incoming",
        IncomingMessage(channel="x", threadId=1, sender="a", message="task", timestamp=1000),
    )
    engine.queue.write(
        "outgoing",
        OutgoingMessage(channel="x", threadId=1, sender="m2", message="working", timestamp=2000),
    )
    [act] = QueueActivity(engine.queue).scan()
    assert act.thread_id == 1 and act.agent == "m2"
    assert act.last_in == 1.0 and act.last_out == 2.0 and act.waiting_since is None


async def test_threads_activity_names_idle_threads_and_counts_last_active(engine: Engine) -> None:
    """With engine.threads: TinyClaw's own threads.json shape, an idle thread is listed, and
    `lastActive` (set by TinyClaw when the agent finished a message, after it deleted the
    processed queue file) counts as progress."""
    now = time.time()
    (engine.queue.home / "threads.json").write_text(
        json.dumps(
            {
                "1": {"name": "master", "cwd": "/w", "isMaster": True, "model": "sonnet"},
                "7": {"name": "ryan", "cwd": "/r", "model": "haiku", "lastActive": _ms(now - 60)},
            }
        )
    )
    engine.threads.reload()
    engine.queue.write(
        "incoming",
        IncomingMessage(
            channel="telegram", threadId=7, sender="jan", message="fix the build",
            timestamp=_ms(now - 2 * 3600),
        ),
    )  # fmt: skip
    acts = {a.thread_id: a for a in await engine.stuck.provider.activity()}
    assert acts[1].agent == "master" and acts[1].waiting_since is None
    assert acts[7].agent == "ryan" and acts[7].last_out == pytest.approx(now - 60, abs=1)
    assert acts[7].waiting_since is None  # it answered after the task arrived
    assert await engine.stuck.check_once(now + 3 * 3600) == []
    # The queue alone would call it stuck: the processed file is gone, the reply was not queued.
    only_queue = {a.thread_id: a for a in await QueueActivity(engine.queue).activity()}
    assert only_queue[7].waiting_since is not None
