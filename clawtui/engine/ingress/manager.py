"""Ingress: the Azure DevOps build webhook and the inter-agent relay, stored then delivered.

Seed 002 §2.1 / §10: a failed build wakes the DevOps agent; §2.4: agents hand work to each
other through a relay with a route whitelist. Both end as a message in a thread's TinyClaw
queue (`engine.queue.deliver`), in two steps:

1. **accept**: the request is checked (the service checks secrets and body size first), then
   stored in SQLite (`ingress_deliveries`, one row per delivery, unique on its dedupe key) in
   a transaction that is synced to disk before the caller answers 2xx. A webhook retried by
   Azure DevOps finds its row and is answered 200 as a duplicate. A body with a valid secret
   that cannot be understood is kept in `ingress_quarantine` and acknowledged, so Azure DevOps
   does not put the subscription on probation.
2. **deliver**: one worker writes each stored delivery into its thread's queue with a message
   id derived from the delivery id (`ingress_<id>`), then marks the row delivered. The queue
   refuses to overwrite a message id, and the worker first looks for that file in every queue
   folder, so a delivery written just before a crash is not written twice. On start, every
   undelivered row is delivered.

Failed builds also feed a per-pipeline streak (`ingress_ci_streaks`, same transaction as the
delivery); the `escalate_after`-th consecutive failure raises a CI escalation (deduplicated
per pipeline while pending) when that delivery is delivered.

Events: `EventKind.INGRESS` with `data = {"record": IngressRecord}` for every accepted,
duplicate, ignored, quarantined, delivered or rejected request; rejections and deliveries
also go to the activity log. Counters and latency histograms for /metrics are in `stats`.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import hmac
import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from clawtui.engine.api.escalations import NewEscalation, Severity, Source
from clawtui.engine.api.models import EventKind
from clawtui.engine.ingress import azure_devops as azdo
from clawtui.engine.threads.queue import QUEUE_DIRS, QueueError

if TYPE_CHECKING:
    from clawtui.config.ingress import RelayRoute
    from clawtui.engine.core import Engine

log = logging.getLogger(__name__)
T = TypeVar("T")

IngressKind = Literal["webhook", "relay"]
RECENT_RECORDS: Final = 300
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
RETRY_MAX_SECONDS: Final = 30.0
QUARANTINE_KEEP: Final = 500
RELAY_ENVELOPE_BYTES: Final = 8 * 1024
"""A relay body may exceed `max_message_bytes` by this much (the JSON around the message)."""


class IngressRecord(BaseModel):
    """One thing that happened at the door (shown in the TUI, sent as INGRESS event data)."""

    model_config = ConfigDict(frozen=True)

    ts: float = Field(default_factory=time.time)
    kind: IngressKind
    result: str = Field(
        description="accepted | duplicate | ignored | quarantined | delivered | rejected | "
        "unavailable | failed"
    )
    status: int = Field(0, description="HTTP status answered (0: not an HTTP answer).")
    reason: str = ""
    summary: str = ""
    sender: str | None = None
    target: str | None = None
    thread_id: int | None = None
    delivery_id: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What the service answers: status code and JSON body."""

    status: int
    body: dict[str, Any]
    retry_after: int | None = None


class LatencyHistogram:
    """A Prometheus-style cumulative histogram plus the raw recent samples (for benchmarks)."""

    def __init__(self, buckets: Iterable[float] = LATENCY_BUCKETS) -> None:
        self.buckets = tuple(sorted(buckets))
        self.counts = [0] * (len(self.buckets) + 1)
        self.sum = 0.0
        self.count = 0
        self.recent: collections.deque[float] = collections.deque(maxlen=10_000)

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, seconds)] += 1
        self.sum += seconds
        self.count += 1
        self.recent.append(seconds)

    def cumulative(self) -> list[tuple[str, int]]:
        out: list[tuple[str, int]] = []
        total = 0
        for bound, n in zip((*map(str, self.buckets), "+Inf"), self.counts, strict=True):
            total += n
            out.append((bound, total))
        return out


