"""Escalations, incidents and the morning brief of a remote engine, over the service's routes.

`RemoteEngine.escalations`, `.incidents` and `.briefs` offer the same protocols as the local
engine's (`EscalationsAPI`, `IncidentsAPI`, `BriefAPI` in `clawtui.engine.api.escalations`)
over the routes of `service/routes_escalations.py`, whose JSON bodies are the api models. A
refusal the local engine raises as `EscalationError` / `IncidentError` (400, 404, 409) is
raised as the same error with the service's message and status, so a panel or the CLI handles
both engines alike; anything else the remote side answers (401, 501, unreachable) is a
`RemoteError`. Their events (ESCALATION / INCIDENT / BRIEF) are decoded into the api models by
the interface's `decode_event`, like every other event.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import aiohttp

from clawtui.client.caps import RemoteError, _Client
from clawtui.engine.api.escalations import (
    Brief,
    Decision,
    Escalation,
    EscalationError,
    Incident,
    IncidentError,
    IncidentHandOff,
    NewEscalation,
    Status,
)

_TIMEOUT = aiohttp.ClientTimeout(total=60, sock_connect=10)
_REFUSALS = (400, 404, 409)


def _message(data: Any, status: int) -> str:
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) and message else f"HTTP {status}"


def _items(data: Any, key: str) -> list[Any]:
    items = data.get(key) if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise RemoteError(f"the remote answered without a {key!r} list")
    return items


class _Refusing(_Client):
    """A client whose 400 / 404 / 409 answers are the capability's own error."""

    error: type[EscalationError] | type[IncidentError] = EscalationError

    async def request(
        self, method: str, path: str, *, json: Any = None, missing_ok: bool = False
    ) -> Any:
        """The answer's JSON; None for a 404 when `missing_ok`; a refusal raises `error`."""
        ok = (200, 201, *_REFUSALS)
        status, data = await self.call(method, path, ok=ok, json=json, timeout=_TIMEOUT)
        if status == 404 and missing_ok:
            return None
        if status in _REFUSALS:
            raise self.error(_message(data, status), status)
        return data


class RemoteEscalations(_Refusing):
    """`EscalationsAPI` over the service."""

    async def raise_(self, new: NewEscalation) -> Escalation:
        data = await self.request("POST", "/api/v1/escalations", json=new.model_dump(mode="json"))
        return Escalation.model_validate(data)

    async def get(self, escalation_id: int) -> Escalation | None:
        data = await self.request(
            "GET", f"/api/v1/escalations/{int(escalation_id)}", missing_ok=True
        )
        return None if data is None else Escalation.model_validate(data)

    async def find(self, *, status: Status | None = None, limit: int = 500) -> list[Escalation]:
        query = f"?limit={int(limit)}" + (f"&status={Status(status).value}" if status else "")
        data = await self.request("GET", "/api/v1/escalations" + query)
        return [Escalation.model_validate(e) for e in _items(data, "escalations")]

    async def decide(self, escalation_id: int, decision: Decision) -> Escalation:
        path = f"/api/v1/escalations/{int(escalation_id)}/decision"
        data = await self.request("POST", path, json=decision.model_dump(mode="json"))
        return Escalation.model_validate(data)

    async def resolve(self, escalation_id: int, *, note: str | None = None) -> Escalation:
        path = f"/api/v1/escalations/{int(escalation_id)}/resolve"
        data = await self.request("POST", path, json={"note": note} if note else {})
        return Escalation.model_validate(data)


class RemoteIncidents(_Refusing):
    """`IncidentsAPI` over the service."""

    error = IncidentError

    async def get(self, incident_id: int) -> Incident | None:
        data = await self.request("GET", f"/api/v1/incidents/{int(incident_id)}", missing_ok=True)
        return None if data is None else Incident.model_validate(data)

    async def find(self, *, open_only: bool = False, limit: int = 500) -> list[Incident]:
        query = f"?open={int(open_only)}&limit={int(limit)}"
        data = await self.request("GET", "/api/v1/incidents" + query)
        return [Incident.model_validate(i) for i in _items(data, "incidents")]

    async def mark_pr_ready(self, incident_id: int, pr_url: str | None = None) -> Incident:
        path = f"/api/v1/incidents/{int(incident_id)}/pr_ready"
        data = await self.request("POST", path, json={"pr_url": pr_url} if pr_url else {})
        return Incident.model_validate(data)

    async def mark_restarting(self, incident_id: int, note: str | None = None) -> Incident:
        path = f"/api/v1/incidents/{int(incident_id)}/restarting"
        data = await self.request("POST", path, json={"note": note} if note else {})
        return Incident.model_validate(data)

    async def hand_off(self, incident_id: int, thread_id: int | None = None) -> IncidentHandOff:
        path = f"/api/v1/incidents/{int(incident_id)}/hand_off"
        body = {"thread_id": int(thread_id)} if thread_id is not None else {}
        return IncidentHandOff.model_validate(await self.request("POST", path, json=body))


def _day(day: str) -> str:
    """`day` as YYYY-MM-DD; ValueError otherwise (as the local engine raises)."""
    return date.fromisoformat(day).isoformat()


class RemoteBriefs(_Refusing):
    """`BriefAPI` over the service (a missing brief is None, as locally)."""

    async def build(self, day: str | None = None) -> Brief:
        query = f"?date={_day(day)}" if day else ""
        return Brief.model_validate(await self.request("POST", "/api/v1/brief/preview" + query))

    async def get(self, day: str) -> Brief | None:
        data = await self.request("GET", f"/api/v1/brief?date={_day(day)}", missing_ok=True)
        return None if data is None else Brief.model_validate(data)

    async def latest(self) -> Brief | None:
        data = await self.request("GET", "/api/v1/brief", missing_ok=True)
        return None if data is None else Brief.model_validate(data)
