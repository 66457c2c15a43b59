"""The TinyClaw heartbeat runner and its prompt builder, against a real queue folder.

`StandInTinyClaw` below is a stand-in for TinyClaw's queue processor, written from
lucianHymer/tinyclaw @ b64de8c `src/queue-processor.ts`: it takes each `*.json` of
`queue/incoming`, renames it into `queue/processing`, and for a `source: "heartbeat"` message
either deletes it without a reply when the answer contains `[NO_UPDATES]`, or writes the
`OutgoingMessage` to `queue/outgoing/<messageId>.json` (channel "heartbeat": that name) through a
`.tmp` file and a rename, then removes the processing file; "fail" moves it to dead-letter as
`<ms>_<file name>`.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from clawtui.config.threads import ThreadEntry, ThreadsConfig
from clawtui.engine.heartbeats import md as hb
from clawtui.engine.heartbeats.runner import BeatTarget
from clawtui.engine.heartbeats.tinyclaw_runner import (
    TinyClawOutcome,
    TinyClawRunner,
    build_tinyclaw_prompt,
)
from clawtui.engine.threads.queue import TinyClawQueue

NOW = datetime(2026, 2, 11, 10, 5, tzinfo=UTC).timestamp()


class StandInTinyClaw:
    """Stand-in for TinyClaw's queue processor (see the module docstring)."""

    def __init__(self, home: Path, answer: str) -> None:
        self.queue = home / "queue"
        self.answer = answer
        self.seen: list[dict[str, Any]] = []
        self.stop = asyncio.Event()

    def step(self) -> None:
        for path in sorted((self.queue / "incoming").glob("*.json")):
            processing = self.queue / "processing" / path.name
            path.rename(processing)
            msg = json.loads(processing.read_text())
            self.seen.append(msg)
            if self.answer == "fail":
                dead = self.queue / "dead-letter" / f"{int(time.time() * 1000)}_{path.name}"
                processing.rename(dead)
                continue
            if msg.get("source") == "heartbeat" and "[NO_UPDATES]" in self.answer:
                processing.unlink()
                continue
            reply = {
                "channel": msg["channel"],
                "threadId": msg["threadId"],
                "sender": msg["sender"],
                "message": self.answer,
                "originalMessage": msg["message"],
                "timestamp": int(time.time() * 1000),
                "messageId": msg["messageId"],
                "model": "haiku",
            }
            out = self.queue / "outgoing" / f"{msg['messageId']}.json"
            tmp = out.with_name(out.name + ".tmp")
            tmp.write_text(json.dumps(reply, indent=2))
            tmp.rename(out)
            processing.unlink()

    async def run(self) -> None:
        while not self.stop.is_set():
            self.step()
            await asyncio.sleep(0.02)


@pytest.fixture
def queue(tmp_path: Path) -> TinyClawQueue:
    q = TinyClawQueue(tmp_path / "home")
    q.ensure()
    return q


def target() -> BeatTarget:
    return BeatTarget(thread_id=2, name="api", cwd=Path("/w"), master_id=1, threads=["1: m"])


async def beat(queue: TinyClawQueue, answer: str | None, timeout: float = 10.0) -> Any:
    runner = TinyClawRunner(queue, timeout=timeout, poll=0.02)
    doc = hb.parse(hb.TEMPLATE)
    if answer is None:
        return await runner.run(target(), ["quick"], doc, NOW), None
    agent = StandInTinyClaw(queue.home, answer)
    task = asyncio.create_task(agent.run())
    try:
        outcome = await runner.run(target(), ["quick", "hourly"], doc, NOW)
    finally:
        agent.stop.set()
        await task
    return outcome, agent


