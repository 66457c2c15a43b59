"""Threads: the registry (config + threads.json), their HEARTBEAT.md, queues, repos and beats.

`engine.threads` (a `Threads`, registered in `engine.components`):

* registry: `[[threads.threads]]` entries merged with TinyClaw's `threads.json`
  (`{"<threadId>": {name, cwd, sessionId?, model, isMaster, lastActive (epoch ms)}}`); config
  wins per field. The master is `[threads] master`, else the entry with isMaster, else 1;
* `statuses()` / `get(id)`: `ThreadStatus` snapshots (repo state, queue depths, tiers, liveness,
  urgent flags, next beat); `progress()`: `ThreadProgress` (id, name, cwd, last_activity in
  epoch seconds, liveness) for the stuck-agent detector;
* `send(id, text)`: through `engine.queue.deliver` (and the Nanoclaw sink when configured);
* the scheduler (`heartbeat_sched.Scheduler`) runs beats through the built-in or the command
  runner; results go to queue/outgoing (non-OK only), the notifier (non-OK only), the master
  (daily reports, also recorded in the knowledge base);
* a watcher (watchfiles) on threads.json, queue/incoming, queue/outgoing and each thread's
  cwd (not recursive) re-reads only what changed, ignoring the engine's temp files.

Events:
  THREAD     data = {"thread": ThreadStatus (JSON)}             a thread changed
  HEARTBEAT  data = {"thread_id", "action": "ran"|"skipped"|"failed", "tiers", "ok", "reply"}
  KB         data = {"action": "report"|"init", "thread_id"?, "committed"?}
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import watchfiles
from pydantic import BaseModel

from clawtui.engine.api.models import EventKind
from clawtui.engine.heartbeats import md as hbmd
from clawtui.engine.heartbeats.runner import (
    REPORT_PREFIX,
    BeatTarget,
    BuiltinRunner,
    CommandRunner,
    RepoState,
    Runner,
    is_ok_reply,
    repo_state,
    run_cmd,
)
from clawtui.engine.heartbeats.scheduler import Clock, Scheduler, WallClock
from clawtui.engine.heartbeats.tiers import Liveness, TierState, due_tiers, liveness, tier_states
from clawtui.engine.kb import knowledge as kbmod
from clawtui.engine.notifier import Notification
from clawtui.engine.threads.queue import (
    IncomingMessage,
    NanoclawSink,
    OutgoingMessage,
    QueueError,
)
from clawtui.fsutil import atomic_write, is_temp_file, read_bytes_capped

if TYPE_CHECKING:
    from clawtui.config.threads import ThreadsConfig
    from clawtui.engine.core import Engine

log = logging.getLogger(__name__)

MAX_THREADS_JSON = 4 << 20
_RECENT = 20


class ThreadError(Exception):
    """A thread operation was refused; the message is for a person."""


class ThreadInfo(BaseModel):
    id: int
    name: str
    cwd: str | None = None
    container: str | None = None
    host: str | None = None
    model: str | None = None
    is_master: bool = False
    last_active: float | None = None
    """threads.json lastActive, in epoch seconds."""
    source: str = "config"
    nanoclaw_jid: str | None = None


class HeartbeatState(BaseModel):
    tiers: list[TierState] = []
    liveness: Liveness = "unknown"
    urgent_flags: list[str] = []
    problems: list[str] = []
    next_beat: float | None = None
    in_flight: bool = False
    runs: int = 0
    skipped_stale: int = 0
    failed: int = 0
    last_reply: str | None = None
    last_ok: bool | None = None
    last_run: float | None = None


class ThreadStatus(BaseModel):
    thread: ThreadInfo
    repo: RepoState | None = None
    queue_in: int = 0
    queue_out: int = 0
    last_activity: float | None = None
    heartbeat: HeartbeatState


class ThreadProgress(BaseModel):
    """What a stuck-agent detector needs of one thread."""

    id: int
    name: str
    cwd: str | None
    last_activity: float | None
    """Epoch seconds of the newest sign of work (threads.json lastActive, queue messages,
    HEARTBEAT.md changes, beats); None when nothing is known."""
    liveness: Liveness


class ThreadDetail(BaseModel):
    status: ThreadStatus
    heartbeat_text: str
    outgoing: list[OutgoingMessage]
    git_log: list[str]


def read_threads_json(path: Path) -> tuple[dict[int, dict[str, Any]], str | None]:
    """TinyClaw's threads map; (entries by id, problem or None). Never raises."""
    try:
        raw, truncated = read_bytes_capped(path, limit=MAX_THREADS_JSON)
    except FileNotFoundError:
        return {}, None
    except OSError as exc:
        return {}, f"{path}: cannot read ({exc.strerror or exc})"
    if truncated:
        return {}, f"{path}: larger than {MAX_THREADS_JSON >> 20} MiB, not read"
    try:
        data = json.loads(raw.decode("utf-8-sig", errors="replace"))
    except ValueError as exc:
        return {}, f"{path}: not valid JSON ({exc})"
    if not isinstance(data, dict):
        return {}, f"{path}: expected an object of threads by id"
    out: dict[int, dict[str, Any]] = {}
    bad: list[str] = []
    for key, value in data.items():
        try:
            tid = int(key)
        except ValueError:
            bad.append(str(key)[:20])
            continue
        if tid < 0 or not isinstance(value, dict):
            bad.append(str(key)[:20])
            continue
        out[tid] = value
    return out, (f"{path}: skipped entries {', '.join(bad)}" if bad else None)


