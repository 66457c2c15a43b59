"""The ingress of a remote engine: its relay whitelist over `service/routes_relay_whitelist.py`.

`RemoteEngine.ingress` offers the `IngressAPI` of `clawtui.engine.api.ingress` so the Ingress
panel lists, adds and removes relay routes over `--connect` as it does locally: a refusal the
local engine raises as `IngressError` (400, 404, 409) is raised as the same error with the
service's message and status; anything else (401, 501, unreachable) is a `RemoteError`.
`routes()` and `agents()` answer what the last listing or change returned.

Requests from outside (the webhook, the relay) go to the remote service itself, never through
this client: `receive_webhook` / `receive_relay` answer 501 saying so. Traffic records reach a
remote TUI as INGRESS events only, so `recent` starts empty and `stats` stays zero here (the
remote's counters are on its /metrics).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp

from clawtui.client.caps import RemoteError, _Client
from clawtui.config.ingress import RelayRoute
from clawtui.engine.api.ingress import (
    BodyReader,
    IngressError,
    IngressRecord,
    IngressStats,
    Outcome,
    RelayRoutes,
)

if TYPE_CHECKING:
    from clawtui.client.engine import RemoteEngine

_TIMEOUT = aiohttp.ClientTimeout(total=60, sock_connect=10)
_REFUSALS = (400, 404, 409)
_PATH = "/api/v1/relay/routes"


def _message(data: Any, status: int) -> str:
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) and message else f"HTTP {status}"


class RemoteIngress(_Client):
    """`IngressAPI` over the service (the relay whitelist; traffic comes as events)."""

    recent: tuple[IngressRecord, ...] = ()

    def __init__(self, engine: RemoteEngine) -> None:
        super().__init__(engine)
        self.stats = IngressStats()
        self._listing = RelayRoutes()

    async def _request(self, method: str, path: str, *, json: Any = None) -> Any:
        ok = (200, 201, *_REFUSALS)
        status, data = await self.call(method, path, ok=ok, json=json, timeout=_TIMEOUT)
        if status in _REFUSALS:
            raise IngressError(_message(data, status), status)
        return data

    def routes(self) -> list[RelayRoute]:
        return list(self._listing.routes)

    def agents(self) -> list[str]:
        return [a.name for a in self._listing.agents]

    async def relay_routes(self) -> RelayRoutes:
        data = await self._request("GET", _PATH)
        if not isinstance(data, dict):
            raise RemoteError("the remote answered the routes without a JSON object")
        self._listing = RelayRoutes.model_validate(data)
        return self._listing

    async def add_route(self, sender: str, to: str, note: str = "") -> RelayRoute:
        data = await self._request("POST", _PATH, json={"from": sender, "to": to, "note": note})
        route = RelayRoute.model_validate(data)
        kept = [r for r in self._listing.routes if (r.sender, r.to) != (route.sender, route.to)]
        self._listing = self._listing.model_copy(update={"routes": [*kept, route]})
        return route

    async def remove_route(self, sender: str, to: str) -> None:
        await self._request("DELETE", f"{_PATH}/{quote(sender, safe='')}/{quote(to, safe='')}")
        kept = [r for r in self._listing.routes if (r.sender, r.to) != (sender, to)]
        self._listing = self._listing.model_copy(update={"routes": kept})

    async def receive_webhook(self, secret: str | None, read_body: BodyReader) -> Outcome:
        return self._elsewhere("/webhook/azure-devops")

    async def receive_relay(self, secret: str | None, read_body: BodyReader) -> Outcome:
        return self._elsewhere("/relay")

    def _elsewhere(self, path: str) -> Outcome:
        message = f"send it to the remote service itself: POST {self.engine.url}{path}"
        return Outcome(501, {"ok": False, "error": {"status": 501, "message": message}})
