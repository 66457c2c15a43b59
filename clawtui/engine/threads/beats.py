"""Heartbeats of the threads: running a beat, routing its reply, daily reports to the master.

TinyClaw's response routing: OK replies are suppressed; findings go to queue/outgoing, the
notifier and the activity log; a daily report goes to the master thread and into the
knowledge base (also reports that agents wrote into the queue themselves).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from datetime import UTC, datetime
from pathlib import Path

from clawtui.engine.api.models import EventKind
from clawtui.engine.api.threads import IncomingMessage, OutgoingMessage, QueueError
from clawtui.engine.heartbeats import container_md
from clawtui.engine.heartbeats import md as hbmd
from clawtui.engine.heartbeats.runner import REPORT_PREFIX, BeatTarget, is_ok_reply
from clawtui.engine.heartbeats.tiers import due_tiers, tier_states
from clawtui.engine.heartbeats.tinyclaw_runner import TinyClawOutcome
from clawtui.engine.kb import knowledge as kbmod
from clawtui.engine.notifier import Notification
from clawtui.engine.threads.state import ThreadsState

log = logging.getLogger(__name__)

_RECENT = 20


class ThreadsBeats(ThreadsState):
    """The heartbeat part of `Threads`."""

    def _target(self, tid: int) -> BeatTarget:
        info = self._threads[tid]
        host, problem = self.container_host(tid)
        return BeatTarget(
            thread_id=tid,
            name=info.name,
            cwd=Path(info.cwd) if info.cwd else None,
            container=info.container,
            host=host,
            host_problem=problem,
            is_master=tid == self.master_id,
            master_id=self.master_id,
            threads=[f"{t.id}: {t.name}" for t in self._threads.values()],
        )

    def _skipped(self, tid: int, due_at: float, waited: float) -> None:
        self.ctx.bus.publish(
            EventKind.HEARTBEAT,
            thread_id=tid,
            action="skipped",
            tiers=[],
            ok=None,
            reply=f"waited {waited:.0f} s (more than {self.scheduler.stale_after:.0f} s)",
        )
        self.ctx.log_activity(
            "warning",
            f"heartbeat of thread {tid} skipped: it waited {waited:.0f} s",
            subject=f"thread/{tid}",
        )
        if tid in self._threads:
            self._publish(tid)

    def heartbeat_template(self, tid: int) -> str:
        """The HEARTBEAT.md a missing file is created from: TinyClaw's own template for a
        thread TinyClaw knows (in threads.json), so its agent finds the per-tier sections;
        the seed's template for a thread only clawtui's config defines."""
        source = self._threads[tid].source if tid in self._threads else "config"
        return hbmd.TINYCLAW_TEMPLATE if source != "config" else hbmd.TEMPLATE

    async def read_container_heartbeats(self, *, attempts: int = 30, wait: float = 2.0) -> None:
        """At start: read (never create) the HEARTBEAT.md of each container thread, so its
        stamps and liveness show before its first beat; retried while its host connects."""
        todo = [t for t in self.ids() if self._threads[t].container]
        for _ in range(attempts):
            left: list[int] = []
            for tid in todo:
                info = self._threads.get(tid)
                if info is None or not info.container or tid in self._results:
                    continue
                try:
                    where = container_md.locate(
                        self.ctx.monitors, info.host, info.container, info.cwd
                    )
                    if where.monitor.client is None:
                        left.append(tid)
                        continue
                    self._docs[tid], _ = await container_md.read(where)
                    self._doc_problem.pop(tid, None)
                except FileNotFoundError:
                    self._doc_problem[tid] = "HEARTBEAT.md does not exist in the container yet"
                except (hbmd.HeartbeatError, OSError) as exc:
                    self._doc_problem[tid] = str(exc)
                self._publish(tid)
            if not left:
                return
            todo = left
            await asyncio.sleep(wait)

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
        info = self._threads[tid]
        path = self.heartbeat_path(tid)
        doc: hbmd.HeartbeatDoc | None = None
        inside: container_md.ContainerFile | None = None
        if info.container:  # the agent's HEARTBEAT.md is inside its container
            path = None
            try:
                inside = container_md.locate(self.ctx.monitors, info.host, info.container, info.cwd)
                doc, _ = await container_md.ensure(inside)
                self._docs[tid] = doc
                self._doc_problem.pop(tid, None)
            except (hbmd.HeartbeatError, OSError) as exc:
                inside = None
                self._doc_problem[tid] = str(exc)
        elif path is not None:
            try:
                doc = await asyncio.to_thread(hbmd.ensure, path, self.heartbeat_template(tid))
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
        if inside is not None and doc is not None:
            try:
                self._docs[tid] = await container_md.update_timestamps(
                    inside, {t: datetime.fromtimestamp(finished, UTC) for t in tiers}
                )
                self._hb_mtime[tid] = finished
            except (hbmd.HeartbeatError, OSError) as exc:
                self._doc_problem[tid] = f"timestamps not updated: {exc}"
        if path is not None and doc is not None:
            stamp = datetime.fromtimestamp(finished, UTC)
            try:
                new = await asyncio.to_thread(
                    hbmd.update_timestamps,
                    path,
                    {t: stamp for t in tiers},
                    self.heartbeat_template(tid),
                )
                self._docs[tid] = new
                self._hb_mtime[tid] = finished
            except (hbmd.HeartbeatError, OSError) as exc:
                self._doc_problem[tid] = f"timestamps not updated: {exc}"
        self._results[tid] = (finished, outcome.ok, outcome.reply)
        written = isinstance(outcome, TinyClawOutcome) and outcome.in_outgoing
        await self._route(tid, tiers, outcome.reply, outcome.ok, outcome.report, written)
        self.ctx.bus.publish(
            EventKind.HEARTBEAT,
            thread_id=tid,
            action="ran",
            tiers=list(tiers),
            ok=outcome.ok,
            reply=outcome.reply[:2000],
        )
        self._publish(tid)

    async def _route(
        self,
        tid: int,
        tiers: list[hbmd.Tier],
        reply: str,
        ok: bool,
        report: str | None,
        written: bool = False,
    ) -> None:
        """TinyClaw's response routing: OK replies are suppressed; findings are delivered
        (`written`: the agent's reply is already in queue/outgoing)."""
        name = self._threads[tid].name
        if not ok and not is_ok_reply(reply) and not written:
            try:
                msg = await asyncio.to_thread(
                    self.queue.reply, tid, reply, original="heartbeat " + "+".join(tiers)
                )
                self._recent_out.setdefault(tid, deque(maxlen=_RECENT)).append(msg)
            except QueueError as exc:
                log.warning("heartbeat reply of thread %s not written: %s", tid, exc)
        if not ok and not is_ok_reply(reply):
            self.notifier.notify(
                Notification(
                    kind="heartbeat.findings",
                    text=f"Thread {name} ({tid}) heartbeat:\n{reply[:3000]}",
                    data={"thread_id": tid, "tiers": list(tiers)},
                )
            )
            self.ctx.log_activity(
                "warning",
                f"heartbeat of {name}: {reply.splitlines()[0][:200]}",
                subject=f"thread/{tid}",
            )
        if report and tid != self.master_id:
            if self.master_id in self._threads:
                try:
                    await asyncio.to_thread(
                        self.queue.deliver,
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
            self.ctx.log_activity("warning", f"knowledge base not updated: {exc}")
            return
        self.ctx.bus.publish(EventKind.KB, action="report", thread_id=tid, committed=committed)

    def _queue_files_seen(self, paths: list[Path]) -> set[int]:
        """Queue files named by watch events, read while they exist (TinyClaw's Telegram client
        deletes an outgoing file about a second after it appears, so a later scan would miss
        it): agent replies in outgoing count as their thread's activity and show in its detail;
        daily reports to the master (from agents or an external runner) go into the KB.
        Returns the threads whose activity changed."""
        touched: set[int] = set()
        queue = self.queue
        if len(self._seen_reports) > 50_000:
            self._seen_reports.clear()
        kb = self.kb_dir()
        for path in sorted(set(paths)):
            folder = path.parent.name
            if folder not in ("incoming", "outgoing") or path.name in self._seen_reports:
                continue
            model = OutgoingMessage if folder == "outgoing" else IncomingMessage
            try:
                msg = queue.read(path, model)
            except QueueError:
                continue  # gone already, half-written or not a message: nothing to count
            self._seen_reports.add(path.name)
            if isinstance(msg, OutgoingMessage) and msg.threadId in self._threads:
                tid = msg.threadId
                seen = msg.timestamp / 1000.0
                if seen > self._reply_ms.get(tid, 0.0):
                    self._reply_ms[tid] = seen
                    touched.add(tid)
                recent = self._recent_out.setdefault(tid, deque(maxlen=_RECENT))
                if all(m.messageId != msg.messageId for m in recent):
                    recent.append(msg)
            if kb is None or not isinstance(msg, IncomingMessage | OutgoingMessage):
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
        return touched


def _report_source(msg: IncomingMessage | OutgoingMessage, master: int) -> int | None:
    """The thread a daily report to the master came from, or None when `msg` is not one."""
    if not msg.message.lstrip().lower().startswith(REPORT_PREFIX.lower()):
        return None
    if isinstance(msg, OutgoingMessage):  # an agent's send_message, not yet routed
        return msg.threadId if msg.targetThreadId == master and msg.threadId != master else None
    source = msg.sourceThreadId
    return source if msg.threadId == master and source is not None and source != master else None
