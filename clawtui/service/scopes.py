"""Who is calling and may they: bearer token -> `Principal`, route -> scope, and the audit log.

The admin API token (`CLAWTUI_API_TOKEN`, config or the api-token file) is the principal
`ADMIN`; any other bearer token is looked up (by its hash) in the engine's tokens on every
request, so a revoked token is refused at once. Each route needs a scope (the rules are
`engine.api.tokens`' `require_*`): reads need `read` (or an agent scope), pool claim / release /
sync need `pools`, thread messages and heartbeats need an agent scope that covers the thread,
raising an escalation an agent scope matching its agent (checked on the body by the route,
`require_escalate`), and every other change `admin`. A refusal is a 403 naming the scope.

Every state-changing call (and every call an MCP server makes on a client's behalf, marked with
the `X-Clawtui-Via` header) is recorded: time, token name, action, target, outcome.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web

from clawtui.engine.api import tokens as tokens_api
from clawtui.engine.api.escalations import NewEscalation
from clawtui.engine.api.ingress import RelayRoutes, ingress_of
from clawtui.engine.api.threads import threads_of
from clawtui.engine.api.tokens import (
    ADMIN,
    AuditEntry,
    Principal,
    ScopeDenied,
    require_admin,
    require_agent,
    require_pools,
    require_read,
    require_send,
    tokens_of,
)
from clawtui.service.errors import (
    BOILERHOUSE_PREFIX,
    OWN_AUTH_PATHS,
    PUBLIC_PATHS,
    Handler,
    json_error,
    token_matches,
)
from clawtui.service.keys import ENGINE, TOKEN

log = logging.getLogger(__name__)

PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal", Principal)
"""The request key holding the caller's `Principal` (set by the auth middleware)."""
VIA_HEADER = "X-Clawtui-Via"
"""Set by a front end calling on someone's behalf (the MCP server: `mcp:<tool>`); audited."""

READ_POSTS = frozenset({"/api/v1/memory/plan", "/api/v1/brief/preview"})
POOL_POSTS = frozenset(
    {"/api/v1/tenants/{tenant}/claim", "/api/v1/tenants/{tenant}/release",
     "/api/v1/tenants/{tenant}/sync"}
)  # fmt: skip
ADMIN_READS = frozenset({"/api/v1/tokens", "/api/v1/audit"})
_BEAT = "/api/v1/threads/{id}/beat"
_SEND = "/api/v1/threads/{id}/messages"
_ESCALATE = "/api/v1/escalations"


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization") or ""
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return None
    return given.strip()


async def principal_of(request: web.Request) -> Principal | None:
    """The caller of `request`, or None when its token is missing, unknown or revoked."""
    if token_matches(request.headers.get("Authorization"), request.app[TOKEN]):
        return ADMIN
    given = bearer(request)
    tokens = tokens_of(request.app[ENGINE])
    if given is None or tokens is None:
        return None
    return await tokens.verify(given)


def route_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else request.path


def _thread_id(request: web.Request) -> int | None:
    raw = request.match_info.get("id", "")
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


def _threads(request: web.Request) -> list[tuple[int, str]]:
    threads = threads_of(request.app[ENGINE])
    return [] if threads is None else [(s.thread.id, s.thread.name) for s in threads.statuses()]


async def _relay(request: web.Request) -> RelayRoutes | None:
    ingress = ingress_of(request.app[ENGINE])
    return await ingress.relay_routes() if ingress is not None else None


def changes_state(request: web.Request) -> bool:
    return request.method not in ("GET", "HEAD", "OPTIONS") and route_of(request) not in READ_POSTS