def merge_threads(
    cfg: ThreadsConfig, tj: dict[int, dict[str, Any]]
) -> tuple[dict[int, ThreadInfo], int]:
    """Config entries + threads.json (config wins per field); and the master id."""
    out: dict[int, ThreadInfo] = {}
    for tid, entry in tj.items():
        name = entry.get("name")
        cwd = entry.get("cwd")
        last = entry.get("lastActive")
        model = entry.get("model")
        out[tid] = ThreadInfo(
            id=tid,
            name=name if isinstance(name, str) and name else f"Thread {tid}",
            cwd=cwd if isinstance(cwd, str) and cwd else None,
            model=model if isinstance(model, str) else None,
            is_master=entry.get("isMaster") is True,
            last_active=(last / 1000.0)
            if isinstance(last, int | float) and not isinstance(last, bool) and last > 0
            else None,
            source="threads.json",
        )
    for ce in cfg.threads:
        base = out.get(ce.id)
        info = ThreadInfo(
            id=ce.id,
            name=ce.name or (base.name if base else f"Thread {ce.id}"),
            cwd=str(ce.cwd) if ce.cwd is not None else (base.cwd if base else None),
            container=ce.container,
            host=ce.host,
            model=base.model if base else None,
            is_master=ce.is_master or (base.is_master if base else False),
            last_active=base.last_active if base else None,
            source="both" if base else "config",
            nanoclaw_jid=ce.nanoclaw_jid,
        )
        out[ce.id] = info
    if cfg.master is not None:
        master = cfg.master
    else:
        masters = sorted(t.id for t in out.values() if t.is_master)
        master = masters[0] if masters else 1
    if master in out:
        out[master].is_master = True
    return out, master


