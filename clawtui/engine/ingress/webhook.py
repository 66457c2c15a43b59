"""Ingress step 1 for Azure DevOps: the webhook request checked, parsed and stored.

`receive_webhook` is the route's one call: the secret first (403 when none is configured, 401
when missing or wrong), then the body read under `[webhook] max_body_bytes` (413 past it),
then `accept_webhook`: stored in one durable transaction with the pipeline's failure streak,
answered 200 (queued, ignored, duplicate), 202 (quarantined) or 503 (cannot store).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from typing import Final

from clawtui.engine.api.ingress import (
    WEBHOOK_SECRET_HEADER,
    BodyReader,
    BodyTooLarge,
    IngressRecord,
    Outcome,
)
from clawtui.engine.ingress import azure_devops as azdo
from clawtui.engine.ingress import store as db
from clawtui.engine.ingress.ci_loop import close_ci_loop
from clawtui.engine.ingress.delivery import (
    IngressDelivery,
    PendingDelivery,
    stored_fields,
)
from clawtui.engine.ingress.guards import secret_matches

log = logging.getLogger(__name__)

QUARANTINE_KEEP: Final = 500


class WebhookIntake(IngressDelivery):
    """The webhook part of `Ingress`."""

    def webhook_secrets(self) -> list[str]:
        return self.ctx.settings.webhook.resolved_secrets()

    async def receive_webhook(self, secret: str | None, read_body: BodyReader) -> Outcome:
        """One request: the secret is checked before a byte of the body is read."""
        secrets = self.webhook_secrets()
        if not secrets:
            return self.reject(
                "webhook",
                403,
                "the webhook is not configured: set [webhook] secrets_env or secret_files",
            )
        if not secret_matches(secret, secrets):
            why = (
                f"missing {WEBHOOK_SECRET_HEADER} header"
                if secret is None
                else f"wrong {WEBHOOK_SECRET_HEADER}"
            )
            return self.reject("webhook", 401, why)
        try:
            body = await read_body(self.ctx.settings.webhook.max_body_bytes)
        except BodyTooLarge as exc:
            return self.reject("webhook", 413, str(exc))
        return await self.accept_webhook(body)

    # -- webhook -----------------------------------------------------------------------------
    async def accept_webhook(self, body: bytes) -> Outcome:
        """Store one authenticated webhook body; the Outcome is answered only after commit."""
        cfg = self.ctx.settings.webhook
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
        if text is None:
            stored, message = json.dumps(fields), None
        else:
            stored, message = stored_fields(did, thread_id, text, fields)

        def store(conn: sqlite3.Connection) -> tuple[str, bool, str | None]:
            existing = db.delivery_status(conn, key)
            if existing is not None:
                return existing, False, None
            with self._durable():
                escalate = self._update_streak(conn, build, received, cfg.escalate_after)
                db.insert_webhook_delivery(
                    conn,
                    did=did,
                    key=key,
                    received=received,
                    status=status,
                    thread_id=thread_id,
                    summary=summary,
                    text=text,
                    fields=stored,
                    escalate=escalate,
                )
            return status, True, escalate

        try:
            stored_status, created, escalate = await self.ctx.store.arun(store)
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
        if build is not None and build.result in azdo.SUCCESS_RESULTS:
            await close_ci_loop(self.ctx, self.escalations, self.notifier, build)
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
            PendingDelivery(
                did, "webhook", received, thread_id, text, fields, escalate, summary, 0, message
            )
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
        failures = db.count_build(conn, key, build.build_number or build.build_id, build.wakes, now)
        if not build.wakes or failures < threshold:
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
            with self._durable():
                return db.quarantine(conn, received, reason, body, QUARANTINE_KEEP)

        try:
            qid = await self.ctx.store.arun(store)
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
