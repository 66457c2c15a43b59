"""Threads against real git repos with an origin, real files, a started engine and its API.

Each repo is a clone of a bare origin in a temp dir. The built-in runner's findings are checked
for clean, dirty, behind, conflicting and stale cases, with HEARTBEAT.md timestamps updated in
place; a daily report reaches the master thread and the knowledge base; the watcher turns a
HEARTBEAT.md or queue change into a THREAD event; the REST routes serve the same view.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from clawtui.config.threads import ThreadEntry, ThreadsConfig
from clawtui.engine.api.models import Event, EventKind
from clawtui.engine.api.protocols import Subscription
from clawtui.engine.core import Engine
from clawtui.engine.heartbeats import md as hb
from clawtui.engine.kb import knowledge as kb
from clawtui.service.runner import ServiceRunner
from tests.integration.engine_helpers import make_settings, wait_for_event, wait_until

pytestmark = pytest.mark.integration

ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
}
TOKEN = "t0ken-for-tests-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def git(cwd: Path, *args: str, **env: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, env={**ENV, **env}, check=True, capture_output=True, text=True
    ).stdout


def make_repo(root: Path, name: str) -> tuple[Path, Path]:
    """A bare origin with one commit on main, and a clone of it."""
    origin = root / f"{name}-origin.git"
    git(root, "init", "-q", "--bare", "-b", "main", str(origin))
    seed = root / f"{name}-seed"
    git(root, "clone", "-q", str(origin), str(seed))
    git(seed, "checkout", "-q", "-b", "main")
    (seed / "a.txt").write_text("one\n")
    git(seed, "add", "a.txt")
    git(seed, "commit", "-q", "-m", "first")
    git(seed, "push", "-q", "origin", "main")
    clone = root / name
    git(root, "clone", "-q", str(origin), str(clone))
    # HEARTBEAT.md is the agents' file, not the project's
    (clone / ".git" / "info" / "exclude").write_text("")
    return seed, clone


def engine_for(tmp_path: Path, threads: list[ThreadEntry], **cfg: object) -> Engine:
    settings = make_settings(tmp_path / "state")
    settings.threads = ThreadsConfig(home=tmp_path / "home", threads=threads, **cfg)  # type: ignore[arg-type]
    return Engine(settings)


async def test_builtin_runner_clean_dirty_behind_conflict_stale(tmp_path: Path) -> None:
    repos = {n: make_repo(tmp_path, n) for n in ("clean", "dirty", "behind", "conflict", "stale")}
    _, dirty = repos["dirty"]
    (dirty / "b.txt").write_text("new\n")
    seed, _ = repos["behind"]
    (seed / "c.txt").write_text("upstream\n")
    git(seed, "add", "c.txt")
    git(seed, "commit", "-q", "-m", "upstream work")
    git(seed, "push", "-q", "origin", "main")
    seed, conflict = repos["conflict"]
    (seed / "a.txt").write_text("theirs\n")
    git(seed, "commit", "-qam", "theirs")
    git(seed, "push", "-q", "origin", "main")
    (conflict / "a.txt").write_text("ours\n")
    git(conflict, "commit", "-qam", "ours")
    _, stale = repos["stale"]
    old = "2020-01-01T00:00:00Z"
    git(stale, "checkout", "-q", "-b", "old-work")
    (stale / "d.txt").write_text("old\n")
    git(stale, "add", "d.txt")
    git(stale, "commit", "-q", "-m", "old", GIT_COMMITTER_DATE=old, GIT_AUTHOR_DATE=old)
    git(stale, "checkout", "-q", "main")

    entries = [ThreadEntry(id=i + 2, name=n, cwd=repos[n][1]) for i, n in enumerate(repos)]
    engine = engine_for(tmp_path, [ThreadEntry(id=1, name="master"), *entries])
    threads = engine.threads
    threads.scan()
    replies: dict[str, str] = {}
    for entry in entries:
        before = time.time()
        await threads.run_beat(entry.id)
        status = threads.status(entry.id)
        replies[entry.name] = status.heartbeat.last_reply or ""
        doc = hb.read(Path(str(entry.cwd)) / "HEARTBEAT.md")
        for tier in hb.TIERS:  # first beat: every tier was due and is stamped now
            stamp = doc.timestamps[tier]
            assert stamp is not None and stamp.timestamp() >= int(before)
        assert status.heartbeat.liveness == "alive"

    assert replies["clean"] == "HEARTBEAT_OK"
    assert "uncommitted" in replies["dirty"] and "b.txt" in replies["dirty"]
    assert "1 new commit(s) on origin/main" in replies["behind"]
    assert "upstream work" in replies["behind"]
    assert "conflicts with origin/main" in replies["conflict"]
    assert "stale branches" in replies["stale"] and "old-work" in replies["stale"]
    assert threads.status(4).repo is not None and threads.status(4).repo.behind == 1  # type: ignore[union-attr]
    # findings are in queue/outgoing for TinyClaw to deliver; OK replies are not
    out_threads = {m.threadId for p in engine.queue.files("outgoing")
                   for m in [engine.queue.read(p)]}  # fmt: skip
    assert out_threads == {3, 4, 5, 6}
    # daily reports went to the master (thread 1) as cross-thread messages
    incoming = [engine.queue.read(p) for p in engine.queue.files("incoming")]
    reports = [m for m in incoming if m.threadId == 1]
    assert {m.sourceThreadId for m in reports} >= {2, 3}  # type: ignore[attr-defined]
    assert all("Daily report" in m.message for m in reports)


async def test_second_beat_updates_only_due_timestamps_in_place(tmp_path: Path) -> None:
    _, clone = make_repo(tmp_path, "r")
    path = clone / "HEARTBEAT.md"
    recent = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 600))
    text = (
        "\ufeff## Timestamps\r\n- Last quick: 2000-01-01T00:00:00Z\r\n"
        f"- Last hourly: {recent}\r\n- Last daily: {recent}\r\n\r\n"
        "## Urgent Flags\r\n- [red]deploy[/red] \x1b[31mbroken\x1b[0m\r\n\r\n"
        "## Tasks\r\n- [ ] keep this line\r\n## Notes\r\nbytes \xe9 stay\r\n"
    )
    path.write_bytes(text.encode("utf-8"))
    engine = engine_for(tmp_path, [ThreadEntry(id=2, name="r", cwd=clone)])
    engine.threads.scan()
    await engine.threads.run_beat(2)
    after = path.read_bytes().decode("utf-8")
    a, b = text.split("\r\n"), after.split("\r\n")
    assert [i for i in range(len(a)) if a[i] != b[i]] == [1]  # only "Last quick" changed
    status = engine.threads.status(2)
    assert status.heartbeat.urgent_flags == ["[red]deploy[/red] \x1b[31mbroken\x1b[0m"]
    assert "urgent" in (status.heartbeat.last_reply or "")


async def test_daily_report_updates_the_knowledge_base(tmp_path: Path) -> None:
    _, clone = make_repo(tmp_path, "app")
    kb_dir = tmp_path / "kb"
    engine = engine_for(
        tmp_path,
        [ThreadEntry(id=1, name="master", cwd=kb_dir), ThreadEntry(id=5, name="app", cwd=clone)],
        kb_dir=kb_dir,
    )
    done = await kb.init(kb_dir, engine.threads.threads_json, 1)
    assert any("git init" in d for d in done)
    assert json.loads(engine.threads.threads_json.read_text())["1"]["cwd"] == str(kb_dir)
    sub = engine.bus.subscribe([EventKind.KB])
    engine.threads.scan()
    await engine.threads.run_beat(5)
    text = engine.threads.kb_read("active-projects.md")
    assert "## app (thread 5)" in text and "first" in text
    log = await engine.threads.kb_log()
    assert log[0].endswith("Update: daily report of app (thread 5)")
    assert len(log) == 2
    assert git(kb_dir, "remote").strip() == ""
    event = sub.get_nowait()
    assert event.data["action"] == "report" and event.data["committed"] is True
    with pytest.raises(kb.KBError, match="not a knowledge base file"):
        engine.threads.kb_read("../threads.json")
    with pytest.raises(kb.KBError):
        engine.threads.kb_read(".git/config")


async def written_until_seen(
    sub: Subscription, write: Callable[[], object], pred: Callable[[Event], bool]
) -> Event:
    """Write, and write again, until the watcher reports it (it may start after a write)."""
    for _ in range(30):
        write()
        try:
            return await wait_for_event(sub, pred, 1.0)
        except TimeoutError:
            continue
    raise AssertionError("the watcher never reported the change")


async def test_watcher_events_and_api(tmp_path: Path) -> None:
    _, clone = make_repo(tmp_path, "w")
    engine = engine_for(
        tmp_path, [ThreadEntry(id=2, name="w", cwd=clone)], heartbeat_interval=3600.0
    )
    await engine.start()
    runner = ServiceRunner(engine, engine.settings, token=TOKEN, listen=("127.0.0.1", 0))
    await runner.start()
    sub = engine.subscribe([EventKind.THREAD])
    try:
        # No guess at when the watcher is up: the write is repeated until its event arrives.
        event = await written_until_seen(
            sub,
            lambda: hb.write(
                clone / "HEARTBEAT.md", hb.parse(hb.TEMPLATE.replace("(none)", "- on fire"))
            ),
            lambda e: e.data["thread"]["heartbeat"]["urgent_flags"] == ["on fire"],
        )
        assert event.data["thread"]["thread"]["id"] == 2
        # an agent's reply dropped into queue/outgoing (plain write, not ours)
        (engine.queue.folder("outgoing") / "m1.json").write_text(
            json.dumps({"channel": "x", "threadId": 2, "sender": "a", "message": "done",
                        "originalMessage": "", "timestamp": 1, "messageId": "m1", "model": "h"})
        )  # fmt: skip
        await wait_for_event(sub, lambda e: e.data["thread"]["queue_out"] == 1, 5)
        async with aiohttp.ClientSession(headers=AUTH) as s:
            async with s.get(runner.url + "/api/v1/threads") as r:
                assert r.status == 200
                rows = (await r.json())["threads"]
                assert rows[0]["thread"]["name"] == "w" and rows[0]["queue_out"] == 1
                assert rows[0]["heartbeat"]["next_beat"] is not None
            async with s.get(runner.url + "/api/v1/threads/progress") as r:
                prog = (await r.json())["threads"]
                assert prog[0]["id"] == 2 and prog[0]["last_activity"] is not None
            async with s.post(runner.url + "/api/v1/threads/2/messages", json={"text": "hi"}) as r:
                assert r.status == 201
                msg = await r.json()
                assert msg["threadId"] == 2 and msg["source"] == "user"
            async with s.post(runner.url + "/api/v1/threads/99/messages", json={"text": "x"}) as r:
                assert r.status == 404
            async with s.post(runner.url + "/api/v1/threads/2/messages", json={"txt": "x"}) as r:
                assert r.status == 400
            async with s.post(runner.url + "/api/v1/threads/abc/messages", data=b"{") as r:
                assert r.status == 400
            async with s.get(runner.url + "/api/v1/threads/2") as r:
                detail = await r.json()
                assert detail["outgoing"][0]["message"] == "done"
                assert detail["git_log"][0].endswith("first")
            async with s.get(runner.url + "/api/v1/kb/secrets.txt") as r:
                assert r.status == 400
        assert (engine.queue.folder("incoming") / f"{msg['messageId']}.json").exists()
    finally:
        await runner.stop()
        await engine.stop()


async def test_engine_scheduler_beats_every_thread_staggered(tmp_path: Path) -> None:
    clones = [make_repo(tmp_path, f"s{i}")[1] for i in range(3)]
    entries = [ThreadEntry(id=i + 2, name=f"s{i}", cwd=c) for i, c in enumerate(clones)]
    engine = engine_for(tmp_path, entries, heartbeat_interval=1.5)
    sub = engine.subscribe([EventKind.HEARTBEAT])
    await engine.start()
    try:
        seen: dict[int, float] = {}
        while len(seen) < 3:
            event = await wait_for_event(sub, lambda e: e.data["action"] == "ran", 10)
            seen.setdefault(event.data["thread_id"], time.monotonic())
        assert engine.threads.scheduler.max_in_flight_seen == 1
        order = sorted(seen, key=seen.__getitem__)
        assert order == [2, 3, 4]
        # Staggered, not a burst: in thread order, one beat at a time (no wall-clock gaps
        # asserted: a loaded machine stretches them).
        for c in clones:
            assert hb.read(c / "HEARTBEAT.md").timestamps["quick"] is not None
    finally:
        await engine.stop()


def test_watch_filter_ignores_the_engines_temp_files(tmp_path: Path) -> None:
    from watchfiles import Change

    from clawtui.engine.threads.manager import Threads
    from clawtui.fsutil import TEMP_MARKER

    assert not Threads._filter(Change.added, f"/x/.HEARTBEAT.md{TEMP_MARKER}abc")
    assert not Threads._filter(Change.added, f"/q/.m.json{TEMP_MARKER}abc")
    assert Threads._filter(Change.added, "/x/HEARTBEAT.md")
    assert Threads._filter(Change.deleted, "/q/incoming/m.json")
    assert not Threads._filter(Change.modified, "/x/README.md")


async def test_remote_engine_threads_proxy(tmp_path: Path) -> None:
    from clawtui.client.engine import RemoteEngine

    _, clone = make_repo(tmp_path, "rm")
    kb_dir = tmp_path / "kb"
    engine = engine_for(
        tmp_path,
        [ThreadEntry(id=1, name="m", cwd=kb_dir), ThreadEntry(id=2, name="rm", cwd=clone)],
        heartbeat_interval=3600.0,
        kb_dir=kb_dir,
    )
    await kb.init(kb_dir)
    await engine.start()
    runner = ServiceRunner(engine, engine.settings, token=TOKEN, listen=("127.0.0.1", 0))
    await runner.start()
    remote = RemoteEngine(runner.url, TOKEN)
    await remote.start()
    try:
        await asyncio.wait_for(remote.connected.wait(), 10)
        await wait_until(lambda: len(remote.threads.statuses()) == 2, 10, "remote threads")
        assert [s.thread.name for s in remote.threads.statuses()] == ["m", "rm"]
        sub = remote.subscribe([EventKind.THREAD])
        msg = await remote.threads.send(2, "from afar", sender="remote-tui")
        assert (engine.queue.folder("incoming") / f"{msg.messageId}.json").exists()
        event = await wait_for_event(
            sub, lambda e: e.data["thread"].thread.id == 2 and e.data["thread"].queue_in == 1, 5
        )
        assert remote.threads.statuses()[1].queue_in == 1
        assert event is not None
        detail = await remote.threads.detail(2)
        assert detail.git_log and detail.git_log[0].endswith("first")
        assert "Context" in await remote.threads.kb_file("context.md")
        assert (await remote.threads.kb_log())[0].endswith("Initialise knowledge base")
        with pytest.raises(Exception, match="not a knowledge base file"):
            await remote.threads.kb_file("..%2Fthreads.json")
        with pytest.raises(Exception, match="no thread 42"):
            await remote.threads.send(42, "x")
        assert [p.id for p in remote.threads.progress()] == [1, 2]
    finally:
        await remote.stop()
        await runner.stop()
        await engine.stop()


async def test_agents_daily_report_to_master_lands_in_the_kb(tmp_path: Path) -> None:
    _, clone = make_repo(tmp_path, "ag")
    kb_dir = tmp_path / "kb"
    engine = engine_for(
        tmp_path,
        [ThreadEntry(id=1, name="m", cwd=kb_dir), ThreadEntry(id=3, name="agent", cwd=clone)],
        heartbeat_interval=3600.0,
        kb_dir=kb_dir,
    )
    await kb.init(kb_dir)
    sub = engine.subscribe([EventKind.KB])
    threads = engine.subscribe([EventKind.THREAD])
    await engine.start()
    try:
        # The watcher is up once it reports a sentinel change (thread 3's HEARTBEAT.md).
        await written_until_seen(
            threads,
            lambda: hb.write(
                clone / "HEARTBEAT.md", hb.parse(hb.TEMPLATE.replace("(none)", "- sentinel"))
            ),
            lambda e: e.data["thread"]["heartbeat"]["urgent_flags"] == ["sentinel"],
        )
        threads.close()
        # what an agent's send_message writes (TinyClaw routes it to the master later)
        engine.queue.reply(3, "Daily report: shipped the parser\n- fixed CRLF", target_thread_id=1,
                           channel="telegram", sender="agent-3", model="haiku")  # fmt: skip
        # a message to the master that is not a report changes nothing
        engine.queue.reply(3, "hello master", target_thread_id=1)
        event = await wait_for_event(sub, lambda e: e.data["action"] == "report", 10)
        assert event.data["thread_id"] == 3 and event.data["committed"] is True
        text = await engine.threads.kb_file("active-projects.md")
        assert "## agent (thread 3)" in text and "shipped the parser" in text
        assert "hello master" not in text
    finally:
        await engine.stop()
