"""The state behind `Threads`: registry, HEARTBEAT.md documents, queue depths and snapshots.

`ThreadsState` keeps what the threads capability knows (threads.json merged with config, each
thread's parsed HEARTBEAT.md and its problems, queue depths, beat results) and builds the
`ThreadStatus` / `ThreadProgress` snapshots published as THREAD events. The beats
(`threads/beats.py`) and the watcher, sending and lifecycle (`threads/manager.py`) build on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

from clawtui.config.interop import queue_access_problem
from clawtui.engine.api.models import EventKind
from clawtui.engine.api.threads import (
    HeartbeatState,
    OutgoingMessage,
    QueueError,
    RepoState,
    ThreadError,
    ThreadInfo,
    ThreadProgress,
    ThreadStatus,
)
from clawtui.engine.heartbeats import container_md
from clawtui.engine.heartbeats import md as hbmd
from clawtui.engine.heartbeats.runner import BuiltinRunner, CommandRunner, Runner
from clawtui.engine.heartbeats.scheduler import Clock, Scheduler, WallClock
from clawtui.engine.heartbeats.tiers import liveness, tier_states
from clawtui.engine.heartbeats.tinyclaw_runner import TinyClawRunner
from clawtui.engine.threads.queue import NanoclawSink, TinyClawQueue
from clawtui.engine.threads.registry import merge_threads, read_threads_json

if TYPE_CHECKING:
    from clawtui.config.threads import ThreadsConfig
    from clawtui.engine.context import Context
    from clawtui.engine.fleet.hosts import HostMonitor
    from clawtui.engine.notifier import Notifier

log = logging.getLogger(__name__)


class ThreadsState:
    """What `Threads` knows of its threads: registry, HEARTBEAT.md documents, queue depths,
    beat results; the snapshots built from them and the THREAD events that carry them."""

    def __init__(
        self,
        ctx: Context,
        queue: TinyClawQueue,
        notifier: Notifier,
        *,
        clock: Clock | None = None,
        runner: Runner | None = None,
    ) -> None:
        self.ctx = ctx
        self.queue = queue
        self.notifier = notifier
        self.cfg: ThreadsConfig = ctx.settings.threads
        self.clock: Clock = clock or WallClock()
        self.home = queue.home
        self.threads_json = self.home / "threads.json"
        self.runner: Runner = runner or (
            CommandRunner(
                self.cfg.command, timezone=self.cfg.timezone, timeout=self.cfg.command_timeout
            )
            if self.cfg.runner == "command"
            else TinyClawRunner(
                queue, timezone=self.cfg.timezone, timeout=self.cfg.tinyclaw_timeout
            )
            if self.cfg.runner == "tinyclaw"
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
        self.queue_problem: str | None = None
        """Why TinyClaw cannot read the queue files clawtui writes (None: it can, or unknown)."""
        self._reply_ms: dict[int, float] = {}
        """Per thread: the newest agent reply seen in queue/outgoing by a watch event (epoch
        seconds); TinyClaw's Telegram client deletes those files about a second later."""
        self.reload()
        jids = {t.id: t.nanoclaw_jid for t in self._threads.values() if t.nanoclaw_jid}
        if self.cfg.nanoclaw_db is not None and jids:
            queue.sinks.append(
                NanoclawSink(self.cfg.nanoclaw_db, jids, assistant=self.cfg.nanoclaw_assistant)
            )
        queue.on_sink_error.append(self._sink_failed)

    # -- registry ------------------------------------------------------------------------------
    def reload(self) -> bool:
        """Re-read threads.json and merge with config; True when the set of threads changed."""
        tj, problem = read_threads_json(self.threads_json)
        self.registry_problem = problem
        threads, self.master_id = merge_threads(self.cfg, tj)
        names = {t.name: t.id for t in threads.values()}
        for tid, entry in tj.items():  # TinyClaw's send_message signs with threads.json's name
            if isinstance(entry.get("name"), str):
                names.setdefault(entry["name"], tid)
        self.queue.thread_names = names
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

    def container_host(self, thread_id: int) -> tuple[HostMonitor | None, str | None]:
        """The Docker host of a container thread (its git checks and HEARTBEAT.md run there),
        or why there is none; (None, None) for a thread not in a container."""
        info = self._threads[thread_id]
        if not info.container:
            return None, None
        try:
            return container_md.host_of(self.ctx.monitors, info.host, info.container), None
        except hbmd.HeartbeatError as exc:
            return None, str(exc)

    # -- HEARTBEAT.md --------------------------------------------------------------------------
    def read_heartbeat(self, thread_id: int) -> None:
        """Re-read one thread's HEARTBEAT.md (never raises: problems are kept on the thread)."""
        if self._threads[thread_id].container:
            return  # inside the container: read by each beat (heartbeats/container_md.py)
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
        self.queue_problem = (
            queue_access_problem(self.cfg, self.home) if self.cfg.home is not None else None
        )
        for tid in self.ids():
            self.read_heartbeat(tid)
        self._refresh_queue()
        return len(self._threads)

    def _refresh_queue(self) -> None:
        try:
            self._depths = self.queue.depths()
            self._last_msg = {t: ms / 1000.0 for t, ms in self.queue.last_message_ms().items()}
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
            self._reply_ms.get(tid),
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
            delivery_problem=self.queue.sink_failures.get(thread_id) or self.queue_problem,
        )

    def _sink_failed(self, thread_id: int, error: str) -> None:
        """A second sink failed (called from whichever thread wrote): the panel hears of it."""
        if thread_id in self._threads and self.ctx.bus.loop is not None:
            self.ctx.bus.publish_threadsafe(
                EventKind.THREAD, thread=self.status(thread_id).model_dump(mode="json")
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

    # -- beats (the scheduler's callbacks; `ThreadsBeats` in threads/beats.py has them) -------
    async def _beat(self, tid: int, due_at: float) -> None:
        """Run one beat of `tid` (the scheduler's callback; `ThreadsBeats` has it)."""
        raise NotImplementedError

    def _skipped(self, tid: int, due_at: float, waited: float) -> None:
        """A beat waited too long and was dropped (the scheduler's callback)."""
        raise NotImplementedError

    # -- knowledge base ------------------------------------------------------------------------
    def kb_dir(self) -> Path | None:
        if self.cfg.kb_dir is not None:
            return Path(self.cfg.kb_dir)
        master = self._threads.get(self.master_id)
        if master and master.cwd and (Path(master.cwd) / "active-projects.md").exists():
            return Path(master.cwd)
        return None

    # -- events --------------------------------------------------------------------------------
    def _publish(self, tid: int) -> None:
        if tid in self._threads:
            self.ctx.bus.publish(EventKind.THREAD, thread=self.status(tid).model_dump(mode="json"))
