"""Threads: the registry (config + threads.json), their HEARTBEAT.md, queues, repos and beats.

`engine.threads` (a `Threads`, registered in `engine.components`):

* registry (`threads/registry.py`, kept by `threads/state.py`): `[[threads.threads]]` entries
  merged with TinyClaw's `threads.json`; config wins per field;
* `statuses()` / `get(id)`: `ThreadStatus` snapshots (repo state, queue depths, tiers, liveness,
  urgent flags, next beat); `progress()`: `ThreadProgress` (id, name, cwd, last_activity in
  epoch seconds, liveness) for the stuck-agent detector;
* `send(id, text)`: through the queue's `deliver` (and the Nanoclaw sink when configured);
* the scheduler (`heartbeats/scheduler.py`) runs beats (`threads/beats.py`) through the
  built-in or the command runner; results go to queue/outgoing (non-OK only), the notifier
  (non-OK only), the master (daily reports, also recorded in the knowledge base);
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
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from clawtui.engine.api.kb import KBError, check_name
from clawtui.engine.api.threads import IncomingMessage, ThreadDetail, ThreadError
from clawtui.engine.heartbeats import md as hbmd
from clawtui.engine.heartbeats.runner import repo_state, run_cmd
from clawtui.engine.kb import knowledge as kbmod
from clawtui.engine.threads.beats import ThreadsBeats
from clawtui.fsutil import is_temp_file

if TYPE_CHECKING:  # watchfiles is imported when the watcher starts
    import watchfiles

log = logging.getLogger(__name__)


class Threads(ThreadsBeats):
    """The threads capability (see the module docstring)."""

    async def detail(
        self, thread_id: int, *, outgoing: int = 10, git_log: int = 15
    ) -> ThreadDetail:
        status = self.status(thread_id)
        doc = self._docs.get(thread_id)
        text = doc.text if doc else (self._doc_problem.get(thread_id) or "")
        recent = list(self._recent_out.get(thread_id, ()))
        queued = await asyncio.to_thread(self.queue.outgoing, thread_id, outgoing)
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
            self.queue.deliver,
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

    # -- knowledge base ------------------------------------------------------------------------
    def kb_default_dir(self) -> Path:
        """Where `clawtui kb` looks: `kb_dir()`, else `<threads home>/knowledge-base`."""
        return self.kb_dir() or self.home / "knowledge-base"

    async def kb_init(self, target: Path) -> list[str]:
        """Create the knowledge base in `target` and point the master at it; what was done."""
        return await kbmod.init(target, self.threads_json, self.master_id)

    def kb_read(self, name: str, *, at: Path | None = None) -> str:
        """One knowledge base file, of `at` when given (else of `kb_dir()`)."""
        kb = at or self.kb_dir()
        if kb is None:
            check_name(name)
            raise KBError("no knowledge base: run `clawtui kb init DIR`")
        return kbmod.read(kb, name)

    async def kb_file(self, name: str) -> str:
        """`kb_read` off the event loop."""
        return await asyncio.to_thread(self.kb_read, name)

    async def kb_log(self, limit: int = 20, *, at: Path | None = None) -> list[str]:
        """The knowledge base's git log, of `at` when given (else of `kb_dir()`)."""
        kb = at or self.kb_dir()
        return await kbmod.log(kb, limit) if kb else []

    # -- repo state ----------------------------------------------------------------------------
    async def refresh_repos(self, ids: list[int] | None = None) -> None:
        """Re-read the git state of the threads (no fetch), four at a time."""
        sem = asyncio.Semaphore(4)

        async def one(tid: int) -> None:
            info = self._threads[tid]
            host, problem = self.container_host(tid)
            async with sem:
                self._repo[tid] = await repo_state(
                    Path(info.cwd) if info.cwd else None,
                    container=info.container,
                    host=host,
                    host_problem=problem,
                    stale_days=self.cfg.stale_branch_days,
                    now=self.clock.now(),
                )
            self._publish(tid)

        await asyncio.gather(*(one(t) for t in (ids or self.ids()) if t in self._threads))

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        await asyncio.to_thread(self.scan)
        self._stop_watch.clear()
        self._tasks.append(asyncio.create_task(self._watch_loop(), name="threads:watch"))
        self._tasks.append(asyncio.create_task(self.refresh_repos(), name="threads:repos"))
        self._tasks.append(
            asyncio.create_task(self.read_container_heartbeats(), name="threads:container-hb")
        )
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
            self.queue.folder("incoming"),
            self.queue.folder("outgoing"),
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
        import watchfiles

        with contextlib.suppress(OSError):
            await asyncio.to_thread(self.queue.ensure)
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
        queue_paths: list[Path] = []
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
            elif path.parent.parent == self.queue.queue:
                queue_changed = True
                queue_paths.append(path)
        if queue_changed:
            touched |= self._queue_files_seen(queue_paths)
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
