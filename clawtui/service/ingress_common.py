"""What the webhook and relay routes share: capped body reads and JSON answers.

These routes are outside `/api/v1` and its bearer token: callers prove who they are with
their own secret headers. aiohttp's `client_max_size` (`[service] max_body_bytes`) only
bounds `request.read()` / `json()`; these routes read `request.content` themselves with a
cap of their own (3 MiB for the webhook, about 64 KiB for the relay), so the webhook takes
Azure DevOps' 2 MB bodies without raising the limit of every other route. A declared
Content-Length over the cap is refused before a byte is read; a body that grows past it
(chunked, or decompressed) is refused as soon as it does.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from clawtui.engine.ingress.manager import Ingress, Outcome
from clawtui.service.errors import fail
from clawtui.service.keys import ENGINE

_CHUNK = 64 * 1024


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"request body too large: the limit is {limit} bytes")
        self.limit = limit


async def read_capped(request: web.Request, limit: int) -> bytes:
    """The whole body, at most `limit` bytes; BodyTooLarge past it."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise BodyTooLarge(limit)
    body = bytearray()
    while True:
        chunk = await request.content.read(_CHUNK)
        if not chunk:
            break
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge(limit)
    return bytes(body)


def ingress_of(request: web.Request) -> Ingress:
    ingress = getattr(request.app[ENGINE], "ingress", None)
    if not isinstance(ingress, Ingress):
        fail(503, "ingress needs a local engine (this service has none)")
    return ingress


def answer(outcome: Outcome) -> web.Response:
    headers = {"Retry-After": str(outcome.retry_after)} if outcome.retry_after else None
    return web.json_response(
        outcome.body,
        status=outcome.status,
        headers=headers,
        dumps=lambda o: json.dumps(o, ensure_ascii=False),
    )


def header(request: web.Request, name: str) -> str | None:
    """A header's value as sent (None when absent); non-ASCII bytes survive as surrogates."""
    value: Any = request.headers.get(name)
    return value if isinstance(value, str) else None
