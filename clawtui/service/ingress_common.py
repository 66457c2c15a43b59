"""What the webhook and relay routes share: the ingress lookup, capped body reads, answers.

These routes are outside `/api/v1` and its bearer token: callers prove who they are with
their own secret headers. Each route hands its secret header and a body reader to the engine
in one call (`IngressAPI.receive_webhook` / `receive_relay`); the engine reads the body only
once the secret allows it, with its own cap. aiohttp's `client_max_size`
(`[service] max_body_bytes`) only bounds `request.read()` / `json()`; the reader reads
`request.content` itself with the engine's cap (3 MiB for the webhook, about 64 KiB for the
relay), so the webhook takes
Azure DevOps' 2 MB bodies without raising the limit of every other route. A declared
Content-Length over the cap is refused before a byte is read; a body that grows past it
(chunked, or decompressed) is refused as soon as it does.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from clawtui.engine.api.ingress import BodyReader, BodyTooLarge, IngressAPI, Outcome, ingress_of
from clawtui.service.capabilities import capability

_CHUNK = 64 * 1024


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


def body_reader(request: web.Request) -> BodyReader:
    """`read_capped` of this request, for the engine to call with its cap."""

    async def read(limit: int) -> bytes:
        return await read_capped(request, limit)

    return read


def ingress(request: web.Request) -> IngressAPI:
    """The engine's ingress; 503 (Azure DevOps retries those) when this service has none."""
    return capability(
        request, ingress_of, "ingress needs a local engine (this service has none)", status=503
    )


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
