"""REST routes of live memory rebalancing: a host's memory view, plan, apply, history.

    GET  /api/v1/hosts/{host}/memory     budget + every container: limit, usage, adjustable
    POST /api/v1/memory/plan             validate a batch, change nothing
    POST /api/v1/memory/apply            validate against fresh state and apply, all or nothing
    GET  /api/v1/memory/history?limit=N  recorded changes, newest first

Body of plan and apply (anything else is a 400 naming the field):

    {"changes": {"dev-alice": "3g", "local/4f1c...": 2147483648}, "confirm_below_usage": false}

Keys are container references (a name, a unique id prefix, or `host/id`); values are sizes as
bytes or text ("512m", "3g"; see `clawtui.config.parse_size`). Changes are made as who="api".

A batch naming containers on several hosts is one batch per host: each host's part is
validated against that host's budget and applied all or nothing on that host; `hosts` in the
result says per host what happened (applied, refused, rolled_back, partial, with the reason),
and `state` is `mixed` when some hosts applied and others did not.

Status codes of apply (the body is always the batch result, `ApplyResult` as JSON):
  200  applied (on every host the batch named);
  409  mixed: applied on some hosts, refused or rolled back on others (read `hosts`);
  409  refused by validation (nothing was sent to Docker), a batch in flight on the host
       (`Retry-After: 1`), or an update Docker refused, after which every applied change was put
       back (`state` = rolled_back; `partial` when a rollback failed too: read `outcomes`);
  503  an update failed because a host's Docker engine did not answer (`docker_unreachable`),
       after the same rollback.
Plan always answers 200 with the plan; its `ok` says whether apply would go ahead.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator

from clawtui.config import parse_size
from clawtui.engine.api.memory import (
    MAX_BATCH,
    MAX_REF_LENGTH,
    BatchState,
    MemoryAPI,
    MemoryViewAPI,
    PlanErrorCode,
    memory_of,
    memory_view_of,
)
from clawtui.service.bodies import read_json
from clawtui.service.capabilities import capability
from clawtui.service.errors import fail
from clawtui.service.routes_api import _int_query, _known_host

routes = web.RouteTableDef()
WHO = "api"


class ChangesBody(BaseModel):
    """The JSON body of plan and apply."""

    model_config = ConfigDict(extra="forbid")

    changes: dict[str, Any] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description="Container reference -> new limit (bytes, or text like '3g').",
    )
    confirm_below_usage: StrictBool = False

    @field_validator("changes")
    @classmethod
    def _sizes(cls, value: dict[str, Any]) -> dict[str, int]:
        out: dict[str, int] = {}
        for ref, size in value.items():
            shown = ref[:60]
            if not ref.strip() or len(ref) > MAX_REF_LENGTH:
                raise ValueError(
                    f"container reference {shown!r} must be 1-{MAX_REF_LENGTH} characters"
                )
            if isinstance(size, float):
                raise ValueError(
                    f"changes[{shown!r}]: expected a whole number of bytes or text like '3g', "
                    f"got {size!r}"
                )
            try:
                out[ref] = parse_size(size)
            except ValueError as exc:
                raise ValueError(f"changes[{shown!r}]: {exc}") from None
        return out


def _body_error(exc: ValidationError) -> str:
    problems: list[str] = []
    for error in exc.errors(include_url=False):
        loc = ".".join(str(part) for part in error["loc"]) or "body"
        kind = error["type"]
        if kind == "extra_forbidden":
            problems.append(
                f"unknown field {loc!r} in the body (expected: changes, confirm_below_usage)"
            )
        elif kind == "missing":
            problems.append(f"field {loc!r} is required")
        elif kind == "too_short" and loc == "changes":
            problems.append("field 'changes' must name at least one container")
        elif kind == "too_long" and loc == "changes":
            problems.append(f"field 'changes' may name at most {MAX_BATCH} containers")
        elif kind == "value_error":
            problems.append(f"field {loc!r}: {error['ctx']['error']}")
        elif kind == "dict_type":
            problems.append(f"field {loc!r} must be an object of container -> size")
        elif kind == "bool_type":
            problems.append(f"field {loc!r} must be true or false")
        elif kind == "model_type":
            problems.append("the body must be a JSON object with a 'changes' field")
        else:
            problems.append(f"field {loc!r}: {error['msg']}")
    return "invalid body: " + "; ".join(problems)


async def _parse(request: web.Request) -> ChangesBody:
    _, data = await read_json(request)
    try:
        return ChangesBody.model_validate(data)
    except ValidationError as exc:
        fail(400, _body_error(exc)[:2000])


_MISSING = "memory rebalancing needs a local engine (this one has no memory manager)"


def _manager(request: web.Request) -> MemoryAPI:
    return capability(request, memory_of, _MISSING)


def _viewer(request: web.Request) -> MemoryViewAPI:
    return capability(request, memory_view_of, _MISSING)


def _dump(model: BaseModel, status: int = 200, **headers: str) -> web.Response:
    body = json.dumps(model.model_dump(mode="json"), ensure_ascii=False)
    return web.Response(
        text=body, status=status, content_type="application/json", headers=headers or None
    )


@routes.get("/api/v1/hosts/{host}/memory")
async def host_memory(request: web.Request) -> web.Response:
    host = _known_host(request, request.match_info["host"])
    return _dump(_viewer(request).view(host))


@routes.post("/api/v1/memory/plan")
async def plan(request: web.Request) -> web.Response:
    memory = _manager(request)
    body = await _parse(request)
    result = await memory.plan(body.changes, who=WHO, confirm_below_usage=body.confirm_below_usage)
    return _dump(result)


@routes.post("/api/v1/memory/apply")
async def apply(request: web.Request) -> web.Response:
    memory = _manager(request)
    body = await _parse(request)
    result = await memory.apply(body.changes, who=WHO, confirm_below_usage=body.confirm_below_usage)
    if result.state is BatchState.APPLIED:
        return _dump(result)
    if result.docker_unreachable:
        return _dump(result, 503)
    if any(e.code is PlanErrorCode.BUSY for e in result.plan.errors):
        return _dump(result, 409, **{"Retry-After": "1"})
    return _dump(result, 409)


@routes.get("/api/v1/memory/history")
async def history(request: web.Request) -> web.Response:
    limit = _int_query(request, "limit", 100, 1, 10_000)
    rows = await _manager(request).history(limit)
    return web.json_response({"history": [r.model_dump(mode="json") for r in rows]})
