"""JSON errors and bearer-token auth for every route.

Every error a client sees is JSON `{"error": {"status": N, "message": "..."}}` whose message
names the problem. Tokens are compared in constant time on bytes (the auth middleware,
with scopes, is `scopes.py`).
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from aiohttp import web

from clawtui.service.keys import SETTINGS

log = logging.getLogger(__name__)

PUBLIC_PATHS = frozenset({"/healthz", "/boilerhouse/api/v1/health"})
BOILERHOUSE_PREFIX = "/boilerhouse/"
"""Routes answering in Boilerhouse's error format `{"error": "message"}` (routes_boilerhouse)."""
OWN_AUTH_PATHS = frozenset({"/webhook/azure-devops", "/relay"})
"""Routes that check their own secret headers instead of the bearer token (ingress)."""
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_error(status: int, message: str, **extra: Any) -> web.Response:
    body = {"error": {"status": status, "message": message, **extra}}
    return web.json_response(body, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


class HTTPJSONError(Exception):
    """Raised by handlers; the middleware turns it into a JSON error response."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def fail(status: int, message: str) -> NoReturn:
    """Stop a handler with an HTTP error whose JSON body carries `message`."""
    raise HTTPJSONError(status, message)


def token_matches(header: str | None, token: str) -> bool:
    if not header:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode("utf-8", "surrogateescape"), token.encode())


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except HTTPJSONError as exc:
        return json_error(exc.status, exc.message)
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[SETTINGS].service.max_body_bytes
        return json_error(413, f"request body too large: the limit is {limit} bytes")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        reason = exc.reason or "error"
        if exc.status == 404:
            reason = f"no route {request.method} {request.path}"
        elif exc.status == 405:
            reason = f"method {request.method} not allowed on {request.path}"
        return json_error(exc.status, reason)
    except (ConnectionResetError, web.HTTPClientError):
        raise
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return json_error(500, "internal error: see the service log")