@dataclass
class IngressStats:
    """Counters for /metrics: by (kind, result), dedupe hits, latency to the queue."""

    results: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)
    dedupe_hits: int = 0
    latency: dict[str, LatencyHistogram] = field(
        default_factory=lambda: {"webhook": LatencyHistogram(), "relay": LatencyHistogram()}
    )


class RateLimiter:
    """At most `limit` events per `window` seconds per key (sliding window)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._hits: dict[str, collections.deque[float]] = {}

    def check(self, key: str, limit: int, window: float) -> float:
        """0 and count the hit when allowed; else seconds until the next slot frees."""
        now = self._clock()
        hits = self._hits.setdefault(key, collections.deque())
        while hits and hits[0] <= now - window:
            hits.popleft()
        if len(hits) >= limit:
            return max(0.001, hits[0] + window - now)
        hits.append(now)
        return 0.0


def secret_matches(given: str | None, accepted: Iterable[str]) -> bool:
    """Constant-time compare on bytes against every accepted secret (no early exit)."""
    if given is None:
        return False
    raw = given.encode("utf-8", "surrogateescape")
    found = False
    for secret in accepted:
        found |= hmac.compare_digest(raw, secret.encode("utf-8", "surrogateescape"))
    return found


class RelayBody(BaseModel):
    """`POST /relay` body (seed §12.4): `{"from": "ryan", "to": "cody", "message": "..."}`.

    `via` is the trail of agents a forwarded message already passed (copy the `relayVia`
    field of the message you got); `id` makes a retry idempotent.
    """

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)

    sender: StrictStr = Field(alias="from", min_length=1, max_length=64)
    to: StrictStr = Field(min_length=1, max_length=64)
    message: StrictStr = Field(min_length=1)
    via: list[StrictStr] = Field(default_factory=list, max_length=64)
    id: StrictStr | None = Field(default=None, min_length=1, max_length=128)


def _body_problem(exc: ValidationError) -> str:
    problems: list[str] = []
    for error in exc.errors(include_url=False)[:5]:
        loc = ".".join(str(p) for p in error["loc"]) or "body"
        kind = error["type"]
        if kind == "extra_forbidden":
            problems.append(f"unknown field {loc[:40]!r} (expected from, to, message, via, id)")
        elif kind == "missing":
            problems.append(f"field {loc!r} is required")
        elif kind == "string_type":
            problems.append(f"field {loc!r} must be a string")
        elif kind == "list_type":
            problems.append(f"field {loc!r} must be a list of agent names")
        else:
            problems.append(f"field {loc!r}: {error['msg']}")
    return "invalid relay body: " + "; ".join(problems)


@dataclass
class _Pending:
    id: str
    kind: IngressKind
    received_at: float
    thread_id: int | None
    text: str
    fields: dict[str, Any]
    escalate: str | None = None
    summary: str = ""
    attempts: int = 0


_COLUMNS: Final = (
    "id, kind, dedupe_key, received_at, status, thread_id, sender, target, summary, text, "
    "fields, escalate, delivered_at, error"
)


class IngressError(Exception):
    """A request to change ingress settings was refused; the message says why."""


class Ingress:
    """The engine's ingress component (`engine.ingress`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.stats = IngressStats()
        self.recent: collections.deque[IngressRecord] = collections.deque(maxlen=RECENT_RECORDS)
        self.rate = RateLimiter()
        self._queue: asyncio.Queue[_Pending] | None = None
        self._queued: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._retry_tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        self._queue = asyncio.Queue()
        for problem in self.engine.settings.relay.route_problems():
            self.engine.log_activity("warning", problem, subject="ingress/relay")
        pending = await self.engine.store.arun(self._load_pending)
        for item in pending:
            self._enqueue(item)
        if pending:
            self.engine.log_activity(
                "info",
                f"ingress: delivering {len(pending)} stored message(s) left from the last run",
                subject="ingress",
            )
        self._task = asyncio.create_task(self._worker(), name="engine:ingress")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._retry_tasks) if t is not None]
        self._task = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._retry_tasks.clear()

    # -- settings ----------------------------------------------------------------------------
    def webhook_secrets(self) -> list[str]:
        return self.engine.settings.webhook.resolved_secrets()

    def routes(self) -> list[RelayRoute]:
        return list(self.engine.settings.relay.routes)

    def agents(self) -> list[str]:
        return [a.name for a in self.engine.settings.relay.agents]

    async def add_route(self, sender: str, to: str, note: str = "") -> RelayRoute:
        from clawtui.config.ingress import RelayRoute

        try:
            route = RelayRoute.model_validate({"from": sender, "to": to, "note": note})
        except ValidationError as exc:
            raise IngressError(exc.errors(include_url=False)[0]["msg"]) from None
        names = set(self.agents())
        unknown = [n for n in (route.sender, route.to) if n not in names]
        if unknown:
            raise IngressError(
                f"unknown agent {unknown[0]!r}: add it under [[relay.agents]] in config.toml "
                f"(known: {', '.join(sorted(names)) or 'none'})"
            )
        current = self.routes()
        if any(r.sender == route.sender and r.to == route.to for r in current):
            raise IngressError(f"the route {route.sender} → {route.to} is already allowed")
        await self._save_routes([*current, route])
        self.engine.log_activity(
            "info", f"relay route {route.sender} → {route.to} added", subject="ingress/relay"
        )
        return route

    async def remove_route(self, sender: str, to: str) -> None:
        current = self.routes()
        kept = [r for r in current if not (r.sender == sender and r.to == to)]
        if len(kept) == len(current):
            raise IngressError(f"there is no route {sender} → {to}")
        await self._save_routes(kept)
        self.engine.log_activity(
            "info", f"relay route {sender} → {to} removed", subject="ingress/relay"
        )

    async def _save_routes(self, routes: list[RelayRoute]) -> None:
        from clawtui.config import ConfigError, save_runtime_settings

        settings = self.engine.settings
        state_file: Path | None = settings.state_file
        if state_file is None:
            raise IngressError(
                "no runtime settings file is in use: change relay.routes in config.toml"
            )
        changes = {"relay": {"routes": [r.as_toml() for r in routes]}}
        try:
            await asyncio.to_thread(save_runtime_settings, changes, state_file=state_file)
        except (ConfigError, OSError) as exc:
            raise IngressError(f"cannot save the routes to {state_file}: {exc}") from exc
        settings.relay.routes = routes  # effective now, no restart

    # -- reads -------------------------------------------------------------------------------
    async def deliveries(self, limit: int = 100) -> list[dict[str, Any]]:
        """Stored deliveries, newest first (without their text)."""

        def query(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            rows = conn.execute(
                "SELECT id, kind, received_at, status, thread_id, sender, target, summary, "
                "delivered_at, error FROM ingress_deliveries ORDER BY received_at DESC LIMIT ?",
                (max(1, min(limit, 10_000)),),
            ).fetchall()
            return [dict(r) for r in rows]

        return await self.engine.store.arun(query)

    async def quarantine(self, limit: int = 50) -> list[dict[str, Any]]:
        def query(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            rows = conn.execute(
                "SELECT id, received_at, reason, length(body) AS size FROM ingress_quarantine "
                "ORDER BY id DESC LIMIT ?",
                (max(1, min(limit, 10_000)),),
            ).fetchall()
            return [dict(r) for r in rows]

        return await self.engine.store.arun(query)

    # -- records -----------------------------------------------------------------------------
    def record(self, rec: IngressRecord, *, activity: str | None = None) -> IngressRecord:
        self.recent.append(rec)
        self.stats.results[(rec.kind, rec.result)] += 1
        self.engine.bus.publish(EventKind.INGRESS, record=rec)
        if activity is not None:
            self.engine.log_activity(
                activity, self._activity_text(rec), subject=f"ingress/{rec.kind}"
            )
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
        """Count and announce a refused request; the Outcome the service answers."""
        self.record(
            IngressRecord(
                kind=kind,
                result="rejected" if status < 500 else "unavailable",
                status=status,
                reason=reason,
                sender=sender,
                target=target,
            ),
            activity="warning",
        )
        return Outcome(
            status, {"ok": False, "error": {"status": status, "message": reason}}, retry_after
        )

    # -- webhook -----------------------------------------------------------------------------
    async def accept_webhook(self, body: bytes) -> Outcome:
        """Store one authenticated webhook body; the Outcome is answered only after commit."""
        cfg = self.engine.settings.webhook
        received = time.time()
        try:
            payload = azdo.load_json(body)
            event_type = azdo.event_type(payload)
            build = azdo.parse_build(payload) if event_type == azdo.EVENT_BUILD_COMPLETE else None
        except azdo.PayloadError as exc:
            return await self._quarantine(body, str(exc), received)
        key = azdo.dedupe_key(payload, body)
        did = azdo.delivery_id(key, "wh")
        if build is None:
            status, summary, text = "ignored", f"{event_type} event (not a build)", None
        elif build.wakes:
            status, summary, text = "pending", build.summary(), build.message()
        else:
            status, summary, text = "ignored", build.summary(), None
        fields = {
            "channel": cfg.channel,
            "source": "system",
            "sender": "Azure DevOps",
            "sender_id": "azure-devops",
            "ciBuildId": build.build_id if build else None,
            "ciResult": build.result_label if build else None,
        }
        thread_id = cfg.thread_id

        def store(conn: sqlite3.Connection) -> tuple[str, bool, str | None]:
            existing = conn.execute(
                "SELECT status FROM ingress_deliveries WHERE dedupe_key = ?", (key,)
            ).fetchone()
            if existing is not None:
                return str(existing["status"]), False, None
            with self._durable(conn):
                escalate = self._update_streak(conn, build, received, cfg.escalate_after)
                conn.execute(
                    f"INSERT INTO ingress_deliveries ({_COLUMNS}) "
                    "VALUES (?, 'webhook', ?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?, NULL, NULL)",
                    (
                        did,
                        key,
                        received,
                        status,
                        thread_id,
                        summary,
                        text,
                        json.dumps(fields),
                        escalate,
                    ),
                )
            return status, True, escalate

        try:
            stored_status, created, escalate = await self.engine.store.arun(store)
        except (sqlite3.Error, OSError) as exc:
            log.warning("webhook: cannot store a delivery: %s", exc)
            return self.reject(
                "webhook",
                503,
                f"cannot store the delivery right now ({exc}); retry later",
                retry_after=5,
            )
        if not created:
            self.stats.dedupe_hits += 1
            self.record(
                IngressRecord(
                    kind="webhook", result="duplicate", status=200, summary=summary, delivery_id=did
                )
            )
            return Outcome(
                200, {"ok": True, "id": did, "status": "duplicate", "stored_status": stored_status}
            )
        if status == "ignored":
            self.record(
                IngressRecord(
                    kind="webhook", result="ignored", status=200, summary=summary, delivery_id=did
                )
            )
            return Outcome(200, {"ok": True, "id": did, "status": "ignored", "summary": summary})
        assert text is not None
        self.record(
            IngressRecord(
                kind="webhook",
                result="accepted",
                status=200,
                summary=summary,
                thread_id=thread_id,
                delivery_id=did,
            )
        )
        self._enqueue(
            _Pending(did, "webhook", received, thread_id, text, fields, escalate, summary)
        )
        return Outcome(200, {"ok": True, "id": did, "status": "queued", "summary": summary})

    @staticmethod
    def _update_streak(
        conn: sqlite3.Connection, build: azdo.BuildEvent | None, now: float, threshold: int
    ) -> str | None:
        """Count consecutive failures per pipeline; the escalation text when due."""
        if build is None or (not build.wakes and build.result not in azdo.SUCCESS_RESULTS):
            return None
        key = build.pipeline_key
        if not build.wakes:
            conn.execute(
                "INSERT INTO ingress_ci_streaks (pipeline, failures, last_build, updated_at) "
                "VALUES (?, 0, ?, ?) ON CONFLICT(pipeline) DO UPDATE SET failures = 0, "
                "last_build = excluded.last_build, updated_at = excluded.updated_at",
                (key, build.build_number or build.build_id, now),
            )
            return None
        conn.execute(
            "INSERT INTO ingress_ci_streaks (pipeline, failures, last_build, updated_at) "
            "VALUES (?, 1, ?, ?) ON CONFLICT(pipeline) DO UPDATE SET failures = failures + 1, "
            "last_build = excluded.last_build, updated_at = excluded.updated_at",
            (key, build.build_number or build.build_id, now),
        )
        row = conn.execute(
            "SELECT failures FROM ingress_ci_streaks WHERE pipeline = ?", (key,)
        ).fetchone()
        failures = int(row["failures"])
        if failures < threshold:
            return None
        return json.dumps(
            {
                "pipeline": key,
                "definition": build.definition,
                "branch": build.branch,
                "failures": failures,
                "last_build": build.build_number or build.build_id,
                "link": build.link,
            }
        )

    async def _quarantine(self, body: bytes, reason: str, received: float) -> Outcome:
        def store(conn: sqlite3.Connection) -> int:
            with self._durable(conn):
                cur = conn.execute(
                    "INSERT INTO ingress_quarantine (received_at, reason, body) VALUES (?, ?, ?)",
                    (received, reason, body),
                )
                conn.execute(
                    "DELETE FROM ingress_quarantine WHERE id <= ?",
                    (int(cur.lastrowid or 0) - QUARANTINE_KEEP,),
                )
            return int(cur.lastrowid or 0)

        try:
            qid = await self.engine.store.arun(store)
        except (sqlite3.Error, OSError) as exc:
            return self.reject(
                "webhook", 503, f"cannot store the body right now ({exc})", retry_after=5
            )
        self.record(
            IngressRecord(
                kind="webhook",
                result="quarantined",
                status=202,
                reason=reason,
                summary=f"quarantine #{qid}",
            ),
            activity="warning",
        )
        return Outcome(
            202, {"ok": True, "status": "quarantined", "quarantine_id": qid, "reason": reason}
        )

    # -- relay -------------------------------------------------------------------------------
    def relay_sender(self, secret: str | None) -> str | None:
        """The agent whose secret this is (every agent is compared, in constant time)."""
        if secret is None:
            return None
        raw = secret.encode("utf-8", "surrogateescape")
        found: str | None = None
        for agent in self.engine.settings.relay.agents:
            own = agent.resolved_secret()
            if own is not None and hmac.compare_digest(raw, own.encode("utf-8")):
                found = found or agent.name
        return found

    async def accept_relay(self, secret: str | None, body: bytes) -> Outcome:
        cfg = self.engine.settings.relay
        received = time.time()
        sender = self.relay_sender(secret)
        if sender is None:
            why = "missing X-Relay-Secret header" if secret is None else "wrong X-Relay-Secret"
            return self.reject("relay", 401, f"{why}: each agent sends its own relay secret")
        wait = self.rate.check(sender, cfg.rate_limit, cfg.rate_window)
        if wait:
            return self.reject(
                "relay",
                429,
                f"rate limit: {sender} may relay {cfg.rate_limit} messages per "
                f"{cfg.rate_window:g} s; retry in {wait:.1f} s",
                sender=sender,
                retry_after=max(1, int(wait + 0.999)),
            )
        try:
            msg = RelayBody.model_validate(azdo.load_json(body))
        except azdo.PayloadError as exc:
            return self.reject("relay", 400, f"the body is not a JSON object: {exc}", sender=sender)
        except ValidationError as exc:
            return self.reject("relay", 400, _body_problem(exc)[:1000], sender=sender)
        shown_from, shown_to = azdo.clean(msg.sender, 64), azdo.clean(msg.to, 64)
        if msg.sender != sender:
            return self.reject(
                "relay",
                403,
                f"'from' is {shown_from!r} but the secret belongs to {sender!r}",
                sender=sender,
                target=shown_to,
            )
        target = cfg.agent(msg.to)
        if target is None:
            return self.reject(
                "relay", 404, f"unknown agent {shown_to!r} in 'to'", sender=sender, target=shown_to
            )
        if not any(r.sender == sender and r.to == msg.to for r in cfg.routes):
            return self.reject(
                "relay",
                403,
                f"route {sender} → {msg.to} is not in the relay whitelist",
                sender=sender,
                target=msg.to,
            )
        size = len(msg.message.encode("utf-8", "surrogatepass"))
        if size > cfg.max_message_bytes:
            return self.reject(
                "relay",
                413,
                f"message is {size} bytes; the relay takes at most {cfg.max_message_bytes}",
                sender=sender,
                target=msg.to,
            )
        via = [*msg.via, sender]
        if len(via) > cfg.max_hops:
            trail = " → ".join(azdo.clean(v, 32) for v in [*via, msg.to])
            return self.reject(
                "relay",
                409,
                f"hop limit: this message already passed {len(msg.via)} relay(s) "
                f"(limit {cfg.max_hops}): {trail}",
                sender=sender,
                target=msg.to,
            )
        key = f"relay:{sender}:{msg.id or uuid.uuid4().hex}"
        did = azdo.delivery_id(key, "rl")
        source_agent = cfg.agent(sender)
        fields = {
            "channel": cfg.channel,
            "source": "cross-thread",
            "sender": sender,
            "sender_id": f"relay:{sender}",
            "source_thread_id": source_agent.thread_id if source_agent else None,
            "relayedFrom": sender,
            "relayVia": via,
            "relayHops": len(via),
        }
        summary = azdo.clean(msg.message.splitlines()[0] if msg.message.strip() else "", 120)

        def store(conn: sqlite3.Connection) -> bool:
            with self._durable(conn):
                cur = conn.execute(
                    f"INSERT OR IGNORE INTO ingress_deliveries ({_COLUMNS}) "
                    "VALUES (?, 'relay', ?, ?, 'pending', ?, ?, ?, ?, ?, ?, NULL, NULL, NULL)",
                    (
                        did,
                        key,
                        received,
                        target.thread_id,
                        sender,
                        msg.to,
                        summary,
                        msg.message,
                        json.dumps(fields),
                    ),
                )
            return cur.rowcount > 0

        try:
            created = await self.engine.store.arun(store)
        except (sqlite3.Error, OSError) as exc:
            return self.reject(
                "relay",
                503,
                f"cannot store the message right now ({exc})",
                sender=sender,
                target=msg.to,
                retry_after=5,
            )
        if not created:
            self.stats.dedupe_hits += 1
            self.record(
                IngressRecord(
                    kind="relay",
                    result="duplicate",
                    status=200,
                    sender=sender,
                    target=msg.to,
                    delivery_id=did,
                )
            )
            return Outcome(200, {"ok": True, "id": did, "status": "duplicate"})
        self.record(
            IngressRecord(
                kind="relay",
                result="accepted",
                status=202,
                summary=summary,
                sender=sender,
                target=msg.to,
                thread_id=target.thread_id,
                delivery_id=did,
            )
        )
        self._enqueue(
            _Pending(did, "relay", received, target.thread_id, msg.message, fields, None, summary)
        )
        return Outcome(202, {"ok": True, "id": did, "status": "queued", "hops": len(via)})

    # -- storage helpers ---------------------------------------------------------------------
    def _durable(self, conn: sqlite3.Connection) -> Any:
        """A write transaction synced to disk at commit (synchronous=FULL for this one)."""
        store = self.engine.store

        class _Txn:
            def __enter__(self) -> sqlite3.Connection:
                conn.execute("PRAGMA synchronous=FULL")
                self._inner = store.transaction()
                return self._inner.__enter__()

            def __exit__(self, *exc: Any) -> None:
                try:
                    self._inner.__exit__(*exc)
                finally:
                    conn.execute("PRAGMA synchronous=NORMAL")

        return _Txn()

    @staticmethod
    def _load_pending(conn: sqlite3.Connection) -> list[_Pending]:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM ingress_deliveries WHERE status = 'pending' "
            "ORDER BY received_at"
        ).fetchall()
        out: list[_Pending] = []
        for row in rows:
            try:
                fields = json.loads(row["fields"] or "{}")
            except ValueError:
                fields = {}
            out.append(
                _Pending(
                    row["id"],
                    row["kind"],
                    float(row["received_at"]),
                    row["thread_id"],
                    row["text"] or "",
                    fields if isinstance(fields, dict) else {},
                    row["escalate"],
                    row["summary"] or "",
                )
            )
        return out

    # -- delivery ----------------------------------------------------------------------------
    def _enqueue(self, item: _Pending) -> None:
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

    def _retry_later(self, item: _Pending) -> None:
        delay = min(RETRY_MAX_SECONDS, 0.5 * 2 ** min(item.attempts, 8))

        async def again() -> None:
            await asyncio.sleep(delay)
            if self._queue is not None:
                self._queue.put_nowait(item)

        task = asyncio.create_task(again(), name=f"engine:ingress-retry:{item.id}")
        self._retry_tasks.add(task)
        task.add_done_callback(self._retry_tasks.discard)

    def _thread_for(self, item: _Pending) -> int | None:
        if item.thread_id is not None:
            return item.thread_id
        return self.engine.settings.webhook.thread_id if item.kind == "webhook" else None

    def _already_queued(self, message_id: str) -> bool:
        queue = self.engine.queue
        return any((queue.folder(name) / f"{message_id}.json").exists() for name in QUEUE_DIRS)

    def _write(self, item: _Pending, thread_id: int) -> bool:
        """Write the queue file; False when it was already there (a delivery before a crash)."""
        message_id = f"ingress_{item.id}"
        if self._already_queued(message_id):
            return False
        fields = dict(item.fields)
        known = {
            k: fields.pop(k)
            for k in ("channel", "source", "sender", "sender_id", "source_thread_id")
            if k in fields
        }
        extra = {k: v for k, v in fields.items() if v is not None}
        self.engine.queue.deliver(thread_id, item.text, message_id=message_id, **known, **extra)
        return True

    async def _deliver(self, item: _Pending) -> bool:
        thread_id = self._thread_for(item)
        if thread_id is None:
            item.attempts += 1
            await self._mark_error(item, "no target thread: set [webhook] thread_id")
            return False
        try:
            written = await asyncio.to_thread(self._write, item, thread_id)
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
            with self.engine.store.transaction():
                conn.execute(
                    "UPDATE ingress_deliveries SET status = 'delivered', delivered_at = ?, "
                    "thread_id = ?, error = NULL, text = NULL WHERE id = ?",
                    (now, thread_id, item.id),
                )

        await self.engine.store.arun(mark)
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

    async def _mark_error(self, item: _Pending, error: str) -> None:
        def mark(conn: sqlite3.Connection) -> None:
            with self.engine.store.transaction():
                conn.execute(
                    "UPDATE ingress_deliveries SET error = ? WHERE id = ?", (error[:500], item.id)
                )

        try:
            await self.engine.store.arun(mark)
        except (sqlite3.Error, OSError) as exc:
            log.warning("ingress: cannot record the error of %s: %s", item.id, exc)

    async def _escalate(self, item: _Pending, thread_id: int) -> None:
        try:
            info = json.loads(item.escalate or "{}")
        except ValueError:
            return
        if not isinstance(info, dict):
            return
        pipeline = str(info.get("pipeline", "?"))
        failures = info.get("failures", "?")
        await self.engine.escalations.raise_(
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
                dedupe_key=f"ci:{pipeline}"[:256],
            )
        )