async def test_findings_reply_is_read_from_outgoing_and_left_there(queue: TinyClawQueue) -> None:
    outcome, agent = await beat(queue, "- 2 uncommitted files\n- CI failing on main")
    assert isinstance(outcome, TinyClawOutcome)
    assert not outcome.ok and outcome.in_outgoing
    assert outcome.reply == "- 2 uncommitted files\n- CI failing on main"
    # the message, with heartbeat-cron.sh's fields
    [msg] = agent.seen
    assert {k: msg[k] for k in ("channel", "source", "threadId", "sender", "senderId")} == {
        "channel": "heartbeat",
        "source": "heartbeat",
        "threadId": 2,
        "sender": "system",
        "senderId": "heartbeat",
    }
    assert msg["isReply"] is False and isinstance(msg["timestamp"], int)
    assert msg["messageId"].startswith("heartbeat_2_") and msg["messageId"] == outcome.message_id
    assert "Checks due now: quick, hourly." in msg["message"]
    assert [p.name for p in queue.files("outgoing")] == [f"{outcome.message_id}.json"]


@pytest.mark.parametrize("answer", ["HEARTBEAT_OK", "all quiet [NO_UPDATES]"])
async def test_ok_replies_are_silent(queue: TinyClawQueue, answer: str) -> None:
    outcome, agent = await beat(queue, answer)
    assert outcome.ok and outcome.findings == []
    assert len(agent.seen) == 1
    assert list(queue.files("outgoing")) == []  # nothing left for TinyClaw's channels
    assert list(queue.files("incoming")) == [] and list(queue.files("processing")) == []


async def test_dead_letter_is_a_failure(queue: TinyClawQueue) -> None:
    outcome, _ = await beat(queue, "fail")
    assert not outcome.ok and "dead-letter" in outcome.reply


async def test_no_reply_times_out_and_takes_the_message_back(queue: TinyClawQueue) -> None:
    outcome, _ = await beat(queue, None, timeout=0.2)
    assert not outcome.ok and "no heartbeat reply" in outcome.reply
    assert "taken back" in outcome.reply
    assert list(queue.files("incoming")) == []


def test_prompt_is_tier_aware() -> None:
    doc = hb.set_timestamps(hb.parse(hb.TEMPLATE), {"quick": datetime.fromtimestamp(NOW, UTC)})
    quick = build_tinyclaw_prompt(target(), ["quick"], doc, NOW, "UTC")
    assert "Checks due now: quick." in quick
    assert "Hourly:" not in quick and "Daily:" not in quick
    assert "quick 2026-02-11T10:05:00Z, hourly (never), daily (never)" in quick
    assert "Open tasks: Example task" in quick
    assert quick.rstrip().endswith("reply with exactly [NO_UPDATES].")
    daily = build_tinyclaw_prompt(target(), ["quick", "hourly", "daily"], None, NOW, "UTC")
    assert "Hourly:" in daily and "Daily:" in daily
    assert "(threadId: 1)" in daily and "Active threads: 1: m" in daily
    assert "timestamps now" not in daily


async def test_threads_route_the_reply_once(tmp_path: Path) -> None:
    """Through the threads capability: findings notified once, not written to outgoing twice;
    the HEARTBEAT.md stamps of the beat are set."""
    from clawtui.engine.core import Engine
    from tests.integration.engine_helpers import make_settings

    cwd = tmp_path / "w"
    cwd.mkdir()
    settings = make_settings(tmp_path / "state")
    settings.threads = ThreadsConfig(
        home=tmp_path / "home",
        threads=[ThreadEntry(id=2, name="api", cwd=cwd)],
        runner="tinyclaw",
        tinyclaw_timeout=10,
        heartbeat=False,
    )
    engine = Engine(settings)
    queue = engine.queue
    queue.ensure()
    sent: list[str] = []
    engine.threads.notifier.notify = lambda n: sent.append(n.text)  # type: ignore[method-assign]
    assert isinstance(engine.threads.runner, TinyClawRunner)
    agent = StandInTinyClaw(queue.home, "- branch behind main")
    task = asyncio.create_task(agent.run())
    try:
        await engine.threads.run_beat(2)
    finally:
        agent.stop.set()
        await task
    assert len(list(queue.files("outgoing"))) == 1
    assert len(sent) == 1 and "branch behind main" in sent[0]
    assert hb.read(cwd / "HEARTBEAT.md").timestamps["daily"] is not None
