"""Ingress step 1 for the inter-agent relay: who sends, to whom, how much, how far; stored.

`receive_relay` is the route's one call: the body is read under `[relay] max_message_bytes`
plus `RELAY_ENVELOPE_BYTES` (413 past it), then `accept_relay` checks the secret (the sender),
rate limit, body, route whitelist, size and hop count, and stores the message durably.
"""

from __future__ import annotations

import hmac
import sqlite3
import time
import uuid
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from clawtui.engine.api.ingress import BodyReader, BodyTooLarge, IngressRecord, Outcome
from clawtui.engine.ingress import azure_devops as azdo
from clawtui.engine.ingress import store as db
from clawtui.engine.ingress.delivery import (
    IngressDelivery,
    PendingDelivery,
    stored_fields,
)

RELAY_ENVELOPE_BYTES: Final = 8 * 1024
"""A relay body may exceed `max_message_bytes` by this much (the JSON around the message)."""


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


class RelayIntake(IngressDelivery):
    """The relay part of `Ingress`."""

    async def receive_relay(self, secret: str | None, read_body: BodyReader) -> Outcome:
        """One request: the body is read under the relay's cap, then `accept_relay`."""
        limit = self.ctx.settings.relay.max_message_bytes + RELAY_ENVELOPE_BYTES
        try:
            body = await read_body(limit)
        except BodyTooLarge as exc:
            sender = self.relay_sender(secret)
            return self.reject("relay", 413, str(exc), sender=sender)
        return await self.accept_relay(secret, body)

    # -- relay -------------------------------------------------------------------------------
    def relay_sender(self, secret: str | None) -> str | None:
        """The agent whose secret this is (every agent is compared, in constant time)."""
        if secret is None:
            return None
        raw = secret.encode("utf-8", "surrogateescape")
        found: str | None = None
        for agent in self.ctx.settings.relay.agents:
            own = agent.resolved_secret()
            if own is not None and hmac.compare_digest(raw, own.encode("utf-8")):
                found = found or agent.name
        return found

    def shared_secret_matches(self, secret: str | None) -> bool:
        """Shared-secret mode (`[relay] shared_secret_env`): `secret` is the shared one."""
        shared = self.ctx.settings.relay.resolved_shared_secret()
        if secret is None or shared is None:
            return False
        return hmac.compare_digest(secret.encode("utf-8", "surrogateescape"), shared.encode())

    def _rate_limited(self, sender: str) -> Outcome | None:
        cfg = self.ctx.settings.relay
        wait = self.rate.check(sender, cfg.rate_limit, cfg.rate_window)
        if not wait:
            return None
        return self.reject(
            "relay",
            429,
            f"rate limit: {sender} may relay {cfg.rate_limit} messages per "
            f"{cfg.rate_window:g} s; retry in {wait:.1f} s",
            sender=sender,
            retry_after=max(1, int(wait + 0.999)),
        )

    async def accept_relay(self, secret: str | None, body: bytes) -> Outcome:
        cfg = self.ctx.settings.relay
        received = time.time()
        sender = self.relay_sender(secret)
        shared = sender is None and self.shared_secret_matches(secret)
        if sender is None and not shared:
            why = "missing X-Relay-Secret header" if secret is None else "wrong X-Relay-Secret"
            return self.reject("relay", 401, f"{why}: each agent sends its own relay secret")
        if sender is not None and (limited := self._rate_limited(sender)) is not None:
            return limited
        try:
            msg = RelayBody.model_validate(azdo.load_json(body))
        except azdo.PayloadError as exc:
            return self.reject("relay", 400, f"the body is not a JSON object: {exc}", sender=sender)
        except ValidationError as exc:
            return self.reject("relay", 400, _body_problem(exc)[:1000], sender=sender)
        shown_from, shown_to = azdo.clean(msg.sender, 64), azdo.clean(msg.to, 64)
        if shared:  # the shared secret: `from` is trusted, but only as a known agent
            if cfg.agent(msg.sender) is None:
                return self.reject(
                    "relay",
                    403,
                    f"unknown agent {shown_from!r} in 'from' (shared-secret mode trusts 'from' "
                    "only for agents in [[relay.agents]])",
                    target=shown_to,
                )
            sender = msg.sender
            if (limited := self._rate_limited(sender)) is not None:
                return limited
        assert sender is not None
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
        stored, message = stored_fields(did, target.thread_id, msg.message, fields)

        def store(conn: sqlite3.Connection) -> bool:
            with self._durable():
                return db.insert_relay_delivery(
                    conn,
                    did=did,
                    key=key,
                    received=received,
                    thread_id=target.thread_id,
                    sender=sender,
                    target=msg.to,
                    summary=summary,
                    text=msg.message,
                    fields=stored,
                )

        try:
            created = await self.ctx.store.arun(store)
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
            PendingDelivery(
                did,
                "relay",
                received,
                target.thread_id,
                msg.message,
                fields,
                None,
                summary,
                0,
                message,
            )
        )
        return Outcome(202, {"ok": True, "id": did, "status": "queued", "hops": len(via)})
