"""clawtui against the real TinyClaw's formats (lucianHymer/tinyclaw b64de8c).

Fixtures in tests/fixtures/tinyclaw/ (each names commit and path):
- `HEARTBEAT.template.md`: the template `buildHeartbeatPrompt` (src/session-manager.ts) tells
  agents to create; its Urgent Flags placeholder is no flag, its tier sections have tasks.
- `send_message_outgoing.json`: what the `send_message` MCP tool (src/mcp-tools.ts) writes to
  queue/outgoing: no threadId. TinyClaw's Telegram client deletes it about a second later, so
  the engine reads it from the watch event (a real watchfiles watcher below).
Also: the `.borg` / `.tinyclaw` home, the queue files' mode and owner, and the check that
TinyClaw's user can read them.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from clawtui.config import EngineConfig, Settings
from clawtui.config.interop import interop_warnings, queue_access_problem
from clawtui.config.threads import ThreadsConfig
from clawtui.engine.api.models import EventKind
from clawtui.engine.api.threads import OutgoingMessage
from clawtui.engine.core import Engine
from clawtui.engine.heartbeats import md as hbmd
from clawtui.engine.threads.queue import TinyClawQueue

FIXTURES = Path(__file__).parent.parent / "fixtures" / "tinyclaw"


def template() -> str:
    return (FIXTURES / "HEARTBEAT.template.md").read_text().split("\n", 1)[1]


def send_message_file() -> dict[str, object]:
    text = "\n".join(
        ln for ln in (FIXTURES / "send_message_outgoing.json").read_text().splitlines()
        if not ln.startswith("//")
    )  # fmt: skip
    data = json.loads(text)
    assert isinstance(data, dict) and "threadId" not in data
    return data


def test_tinyclaw_template_parses_without_urgent_flags_and_with_tiers() -> None:
    doc = hbmd.parse(template())
    assert doc.urgent_flags == []
    assert doc.problems == []
    assert [len(doc.tier_tasks(t)) for t in ("quick", "hourly", "daily")] == [2, 4, 6]
    assert doc.tier_tasks("quick")[0].text.startswith("Run `git status`")
    assert doc.timestamps == {"quick": None, "hourly": None, "daily": None}
    assert template() == hbmd.TINYCLAW_TEMPLATE
    # a real flag next to the placeholder still counts; the placeholder never does
    flagged = template().replace(
        "(none — flag anything needing human attention here)\n",
        "(none — flag anything needing human attention here)\n- CI red on main\n",
    )
    assert hbmd.parse(flagged).urgent_flags == ["CI red on main"]
    # timestamps written into TinyClaw's file leave its tier headings as they were
    stamped = hbmd.set_timestamps(doc, {"quick": hbmd.parse_timestamp("2026-05-01T10:00:00Z")})  # type: ignore[dict-item]
    assert b"## Quick Tasks (every heartbeat)\n" in hbmd.render(stamped)


def tinyclaw_home(root: Path, cwd: Path) -> Path:
    """A TinyClaw checkout as of b64de8c: `.borg/threads.json` (session-manager.ts ThreadConfig)."""
    home = root / ".borg"
    (home / "queue" / "outgoing").mkdir(parents=True)
    (home / "queue" / "incoming").mkdir(parents=True)
    threads = {
        "1": {"name": "Master", "cwd": str(cwd / "master"), "model": "sonnet",
              "isMaster": True, "lastActive": 0},
        "3": {"name": "api", "cwd": str(cwd / "api"), "model": "haiku",
              "isMaster": False, "lastActive": 0},
    }  # fmt: skip
    (home / "threads.json").write_text(json.dumps(threads))
    for sub in ("master", "api"):
        (cwd / sub).mkdir(parents=True)
    return home


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    tinyclaw_home(tmp_path / "tinyclaw", tmp_path / "work")
    settings = Settings(
        engine=EngineConfig(state_dir=tmp_path / "state"),
        # the checkout, not its .borg: the home is found inside it
        threads=ThreadsConfig(home=tmp_path / "tinyclaw", heartbeat=False),
    )
    eng = Engine(settings)
    eng.bus.bind(asyncio.get_running_loop())
    await asyncio.to_thread(eng.store.open)
    yield eng
    await eng.notifier.aclose()
    await asyncio.to_thread(eng.store.close)


async def test_checkout_home_and_heartbeat_template(engine: Engine, tmp_path: Path) -> None:
    assert engine.queue.home == tmp_path / "tinyclaw" / ".borg"
    assert engine.threads.ids() == [1, 3]
    await engine.threads.run_beat(3)
    written = (tmp_path / "work" / "api" / "HEARTBEAT.md").read_text()
    doc = hbmd.parse(written)
    assert [len(doc.tier_tasks(t)) for t in ("quick", "hourly", "daily")] == [2, 4, 6]
    assert doc.timestamps["quick"] is not None  # the beat stamped TinyClaw's own file
    assert written.split("## Urgent Flags", 1)[1] == template().split("## Urgent Flags", 1)[1]
    assert engine.threads.status(3).heartbeat.urgent_flags == []


def test_old_tinyclaw_home_is_found(tmp_path: Path) -> None:
    (tmp_path / ".tinyclaw" / "queue").mkdir(parents=True)
    cfg = ThreadsConfig(home=tmp_path)
    assert cfg.resolved_home(tmp_path / "state") == tmp_path / ".tinyclaw"
    (tmp_path / ".borg").mkdir()
    assert cfg.resolved_home(tmp_path / "state") == tmp_path / ".borg"
    assert ThreadsConfig(home=tmp_path / ".tinyclaw").resolved_home(tmp_path) == (
        tmp_path / ".tinyclaw"
    )


def test_send_message_file_is_read_as_the_senders_reply(tmp_path: Path) -> None:
    q = TinyClawQueue(tmp_path)
    q.ensure()
    q.thread_names = {"Master": 1, "api": 3}
    path = q.folder("outgoing") / "cross_1780000000000_k3x9_tg.json"
    path.write_text(json.dumps(send_message_file(), separators=(",", ":")))
    msg = q.read(path, OutgoingMessage)
    assert isinstance(msg, OutgoingMessage)
    assert (msg.threadId, msg.targetThreadId, msg.sender) == (3, 1, "api")
    assert q.depths() == {3: (0, 1)}
    assert q.last_message_ms() == {3: 1_780_000_000_000}
    # a sender TinyClaw names "Thread N" (not in threads.json) is thread N; unknown: the target
    q.thread_names = {}
    path.write_text(json.dumps({**send_message_file(), "sender": "Thread 9"}))
    assert q.read(path, OutgoingMessage).threadId == 9
    path.write_text(json.dumps({**send_message_file(), "sender": "someone"}))
    assert q.read(path, OutgoingMessage).threadId == 1


async def watcher_ready(engine: Engine, folder: Path) -> None:
    """Touch a probe file until the watcher reports a change (it starts asynchronously)."""
    for attempt in range(200):
        before = engine.threads.watch_events
        (folder / f"probe_{attempt}.json").write_text("{}")
        for _ in range(50):
            await asyncio.sleep(0.01)
            if engine.threads.watch_events > before:
                return
    raise AssertionError("the threads watcher never reported a change")


async def test_send_message_reply_seen_by_the_watcher_before_telegram_deletes_it(
    engine: Engine, tmp_path: Path
) -> None:
    """The real watcher: the file is written as TinyClaw writes it (`.json.tmp`, rename) and
    deleted right after the event, as its Telegram client does; the reply still counts."""
    await engine.threads.start()
    try:
        outgoing = engine.queue.folder("outgoing")
        await watcher_ready(engine, outgoing)
        sub = engine.subscribe([EventKind.THREAD])
        data = send_message_file()
        data["timestamp"] = 1_790_000_000_000  # newer than anything else in the test
        tmp = outgoing / "cross_1790000000000_k3x9_tg.json.tmp"
        tmp.write_text(json.dumps(data))
        tmp.rename(outgoing / "cross_1790000000000_k3x9_tg.json")
        while True:
            event = await asyncio.wait_for(sub.get(), 20)
            thread = event.data.get("thread")
            if isinstance(thread, dict) and (thread["thread"]["id"], thread["last_activity"]) == (
                3,
                1_790_000_000.0,
            ):
                break
        (outgoing / "cross_1790000000000_k3x9_tg.json").unlink()  # Telegram client's unlink
        detail = await engine.threads.detail(3)
        assert [m.message for m in detail.outgoing] == ["Daily report: merged #12, CI green"]
        engine.threads.scan()
        assert engine.threads.status(3).last_activity == 1_790_000_000.0  # survives the unlink
    finally:
        await engine.threads.stop()


def test_queue_file_mode_and_owner(tmp_path: Path) -> None:
    me = (os.geteuid(), os.getegid())
    q = TinyClawQueue(tmp_path, mode=0o644, owner=me)
    q.ensure()
    msg = q.deliver(3, "hi")
    st = (q.folder("incoming") / f"{msg.messageId}.json").stat()
    assert stat.S_IMODE(st.st_mode) == 0o644 and (st.st_uid, st.st_gid) == me
    cfg = ThreadsConfig(queue_file_mode="0640", queue_file_owner="1000:1000")
    assert (cfg.queue_file_mode, cfg.queue_file_owner) == (0o640, (1000, 1000))
    assert ThreadsConfig(queue_consumer=1000).queue_consumer == (1000, 1000)
    with pytest.raises(ValueError, match="octal file mode"):
        ThreadsConfig(queue_file_mode="rw-r-----")


def test_unreadable_queue_files_are_reported(tmp_path: Path) -> None:
    home = tmp_path / ".borg"
    home.mkdir()
    # clawtui as uid 2000:2000 writing 0640 files; TinyClaw's container runs as 1000
    cfg = ThreadsConfig(home=home, queue_consumer="1000:1000")
    problem = queue_access_problem(cfg, home, uid=2000, gid=2000)
    assert problem and "cannot read them" in problem and '"1000:1000"' in problem
    assert queue_access_problem(cfg.model_copy(update={"queue_file_mode": 0o644}), home,
                                uid=2000, gid=2000) is None  # fmt: skip
    shared_gid = ThreadsConfig(home=home, queue_consumer="1000:2000")
    assert queue_access_problem(shared_gid, home, uid=2000, gid=2000) is None
    owned = ThreadsConfig(home=home, queue_consumer="1000", queue_file_owner="1000:1000")
    assert queue_access_problem(owned, home, uid=0, gid=0) is None
    chown_refused = queue_access_problem(owned, home, uid=2000, gid=2000)
    assert chown_refused and "cannot give its queue files to uid 1000" in chown_refused
    # default consumer: the owner of the home folder (here: this process, so readable)
    assert queue_access_problem(ThreadsConfig(home=home), home) is None
    settings = Settings(threads=cfg)
    if os.geteuid() not in (0, 1000):
        assert [w.key for w in interop_warnings(settings)] == ["threads.queue_file_mode"]
