"""Ingress step 2, delivery: stored deliveries written into their thread's TinyClaw queue.

`IngressDelivery` is the base of `Ingress`: it holds the records and counters, the durable
SQLite transaction the intakes store in, and the one worker that writes each stored delivery
into its thread's queue (message id `ingress_<id>`), marks it delivered and raises the CI
escalation a failing streak asked for. See `ingress/manager.py` for the whole flow.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import sqlite3
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from clawtui.engine.api.escalations import NewEscalation, Severity, Source
from clawtui.engine.api.ingress import IngressKind, IngressRecord, IngressStats, Outcome
from clawtui.engine.api.models import EventKind
from clawtui.engine.ingress import store as db
from clawtui.engine.ingress.guards import RateLimiter
from clawtui.engine.threads.queue import QUEUE_DIRS, QueueError, incoming_message, message_json

if TYPE_CHECKING:
    from clawtui.engine.context import Context
    from clawtui.engine.escalations.manager import Escalations
    from clawtui.engine.notifier import Notifier
    from clawtui.engine.threads.queue import TinyClawQueue

log = logging.getLogger(__name__)

RECENT_RECORDS: Final = 300
RETRY_MAX_SECONDS: Final = 30.0


@dataclass
class PendingDelivery:
    id: str
    kind: IngressKind
    received_at: float
    thread_id: int | None
    text: str
    fields: dict[str, Any]
    escalate: str | None = None
    summary: str = ""
    attempts: int = 0
    message: bytes | None = None
    """The TinyClaw message, built once and stored: written to the queue byte for byte.
    None while the target thread is unknown (`fields` then holds what it is built from)."""


def final_message(delivery_id: str, thread_id: int, text: str, fields: dict[str, Any]) -> bytes:
    """The queue message of a delivery: `fields` are `TinyClawQueue.deliver`'s keyword
    arguments (channel, source, sender, sender_id, source_thread_id, extra fields; extra fields
    that are None are left out). QueueError when they do not make a valid message."""
    known = {
        k: fields[k]
        for k in ("channel", "source", "sender", "sender_id", "source_thread_id")
        if k in fields
    }
    extra = {k: v for k, v in fields.items() if k not in known and v is not None}
    msg = incoming_message(thread_id, text, message_id=f"ingress_{delivery_id}", **known, **extra)
    return message_json(msg)


def stored_fields(
    delivery_id: str, thread_id: int | None, text: str, fields: dict[str, Any]
) -> tuple[str, bytes | None]:
    """What an intake stores in `ingress_deliveries.fields`, and the message it built: the
    final message when the target thread is known and it is valid, else `fields` as JSON
    (the message is then built at delivery, and reported there if it cannot be)."""
    if thread_id is not None:
        try:
            message = final_message(delivery_id, thread_id, text, fields)
        except (QueueError, UnicodeError):  # reported when the delivery is tried, as before
            pass
        else:
            return message.decode("utf-8"), message
    return json.dumps(fields), None


UNAUTH_ANNOUNCE_EVERY: Final = 60.0
"""Seconds after which the next unauthenticated request of a kind is announced anyway."""


class IngressDelivery:
    """Records, storage and the delivery worker of the engine's ingress (`engine.ingress`)."""

    def __init__(
        self,
        ctx: Context,
        queue: TinyClawQueue,
        escalations: Escalations,
        notifier: Notifier | None = None,
    ) -> None:
        self.ctx = ctx
        self.queue = queue
        self.escalations = escalations
        self.notifier = notifier
        self.stats = IngressStats()
        self.recent: collections.deque[IngressRecord] = collections.deque(maxlen=RECENT_RECORDS)
        self.rate = RateLimiter()
        self._unauth: dict[str, tuple[int, float, int]] = {}
        """Per kind: 401s seen, monotonic time of the last one announced, not announced since."""
        self._queue: asyncio.Queue[PendingDelivery] | None = None
        self._queued: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._retry_tasks: set[asyncio.Task[None]] = set()

    # -- records -----------------------------------------------------------------------------
    def record(self, rec: IngressRecord, *, activity: str | None = None) -> IngressRecord:
        self.recent.append(rec)
        self.stats.results[(rec.kind, rec.result)] += 1
        self.ctx.bus.publish(EventKind.INGRESS, record=rec)
        if activity is not None:
            self.ctx.log_activity(activity, self._activity_text(rec), subject=f"ingress/{rec.kind}")
        return rec

    @staticmethod
    def _activity_text(rec: IngressRecord) -> str:
        who = f"{rec.sender} → {rec.target}: " if rec.sender else ""
        what = rec.summary or rec.reason
        if rec.result == "rejected":
            return f"{rec.kind} rejected ({rec.status}): {who}{rec.reason}"
        if rec.result == "delivered":
            return f"{rec.kind} delivered to thread {rec.thread_id}: {who}{what}"
        return f"{rec.kind} {rec.result}: {who}{what}"

    def reject(
        self,
        kind: IngressKind,
        status: int,
        reason: str,
        *,
        sender: str | None = None,
        target: str | None = None,
        retry_after: int | None = None,
    ) -> Outcome:
        """Count and announce a refused request; the Outcome the service answers.

        A 401 (no or a wrong secret: anyone on the network can send those) is always counted,
        but announced (record, event, activity row and its log line) only for the 1st, 2nd,
        4th, 8th ... of a kind, or when UNAUTH_ANNOUNCE_EVERY seconds have passed since the
        last announcement; the announcement says how many were not.
        """
        shown = reason
        if status == 401:
            announce, shown = self._unauth_announce(kind, reason)
            if not announce:
                self.stats.results[(kind, "rejected")] += 1
                return Outcome(
                    status, {"ok": False, "error": {"status": status, "message": reason}}, None
                )
        self.record(
            IngressRecord(
                kind=kind,
                result="rejected" if status < 500 else "unavailable",
                status=status,
                reason=shown,
                sender=sender,
                target=target,
            ),
            activity="warning",
        )
        return Outcome(
            status, {"ok": False, "error": {"status": status, "message": reason}}, retry_after
        )

    def _unauth_announce(self, kind: IngressKind, reason: str) -> tuple[bool, str]:
        """(announce this 401?, the reason to announce it with)."""
        count, last, quiet = self._unauth.get(kind, (0, 0.0, 0))
        count += 1
        now = time.monotonic()
        if count & (count - 1) == 0 or now - last >= UNAUTH_ANNOUNCE_EVERY:
            if quiet:
                reason = f"{reason} (and {quiet} more like it since the last one shown)"
            self._unauth[kind] = (count, now, 0)
            return True, reason
        self._unauth[kind] = (count, last, quiet + 1)
        return False, reason

    # -- storage helpers ---------------------------------------------------------------------
    def _durable(self) -> AbstractContextManager[sqlite3.Connection]:
        """A write transaction synced to disk at commit (synchronous=FULL for this one)."""
        return self.ctx.store.transaction(durable=True)

    @staticmethod
    def _load_pending(conn: sqlite3.Connection) -> list[PendingDelivery]:
        out: list[PendingDelivery] = []
        for row in db.pending_deliveries(conn):
            try:
                fields = json.loads(row["fields"] or "{}")
            except ValueError:
                fields = {}
            if not isinstance(fields, dict):
                fields = {}
            final = "messageId" in fields  # else what the message is built from
            out.append(
                PendingDelivery(
                    row["id"],
                    row["kind"],
                    float(row["received_at"]),
                    row["thread_id"],
                    row["text"] or "",
                    fields,
                    row["escalate"],
                    row["summary"] or "",
                    message=str(row["fields"]).encode("utf-8") if final else None,
                )
            )
        return out

    # -- delivery ----------------------------------------------------------------------------
    def _enqueue(self, item: PendingDelivery) -> None:
        if self._queue is None or item.id in self._queued:
            return
        self._queued.add(item.id)
        self._queue.put_nowait(item)

    async def _worker(self) -> None:
        assert self._queue is not None
        while True:
            item = await self._queue.get()
            try:
                done = await self._deliver(item)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one bad row must not stop every later delivery
                log.exception("ingress: delivering %s failed", item.id)
                done, item.attempts = False, item.attempts + 1
                await self._mark_error(item, f"unexpected error: {exc}")
            if done:
                self._queued.discard(item.id)
            else:
                self._retry_later(item)

    def _retry_later(self, item: PendingDelivery) -> None:
        delay = min(RETRY_MAX_SECONDS, 0.5 * 2 ** min(item.attempts, 8))

        async def again() -> None:
            await asyncio.sleep(delay)
            if self._queue is not None:
                self._queue.put_nowait(item)

        task = asyncio.create_task(again(), name=f"engine:ingress-retry:{item.id}")
        self._retry_tasks.add(task)
        task.add_done_callback(self._retry_tasks.discard)

    def _thread_for(self, item: PendingDelivery) -> int | None:
        if item.thread_id is not None:
            return item.thread_id
        return self.ctx.settings.webhook.thread_id if item.kind == "webhook" else None

    def _already_queued(self, message_id: str) -> bool:
        queue = self.queue
        return any((queue.folder(name) / f"{message_id}.json").exists() for name in QUEUE_DIRS)

    def _write(self, message_id: str, message: bytes) -> bool:
        """Write the stored message verbatim; False when it was already there (a delivery
        before a crash)."""
        if self._already_queued(message_id):
            return False
        self.queue.deliver_stored(message)
        return True

    async def _finish_message(self, item: PendingDelivery, thread_id: int) -> bytes:
        """The message of a delivery stored before its thread was known: built and stored
        once, then delivered like every other."""
        message = final_message(item.id, thread_id, item.text, item.fields)

        def store(conn: sqlite3.Connection) -> None:
            with self.ctx.store.transaction():
                db.set_fields(conn, item.id, message.decode("utf-8"))

        await self.ctx.store.arun(store)
        item.message = message
        return message

    async def _deliver(self, item: PendingDelivery) -> bool:
        thread_id = self._thread_for(item)
        if thread_id is None:
            item.attempts += 1
            await self._mark_error(item, "no target thread: set [webhook] thread_id")
            return False
        try:
            message = item.message or await self._finish_message(item, thread_id)
            written = await asyncio.to_thread(self._write, f"ingress_{item.id}", message)
        except QueueError as exc:
            item.attempts += 1
            await self._mark_error(item, str(exc))
            if item.attempts == 1:
                self.record(
                    IngressRecord(
                        kind=item.kind,
                        result="failed",
                        reason=str(exc)[:300],
                        summary=item.summary,
                        thread_id=thread_id,
                        delivery_id=item.id,
                    ),
                    activity="warning",
                )
            return False
        if item.escalate:
            await self._escalate(item, thread_id)
        now = time.time()

        def mark(conn: sqlite3.Connection) -> None:
            with self.ctx.store.transaction():
                db.mark_delivered(conn, item.id, thread_id, now)

        await self.ctx.store.arun(mark)
        if written:
            self.stats.latency[item.kind].observe(max(0.0, now - item.received_at))
        sender = item.fields.get("relayedFrom")
        self.record(
            IngressRecord(
                kind=item.kind,
                result="delivered",
                summary=item.summary,
                sender=sender if isinstance(sender, str) else None,
                thread_id=thread_id,
                delivery_id=item.id,
            ),
            activity="info",
        )
        return True

    async def _mark_error(self, item: PendingDelivery, error: str) -> None:
        def mark(conn: sqlite3.Connection) -> None:
            with self.ctx.store.transaction():
                db.set_error(conn, item.id, error)

        try:
            await self.ctx.store.arun(mark)
        except (sqlite3.Error, OSError) as exc:
            log.warning("ingress: cannot record the error of %s: %s", item.id, exc)

    async def _escalate(self, item: PendingDelivery, thread_id: int) -> None:
        try:
            info = json.loads(item.escalate or "{}")
        except ValueError:
            return
        if not isinstance(info, dict):
            return
        pipeline = str(info.get("pipeline", "?"))
        failures = info.get("failures", "?")
        await self.escalations.raise_(
            NewEscalation(
                agent="ci",
                thread_id=thread_id,
                doing=f"building {info.get('definition') or pipeline} on "
                f"{info.get('branch') or '?'}"[:4000],
                tried=[f"{failures} builds in a row failed, the last {info.get('last_build')}"],
                need="a person to look at a pipeline that keeps failing: the agents' fixes "
                "have not made it pass",
                proposed_fix=(
                    f"open {info['link']} and check the failing step" if info.get("link") else None
                ),
                severity=Severity.HIGH,
                source=Source.CI,
                dedupe_key=f"ci:{pipeline}"[:256],  # = ci_loop.ci_key
            )
        )