async def authorize(request: web.Request, p: Principal) -> None:
    """Raise ScopeDenied unless `p` may make this call (the body is the route's to check)."""
    route = route_of(request)
    action = f"{request.method} {route}"
    if p.admin:
        return
    if request.method in ("GET", "HEAD"):
        if route in ADMIN_READS:
            require_admin(p, action)
        elif route.startswith(("/api/v1/pools", "/api/v1/tenants", BOILERHOUSE_PREFIX)):
            require_pools(p, action, read=True)
        else:
            require_read(p, action)
    elif route in READ_POSTS:
        require_read(p, action)
    elif route in POOL_POSTS or route.startswith(BOILERHOUSE_PREFIX):
        require_pools(p, action)  # Boilerhouse's claim and release: a `pools` token is its key
    elif route == _BEAT and (tid := _thread_id(request)) is not None:
        names = dict(_threads(request))
        aliases = tokens_api.relay_aliases(await _relay(request), tid)
        require_agent(p, action, thread_id=tid, thread_name=names.get(tid), aliases=aliases)
    elif route == _SEND and (tid := _thread_id(request)) is not None:
        relay = await _relay(request)
        require_send(p, action, thread_id=tid, threads=_threads(request), relay=relay)
    elif route == _ESCALATE and request.method == "POST":
        if not p.agents:
            raise ScopeDenied("agent:<thread> (or admin)", action)
    else:
        require_admin(p, action)


async def require_escalate(request: web.Request, new: NewEscalation) -> None:
    """An agent token raises escalations only as its own agent / for its own thread."""
    p: Principal = request.get(PRINCIPAL, ADMIN)
    if p.admin:
        return
    tid = new.thread_id
    name = dict(_threads(request)).get(tid) if tid is not None else None
    aliases = tokens_api.relay_aliases(await _relay(request), tid)
    tokens_api.require_escalate(
        p, "escalating as this agent", agent=new.agent, thread_id=tid, thread_name=name,
        aliases=aliases,
    )  # fmt: skip


async def record(request: web.Request, p: Principal | None, outcome: str) -> None:
    """Keep one audit entry for this request (a failure to store it is logged, not raised)."""
    tokens = tokens_of(request.app[ENGINE])
    if tokens is None:
        return
    via = request.headers.get(VIA_HEADER, "")[:100]
    action = f"{request.method} {route_of(request)}"
    entry = AuditEntry(
        ts=time.time(),
        token=p.name if p is not None else "(none)",
        action=(f"{via} ({action})" if via else action)[:200],
        target=request.path[:500],
        outcome=outcome[:500],
    )
    try:
        await tokens.record(entry)
    except Exception as exc:  # disk full, locked: the call itself stands
        log.warning("could not record an audit entry: %s", exc)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """401 without a valid token, 403 naming the scope a call needs; audit what changes state."""
    if request.path in PUBLIC_PATHS or request.path in OWN_AUTH_PATHS:
        return await handler(request)
    p = await principal_of(request)
    if p is None:
        message = "missing, wrong or revoked bearer token: send 'Authorization: Bearer <token>'"
        response = (
            web.json_response({"error": message}, status=401)  # Boilerhouse's error form
            if request.path.startswith(BOILERHOUSE_PREFIX)
            else json_error(401, message)
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="clawtui"'
        return response
    audited = changes_state(request) or VIA_HEADER in request.headers
    try:
        await authorize(request, p)
    except ScopeDenied as exc:
        if audited:
            await record(request, p, f"denied: {exc}")
        return json_error(403, str(exc), needs=exc.needs)
    request[PRINCIPAL] = p
    if not audited:
        return await handler(request)
    outcome = "error"
    try:
        answer = await handler(request)
        outcome = f"ok {answer.status}" if answer.status < 400 else f"error {answer.status}"
        return answer
    except ScopeDenied as exc:  # a route's own check (the body of an escalation)
        outcome = f"denied: {exc}"
        return json_error(403, str(exc), needs=exc.needs)
    except Exception as exc:
        status = getattr(exc, "status", 500)
        outcome = f"error {status}: {str(exc)[:300]}"
        raise
    finally:
        await record(request, p, outcome)
