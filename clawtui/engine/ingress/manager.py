"""Ingress: the Azure DevOps build webhook and the inter-agent relay, stored then delivered.

Seed 002 §2.1 / §10: a failed build wakes the DevOps agent; §2.4: agents hand work to each
other through a relay with a route whitelist. Both end as a message in a thread's TinyClaw
queue (`TinyClawQueue.deliver`), in two steps:

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

Modules: `webhook.py` and `relay.py` (step 1), `delivery.py` (records, storage, step 2),
`guards.py` (secrets, rate limit), `azure_devops.py` (payloads); the value types and the
`IngressAPI` protocol are in `clawtui.engine.api.ingress`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from clawtui.engine.api.ingress import IngressError, RelayAgentView, RelayRoutes
from clawtui.engine.api.ingress import LatencyHistogram as LatencyHistogram
from clawtui.engine.ingress import store as db
from clawtui.engine.ingress.relay import RelayIntake
from clawtui.engine.ingress.webhook import WebhookIntake

if TYPE_CHECKING:
    from clawtui.config.ingress import RelayRoute


class Ingress(WebhookIntake, RelayIntake):
    """The engine's ingress component (`engine.ingress`)."""

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        self._queue = asyncio.Queue()
        for problem in self.ctx.settings.relay.route_problems():
            self.ctx.log_activity("warning", problem, subject="ingress/relay")
        pending = await self.ctx.store.arun(self._load_pending)
        for item in pending:
            self._enqueue(item)
        if pending:
            self.ctx.log_activity(
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
    def routes(self) -> list[RelayRoute]:
        return list(self.ctx.settings.relay.routes)

    def agents(self) -> list[str]:
        return [a.name for a in self.ctx.settings.relay.agents]

    async def relay_routes(self) -> RelayRoutes:
        relay = self.ctx.settings.relay
        agents = [
            RelayAgentView(
                name=a.name, thread_id=a.thread_id, has_secret=a.resolved_secret() is not None
            )
            for a in relay.agents
        ]
        return RelayRoutes(routes=list(relay.routes), agents=agents)

    async def add_route(self, sender: str, to: str, note: str = "") -> RelayRoute:
        from clawtui.config.ingress import RelayRoute

        try:
            route = RelayRoute.model_validate({"from": sender, "to": to, "note": note})
        except ValidationError as exc:
            error = exc.errors(include_url=False)[0]
            field = ".".join(str(p) for p in error["loc"]) or "to"  # a route to itself
            message = str(error["msg"]).removeprefix("Value error, ")
            raise IngressError(f"field {field!r}: {message}") from None
        names = set(self.agents())
        for field, name in (("from", route.sender), ("to", route.to)):
            if name not in names:
                raise IngressError(
                    f"unknown agent {name!r} in {field!r}: add it under [[relay.agents]] in "
                    f"config.toml (known: {', '.join(sorted(names)) or 'none'})"
                )
        current = self.routes()
        if any(r.sender == route.sender and r.to == route.to for r in current):
            raise IngressError(f"the route {route.sender} → {route.to} is already allowed", 409)
        await self._save_routes([*current, route])
        self.ctx.log_activity(
            "info", f"relay route {route.sender} → {route.to} added", subject="ingress/relay"
        )
        return route

    async def remove_route(self, sender: str, to: str) -> None:
        current = self.routes()
        kept = [r for r in current if not (r.sender == sender and r.to == to)]
        if len(kept) == len(current):
            raise IngressError(f"there is no route {sender} → {to}", 404)
        await self._save_routes(kept)
        self.ctx.log_activity(
            "info", f"relay route {sender} → {to} removed", subject="ingress/relay"
        )

    async def _save_routes(self, routes: list[RelayRoute]) -> None:
        from clawtui.config import ConfigError, save_runtime_settings

        settings = self.ctx.settings
        state_file: Path | None = settings.state_file
        if state_file is None:
            raise IngressError(
                "no runtime settings file is in use: change relay.routes in config.toml", 409
            )
        changes = {"relay": {"routes": [r.as_toml() for r in routes]}}
        try:
            await asyncio.to_thread(save_runtime_settings, changes, state_file=state_file)
        except (ConfigError, OSError) as exc:
            raise IngressError(f"cannot save the routes to {state_file}: {exc}", 500) from exc
        settings.relay.routes = routes  # effective now, no restart

    # -- reads -------------------------------------------------------------------------------
    async def deliveries(self, limit: int = 100) -> list[dict[str, Any]]:
        """Stored deliveries, newest first (without their text)."""
        return await self.ctx.store.arun(lambda conn: db.recent_deliveries(conn, limit))

    async def quarantine(self, limit: int = 50) -> list[dict[str, Any]]:
        return await self.ctx.store.arun(lambda conn: db.recent_quarantine(conn, limit))