class Threads:
    """The threads capability (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock | None = None,
        runner: Runner | None = None,
    ) -> None:
        self.engine = engine
        self.cfg: ThreadsConfig = engine.settings.threads
        self.clock: Clock = clock or WallClock()
        self.home = engine.queue.home
        self.threads_json = self.home / "threads.json"
        self.runner: Runner = runner or (
            CommandRunner(
                self.cfg.command, timezone=self.cfg.timezone, timeout=self.cfg.command_timeout
            )
            if self.cfg.runner == "command"
            else BuiltinRunner(stale_days=self.cfg.stale_branch_days)
        )
        self.scheduler = Scheduler(
            self.clock,
            self.cfg.heartbeat_interval,
            self._beat,
            stale_fraction=self.cfg.stale_fraction,
            on_skip=self._skipped,
        )
        self._threads: dict[int, ThreadInfo] = {}
        self.master_id = 1
        self.registry_problem: str | None = None
        self._docs: dict[int, hbmd.HeartbeatDoc | None] = {}
        self._doc_problem: dict[int, str] = {}
        self._hb_mtime: dict[int, float] = {}
        self._repo: dict[int, RepoState] = {}
        self._depths: dict[int, tuple[int, int]] = {}
        self._last_msg: dict[int, float] = {}
        self._results: dict[int, tuple[float, bool, str]] = {}
        self._recent_out: dict[int, deque[OutgoingMessage]] = {}
        self._by_dir: dict[str, list[int]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._restart_watch = asyncio.Event()
        self._stop_watch = asyncio.Event()
        self.watch_events = 0
        self._seen_reports: set[str] = set()
        self.reload()
        jids = {t.id: t.nanoclaw_jid for t in self._threads.values() if t.nanoclaw_jid}
        if self.cfg.nanoclaw_db is not None and jids:
            engine.queue.sinks.append(NanoclawSink(self.cfg.nanoclaw_db, jids))

    # -- registry ------------------------------------------------------------------------------
    def reload(self) -> bool:
        """Re-read threads.json and merge with config; True when the set of threads changed."""
        tj, problem = read_threads_json(self.threads_json)
        self.registry_problem = problem
        threads, self.master_id = merge_threads(self.cfg, tj)
        changed = set(threads) != set(self._threads) or any(
            threads[t].cwd != self._threads[t].cwd for t in threads if t in self._threads
        )
        self._threads = threads
        self._by_dir = {}
        for t in threads.values():
            if t.cwd:
                self._by_dir.setdefault(str(Path(t.cwd)), []).append(t.id)
        if changed:
            self.scheduler.set_threads(self._threads)
        return changed

    def ids(self) -> list[int]:
        return sorted(self._threads)

    def info(self, thread_id: int) -> ThreadInfo:
        info = self._threads.get(thread_id)
        if info is None:
            known = ", ".join(str(t) for t in self.ids()) or "none"
            raise ThreadError(f"no thread {thread_id} (known: {known})")
        return info

    def heartbeat_path(self, thread_id: int) -> Path | None:
        cwd = self._threads[thread_id].cwd
        return Path(cwd) / hbmd.FILENAME if cwd else None

    # -- HEARTBEAT.md --------------------------------------------------------------------------
    def read_heartbeat(self, thread_id: int) -> None:
        """Re-read one thread's HEARTBEAT.md (never raises: problems are kept on the thread)."""
        path = self.heartbeat_path(thread_id)
        self._doc_problem.pop(thread_id, None)
        if path is None:
            self._docs[thread_id] = None
            self._doc_problem[thread_id] = "no working directory: no HEARTBEAT.md"
            return
        try:
            self._docs[thread_id] = hbmd.read(path)
            with contextlib.suppress(OSError):
                self._hb_mtime[thread_id] = path.stat().st_mtime
        except FileNotFoundError:
            self._docs[thread_id] = None
            self._doc_problem[thread_id] = f"{path} does not exist yet (created on first beat)"
        except hbmd.HeartbeatError as exc:
            self._docs[thread_id] = None
            self._doc_problem[thread_id] = str(exc)

    def scan(self) -> int:
        """Re-read every HEARTBEAT.md and the queue index; returns how many threads."""
        for tid in self.ids():
            self.read_heartbeat(tid)
        self._refresh_queue()
        return len(self._threads)

    def _refresh_queue(self) -> None:
        try:
            self._depths = self.engine.queue.depths()
            self._last_msg = {
                t: ms / 1000.0 for t, ms in self.engine.queue.last_message_ms().items()
            }
        except (OSError, QueueError) as exc:
            log.warning("cannot read the queue: %s", exc)

    # -- snapshots -----------------------------------------------------------------------------
    def _heartbeat_state(self, tid: int, now: float) -> HeartbeatState:
        doc = self._docs.get(tid)
        stamps = doc.timestamps if doc else {}
        tiers = tier_states(
            stamps,
            now,
            interval=self.cfg.heartbeat_interval,
            hourly_after=self.cfg.hourly_after,
            daily_after=self.cfg.daily_after,
        )
        problems = list(doc.problems) if doc else []
        if tid in self._doc_problem:
            problems.insert(0, self._doc_problem[tid])
        stats = self.scheduler.stats.get(tid)
        result = self._results.get(tid)
        return HeartbeatState(
            tiers=tiers,
            liveness=liveness(tiers[0].last, now, self.cfg.heartbeat_interval),
            urgent_flags=list(doc.urgent_flags) if doc else [],
            problems=problems,
            next_beat=self.scheduler.next_beat(tid) if self.cfg.heartbeat else None,
            in_flight=self.scheduler.in_flight == tid,
            runs=stats.run if stats else 0,
            skipped_stale=stats.skipped_stale if stats else 0,
            failed=stats.failed if stats else 0,
            last_run=result[0] if result else None,
            last_ok=result[1] if result else None,
            last_reply=result[2] if result else None,
        )

    def _last_activity(self, tid: int) -> float | None:
        info = self._threads[tid]
        candidates = [
            info.last_active,
            self._last_msg.get(tid),
            self._hb_mtime.get(tid),
            self._results[tid][0] if tid in self._results else None,
        ]
        known = [c for c in candidates if c is not None]
        return max(known) if known else None

    def status(self, thread_id: int) -> ThreadStatus:
        info = self.info(thread_id)
        now = self.clock.now()
        q_in, q_out = self._depths.get(thread_id, (0, 0))
        return ThreadStatus(
            thread=info,
            repo=self._repo.get(thread_id),
            queue_in=q_in,
            queue_out=q_out,
            last_activity=self._last_activity(thread_id),
            heartbeat=self._heartbeat_state(thread_id, now),
        )

    def statuses(self) -> list[ThreadStatus]:
        return [self.status(tid) for tid in self.ids()]

    def get(self, thread_id: int) -> ThreadStatus | None:
        return self.status(thread_id) if thread_id in self._threads else None

    def progress(self) -> list[ThreadProgress]:
        """Per thread: id, name, cwd, last activity (epoch seconds) and liveness."""
        now = self.clock.now()
        out: list[ThreadProgress] = []
        for tid in self.ids():
            info = self._threads[tid]
            hb = self._heartbeat_state(tid, now)
            out.append(
                ThreadProgress(
                    id=tid,
                    name=info.name,
                    cwd=info.cwd,
                    last_activity=self._last_activity(tid),
                    liveness=hb.liveness,
                )
            )
        return out

    async def detail(
        self, thread_id: int, *, outgoing: int = 10, git_log: int = 15
    ) -> ThreadDetail:
        status = self.status(thread_id)
        doc = self._docs.get(thread_id)
        text = doc.text if doc else (self._doc_problem.get(thread_id) or "")
        recent = list(self._recent_out.get(thread_id, ()))
        queued = await asyncio.to_thread(self.engine.queue.outgoing, thread_id, outgoing)
        ids = {m.messageId for m in queued}
        merged = queued + [m for m in reversed(recent) if m.messageId not in ids]
        merged.sort(key=lambda m: m.timestamp, reverse=True)
        lines: list[str] = []
        cwd = status.thread.cwd
        if cwd and os.path.isdir(cwd) and not status.thread.container:  # noqa: ASYNC240
            rc, out, _ = await run_cmd(
                ["git", "log", f"-{git_log}", "--format=%h %ad %an: %s", "--date=short"],
                cwd=Path(cwd),
                timeout=15,
            )
            lines = out.splitlines() if rc == 0 else []
        return ThreadDetail(
            status=status, heartbeat_text=text, outgoing=merged[:outgoing], git_log=lines
        )

    # -- sending -------------------------------------------------------------------------------
    async def send(
        self, thread_id: int, text: str, *, sender: str = "clawtui", channel: str = "clawtui"
    ) -> IncomingMessage:
        """Deliver `text` to a known thread through the shared queue (and Nanoclaw sink)."""
        self.info(thread_id)
        if not text.strip():
            raise ThreadError("the message is empty")
        msg = await asyncio.to_thread(
            self.engine.queue.deliver,
            thread_id,
            text,
            channel=channel,
            source="user",
            sender=sender,
            sender_id=sender,
        )
        self._refresh_queue()
        self._publish(thread_id)
        return msg

    # -- heartbeats ----------------------------------------------------------------------------
    def _target(self, tid: int) -> BeatTarget:
        info = self._threads[tid]
        return BeatTarget(
            thread_id=tid,
            name=info.name,
            cwd=Path(info.cwd) if info.cwd else None,
            container=info.container,
            is_master=tid == self.master_id,
            master_id=self.master_id,
            threads=[f"{t.id}: {t.name}" for t in self._threads.values()],
        )

    def _skipped(self, tid: int, due_at: float, waited: float) -> None:
        self.engine.bus.publish(
            EventKind.HEARTBEAT,
            thread_id=tid,
            action="skipped",
            tiers=[],
            ok=None,
            reply=f"waited {waited:.0f} s (more than {self.scheduler.stale_after:.0f} s)",
        )
        self.engine.log_activity(
            "warning",
            f"heartbeat of thread {tid} skipped: it waited {waited:.0f} s",
            subject=f"thread/{tid}",
        )
        if tid in self._threads:
            self._publish(tid)

    async def beat_now(self, thread_id: int) -> None:
        self.info(thread_id)
        self.scheduler.enqueue(thread_id)

    async def run_beat(self, thread_id: int) -> None:
        """Run one beat of a thread right now, outside the scheduler (CLI, tests)."""
        self.info(thread_id)
        await self._beat(thread_id, self.clock.now())

    async def _beat(self, tid: int, due_at: float) -> None:
        if tid not in self._threads:
            return
        now = self.clock.now()
        path = self.heartbeat_path(tid)
        doc: hbmd.HeartbeatDoc | None = None
        if path is not None and not self._threads[tid].container:
            try:
                doc = await asyncio.to_thread(hbmd.ensure, path)
            except (hbmd.HeartbeatError, OSError) as exc:
                self._doc_problem[tid] = str(exc)
        tiers = due_tiers(
            tier_states(
                doc.timestamps if doc else {},
                now,
                interval=self.cfg.heartbeat_interval,
                hourly_after=self.cfg.hourly_after,
                daily_after=self.cfg.daily_after,
            )
        )
        self._publish(tid)
        outcome = await self.runner.run(self._target(tid), tiers, doc, now)
        if outcome.repo is not None:
            self._repo[tid] = outcome.repo
        finished = self.clock.now()
        if path is not None and doc is not None:
            stamp = datetime.fromtimestamp(finished, UTC)
            try:
                new = await asyncio.to_thread(
                    hbmd.update_timestamps, path, {t: stamp for t in tiers}
                )
                self._docs[tid] = new
                self._hb_mtime[tid] = finished
            except (hbmd.HeartbeatError, OSError) as exc:
                self._doc_problem[tid] = f"timestamps not updated: {exc}"
        self._results[tid] = (finished, outcome.ok, outcome.reply)
        await self._route(tid, tiers, outcome.reply, outcome.ok, outcome.report)
        self.engine.bus.publish(
            EventKind.HEARTBEAT,
            thread_id=tid,
            action="ran",
            tiers=list(tiers),
            ok=outcome.ok,
            reply=outcome.reply[:2000],
        )
        self._publish(tid)

    async def _route(
        self, tid: int, tiers: list[hbmd.Tier], reply: str, ok: bool, report: str | None
    ) -> None:
        """TinyClaw's response routing: OK replies are suppressed; findings are delivered."""
        name = self._threads[tid].name
        if not ok and not is_ok_reply(reply):
            try:
                msg = await asyncio.to_thread(
                    self.engine.queue.reply, tid, reply, original="heartbeat " + "+".join(tiers)
                )
                self._recent_out.setdefault(tid, deque(maxlen=_RECENT)).append(msg)
            except QueueError as exc:
                log.warning("heartbeat reply of thread %s not written: %s", tid, exc)
            self.engine.notifier.notify(
                Notification(
                    kind="heartbeat.findings",
                    text=f"Thread {name} ({tid}) heartbeat:\n{reply[:3000]}",
                    data={"thread_id": tid, "tiers": list(tiers)},
                )
            )
            self.engine.log_activity(
                "warning",
                f"heartbeat of {name}: {reply.splitlines()[0][:200]}",
                subject=f"thread/{tid}",
            )
        if report and tid != self.master_id:
            if self.master_id in self._threads:
                try:
                    await asyncio.to_thread(
                        self.engine.queue.deliver,
                        self.master_id,
                        report,
                        channel="heartbeat",
                        source="cross-thread",
                        sender=name,
                        sender_id="heartbeat",
                        source_thread_id=tid,
                    )
                except QueueError as exc:
                    log.warning("daily report of thread %s not delivered: %s", tid, exc)
            await self.record_report(tid, report)

    async def record_report(self, tid: int, report: str) -> None:
        kb = self.kb_dir()
        if kb is None or not (kb / ".git").exists():
            return
        try:
            committed = await kbmod.record_report(kb, tid, self._threads[tid].name, report)
        except (kbmod.KBError, OSError) as exc:
            self.engine.log_activity("warning", f"knowledge base not updated: {exc}")
            return
        self.engine.bus.publish(EventKind.KB, action="report", thread_id=tid, committed=committed)

    def _reports_in_queue(self) -> None:
        """Daily reports to the master written by agents (external runner) go into the KB."""
        kb = self.kb_dir()
        if kb is None:
            return
        queue = self.engine.queue
        if len(self._seen_reports) > 50_000:
            self._seen_reports.clear()
        for folder, model in (("incoming", IncomingMessage), ("outgoing", OutgoingMessage)):
            for path in queue.files(folder):
                if path.name in self._seen_reports:
                    continue
                self._seen_reports.add(path.name)
                try:
                    msg = queue.read(path, model)
                except QueueError:
                    continue
                if not isinstance(msg, IncomingMessage | OutgoingMessage):
                    continue
                source = _report_source(msg, self.master_id)
                if source is None or source not in self._threads:
                    continue
                if msg.sender == self._threads[source].name and msg.channel == "heartbeat":
                    continue  # our own built-in runner's report: already recorded
                task = asyncio.get_running_loop().create_task(
                    self.record_report(source, msg.message), name="threads:kb-report"
                )
                self._tasks.append(task)

    # -- knowledge base ------------------------------------------------------------------------
    def kb_dir(self) -> Path | None:
        if self.cfg.kb_dir is not None:
            return Path(self.cfg.kb_dir)
        master = self._threads.get(self.master_id)
        if master and master.cwd and (Path(master.cwd) / "active-projects.md").exists():
            return Path(master.cwd)
        return None

    def kb_read(self, name: str) -> str:
        kb = self.kb_dir()
        if kb is None:
            kbmod.check_name(name)
            raise kbmod.KBError("no knowledge base: run `clawtui kb init DIR`")
        return kbmod.read(kb, name)

    async def kb_file(self, name: str) -> str:
        """`kb_read` off the event loop."""
        return await asyncio.to_thread(self.kb_read, name)

    async def kb_log(self, limit: int = 20) -> list[str]:
        kb = self.kb_dir()
        return await kbmod.log(kb, limit) if kb else []

    # -- repo state ----------------------------------------------------------------------------
    async def refresh_repos(self, ids: list[int] | None = None) -> None:
        """Re-read the git state of the threads (no fetch), four at a time."""
        sem = asyncio.Semaphore(4)

        async def one(tid: int) -> None:
            info = self._threads[tid]
            async with sem:
                self._repo[tid] = await repo_state(
                    Path(info.cwd) if info.cwd else None,
                    container=info.container,
                    stale_days=self.cfg.stale_branch_days,
                    now=self.clock.now(),
                )
            self._publish(tid)

        await asyncio.gather(*(one(t) for t in (ids or self.ids()) if t in self._threads))

    # -- events --------------------------------------------------------------------------------
    def _publish(self, tid: int) -> None:
        if tid in self._threads:
            self.engine.bus.publish(
                EventKind.THREAD, thread=self.status(tid).model_dump(mode="json")
            )

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        await asyncio.to_thread(self.scan)
        self._stop_watch.clear()
        self._tasks.append(asyncio.create_task(self._watch_loop(), name="threads:watch"))
        self._tasks.append(asyncio.create_task(self.refresh_repos(), name="threads:repos"))
        if self.cfg.heartbeat:
            self.scheduler.set_threads(self._threads)
            self.scheduler.start()

    async def stop(self) -> None:
        self._stop_watch.set()
        self._restart_watch.set()
        await self.scheduler.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    def watch_paths(self) -> list[Path]:
        paths = [
            self.home,
            self.engine.queue.folder("incoming"),
            self.engine.queue.folder("outgoing"),
        ]
        paths += [Path(d) for d in self._by_dir]
        return [p for p in dict.fromkeys(paths) if p.is_dir()]

    @staticmethod
    def _filter(_change: watchfiles.Change, path: str) -> bool:
        name = Path(path).name
        return not is_temp_file(name) and (
            name in (hbmd.FILENAME, "threads.json") or name.endswith(".json")
        )

    async def _watch_loop(self) -> None:
        with contextlib.suppress(OSError):
            await asyncio.to_thread(self.engine.queue.ensure)
        while not self._stop_watch.is_set():
            self._restart_watch.clear()
            paths = self.watch_paths()
            if not paths:
                await asyncio.sleep(1.0)
                continue
            try:
                async for changes in watchfiles.awatch(
                    *paths,
                    watch_filter=self._filter,
                    recursive=False,
                    debounce=150,
                    step=20,
                    stop_event=self._restart_watch,
                    ignore_permission_denied=True,
                ):
                    self.handle_changes({p for _, p in changes})
            except (OSError, RuntimeError) as exc:
                log.warning("watching threads failed (%s); retrying in 2 s", exc)
                await asyncio.sleep(2.0)

    def handle_changes(self, paths: set[str]) -> set[int]:
        """Apply file changes (from the watcher); returns the threads that changed."""
        self.watch_events += 1
        touched: set[int] = set()
        queue_changed = False
        for raw in paths:
            path = Path(raw)
            if is_temp_file(path.name):
                continue
            if path.name == "threads.json" and path.parent == self.home:
                before = dict(self._threads)
                if self.reload():
                    self._restart_watch.set()
                    for tid in self.ids():
                        if tid not in before:
                            self.read_heartbeat(tid)
                touched |= set(self.ids())
            elif path.name == hbmd.FILENAME:
                for tid in self._by_dir.get(str(path.parent), []):
                    self.read_heartbeat(tid)
                    touched.add(tid)
            elif path.parent.parent == self.engine.queue.queue:
                queue_changed = True
        if queue_changed:
            self._reports_in_queue()
            old = dict(self._depths)
            old_last = dict(self._last_msg)
            self._refresh_queue()
            for tid in set(old) | set(self._depths) | set(self._last_msg):
                if old.get(tid) != self._depths.get(tid) or old_last.get(tid) != self._last_msg.get(
                    tid
                ):
                    touched.add(tid)
        for tid in sorted(touched):
            self._publish(tid)
        return touched


def _report_source(msg: IncomingMessage | OutgoingMessage, master: int) -> int | None:
    """The thread a daily report to the master came from, or None when `msg` is not one."""
    if not msg.message.lstrip().lower().startswith(REPORT_PREFIX.lower()):
        return None
    if isinstance(msg, OutgoingMessage):  # an agent's send_message, not yet routed
        return msg.threadId if msg.targetThreadId == master and msg.threadId != master else None
    source = msg.sourceThreadId
    return source if msg.threadId == master and source is not None and source != master else None


def write_threads_json(path: Path, threads: dict[int, dict[str, Any]]) -> None:
    """threads.json as TinyClaw's saveThreads writes it (indent 2), atomically."""
    atomic_write(path, json.dumps({str(k): v for k, v in threads.items()}, indent=2))


def now_ms() -> int:
    return int(time.time() * 1000)
