"""REST routes of escalations, incidents and the morning brief.

    POST /api/v1/escalations                     raise one (body: NewEscalation) -> 201
    GET  /api/v1/escalations?status=&limit=      pending first, oldest first
    GET  /api/v1/escalations/{id}
    POST /api/v1/escalations/{id}/decision       {"action": "approve"|"skip"|"modify",
                                                  "text": "...", "by": "..."} -> delivered to
                                                  the agent's thread queue
    POST /api/v1/escalations/{id}/resolve        {"note": "..."} (optional body)
    GET  /api/v1/incidents?open=1&limit=         open first, oldest first
    GET  /api/v1/incidents/{id}
    POST /api/v1/incidents/{id}/pr_ready         {"pr_url": "..."}
    POST /api/v1/incidents/{id}/restarting       {"note": "..."} (optional body): the fix did
                                                  not hold; pr_ready / resolved -> restarting
    POST /api/v1/incidents/{id}/hand_off         {"thread_id": N} (optional; default: the
                                                  monitor's fix_thread_id) -> {incident_id,
                                                  thread_id, message_id}
    GET  /api/v1/brief?date=YYYY-MM-DD           the stored brief (default: the newest)
    POST /api/v1/brief/preview?date=YYYY-MM-DD   build it from current state; not sent, not kept

Bodies are validated field by field; bad input is a 400 naming the field, an unknown id a 404,
a decision on an escalation that is no longer pending a 409.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any, NoReturn

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from clawtui.engine.api.escalations import (
    BriefAPI,
    Decision,
    EscalationError,
    EscalationsAPI,
    IncidentError,
    IncidentsAPI,
    NewEscalation,
    Status,
    brief_json,
    briefs_of,
    escalations_of,
    incidents_of,
)
from clawtui.service.bodies import no_body, parse_body
from clawtui.service.capabilities import capability
from clawtui.service.errors import fail
from clawtui.service.routes_api import _int_query
from clawtui.service.scopes import require_escalate

routes = web.RouteTableDef()


class ResolveBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    note: str | None = Field(default=None, max_length=4000)


class PrReadyBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    pr_url: str | None = Field(default=None, max_length=2000)


class RestartingBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    note: str | None = Field(default=None, max_length=4000)


class HandOffBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    thread_id: int | None = Field(default=None, ge=0)


def _escalations(request: web.Request) -> EscalationsAPI:
    missing = "escalations need a local engine (this one has none)"
    return capability(request, escalations_of, missing)


def _incidents(request: web.Request) -> IncidentsAPI:
    return capability(request, incidents_of, "incidents need a local engine (this one has none)")


def _briefs(request: web.Request) -> BriefAPI:
    return capability(request, briefs_of, "briefs need a local engine (this one has none)")


def _id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 12:
        fail(400, f"id must be a whole number, got {raw[:40]!r}")
    return int(raw)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(data, ensure_ascii=False), status=status, content_type="application/json"
    )


def _refused(exc: EscalationError | IncidentError) -> NoReturn:
    fail(exc.status, str(exc))


@routes.post("/api/v1/escalations")
async def raise_escalation(request: web.Request) -> web.Response:
    new = await parse_body(request, NewEscalation)
    escalations = _escalations(request)
    await require_escalate(request, new)
    esc = await escalations.raise_(new)
    return _json(esc.model_dump(mode="json"), 201)


@routes.get("/api/v1/escalations")
async def list_escalations(request: web.Request) -> web.Response:
    escalations = _escalations(request)
    raw = request.query.get("status")
    status: Status | None = None
    if raw:
        try:
            status = Status(raw)
        except ValueError:
            names = ", ".join(s.value for s in Status)
            fail(400, f"status must be one of {names}, got {raw[:40]!r}")
    limit = _int_query(request, "limit", 500, 1, 10_000)
    rows = await escalations.find(status=status, limit=limit)
    return _json({"escalations": [e.model_dump(mode="json") for e in rows]})


@routes.get("/api/v1/escalations/{id}")
async def get_escalation(request: web.Request) -> web.Response:
    esc = await _escalations(request).get(_id(request))
    if esc is None:
        fail(404, f"no escalation #{request.match_info['id']}")
    return _json(esc.model_dump(mode="json"))


@routes.post("/api/v1/escalations/{id}/decision")
async def decide(request: web.Request) -> web.Response:
    decision = await parse_body(request, Decision)
    escalations = _escalations(request)
    ident = _id(request)
    try:
        esc = await escalations.decide(ident, decision)
    except EscalationError as exc:
        _refused(exc)
    return _json(esc.model_dump(mode="json"))


@routes.post("/api/v1/escalations/{id}/resolve")
async def resolve(request: web.Request) -> web.Response:
    body = await parse_body(request, ResolveBody, optional=True)
    escalations = _escalations(request)
    ident = _id(request)
    try:
        esc = await escalations.resolve(ident, note=body.note)
    except EscalationError as exc:
        _refused(exc)
    return _json(esc.model_dump(mode="json"))


@routes.get("/api/v1/incidents")
async def list_incidents(request: web.Request) -> web.Response:
    incidents = _incidents(request)
    open_only = request.query.get("open", "0") in ("1", "true", "yes")
    limit = _int_query(request, "limit", 500, 1, 10_000)
    rows = await incidents.find(open_only=open_only, limit=limit)
    return _json({"incidents": [i.model_dump(mode="json") for i in rows]})


@routes.get("/api/v1/incidents/{id}")
async def get_incident(request: web.Request) -> web.Response:
    inc = await _incidents(request).get(_id(request))
    if inc is None:
        fail(404, f"no incident #{request.match_info['id']}")
    return _json(inc.model_dump(mode="json"))


async def _incident_step(
    request: web.Request, step: Callable[[IncidentsAPI, int], Awaitable[BaseModel]]
) -> web.Response:
    """One step of an incident's loop: the engine's answer, or its refusal as an HTTP error."""
    incidents = _incidents(request)
    ident = _id(request)
    try:
        done = await step(incidents, ident)
    except IncidentError as exc:
        _refused(exc)
    return _json(done.model_dump(mode="json"))


@routes.post("/api/v1/incidents/{id}/pr_ready")
async def pr_ready(request: web.Request) -> web.Response:
    body = await parse_body(request, PrReadyBody, optional=True)
    return await _incident_step(request, lambda inc, i: inc.mark_pr_ready(i, body.pr_url))


@routes.post("/api/v1/incidents/{id}/restarting")
async def restarting(request: web.Request) -> web.Response:
    body = await parse_body(request, RestartingBody, optional=True)
    return await _incident_step(request, lambda inc, i: inc.mark_restarting(i, body.note))


@routes.post("/api/v1/incidents/{id}/hand_off")
async def hand_off(request: web.Request) -> web.Response:
    body = await parse_body(request, HandOffBody, optional=True)
    return await _incident_step(request, lambda inc, i: inc.hand_off(i, body.thread_id))


def _date(request: web.Request) -> str | None:
    raw = request.query.get("date")
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        fail(400, f"date must be YYYY-MM-DD, got {raw[:40]!r}")


@routes.get("/api/v1/brief")
async def get_brief(request: web.Request) -> web.Response:
    briefs = _briefs(request)
    day = _date(request)
    brief = await (briefs.get(day) if day else briefs.latest())
    if brief is None:
        fail(404, f"no brief kept for {day}" if day else "no brief has been built yet")
    return _json(brief_json(brief))


@routes.post("/api/v1/brief/preview")
async def preview_brief(request: web.Request) -> web.Response:
    await no_body(request)
    briefs = _briefs(request)
    brief = await briefs.build(_date(request))
    return _json(brief_json(brief))
