"""The capabilities of `RemoteEngine` over the service's REST routes.

Container actions, dev boxes, memory rebalancing and tmux for `clawtui --connect`, with the same
protocols as the local engine's (`ContainerActionsAPI`, `DevboxesAPI`, `MemoryAPI`, `TmuxAPI` in
`clawtui.engine.api.protocols`), so panels work unchanged. Every refusal of the remote side becomes
a `RemoteError` carrying the service's own message (which names the problem), never a raw HTTP
error.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import aiohttp

from clawtui.engine.api.devboxes import DevboxInfo
from clawtui.engine.api.memory import ApplyResult, MemoryChange, MemoryPlan
from clawtui.engine.api.tmux import BroadcastOutcome, TmuxListing, TmuxSession, TmuxWindow

if TYPE_CHECKING:
    from clawtui.client.engine import RemoteEngine

_MAX_LINE = 1 << 20
_DONE = (200, 202)
"""Statuses of a container action done (202: Docker did it, its new state comes as an event)."""


class RemoteError(Exception):
    """The remote service refused us or answered something we cannot use."""


def _error_text(status: int, body: str) -> str:
    try:
        message = json.loads(body)["error"]["message"]
        if isinstance(message, str) and message:
            return message
    except (ValueError, KeyError, TypeError):
        pass
    return f"HTTP {status}: {body[:200]}"


def _container_path(key: str) -> str:
    host, _, cid = key.partition("/")
    if not host or not cid:
        raise RemoteError(f"not a container key (HOST/ID): {key!r}")
    return f"/api/v1/containers/{quote(host, safe='')}/{quote(cid, safe='')}"


class _Client:
    def __init__(self, engine: RemoteEngine) -> None:
        self.engine = engine

    @property
    def session(self) -> aiohttp.ClientSession:
        session = self.engine._session
        if session is None:
            raise RemoteError("the remote engine is not started")
        return session

    async def call(
        self, method: str, path: str, *, ok: tuple[int, ...] = (200,), **kwargs: Any
    ) -> tuple[int, Any]:
        try:
            async with self.session.request(method, self.engine.url + path, **kwargs) as resp:
                text = await resp.text()
                if resp.status not in ok:
                    raise RemoteError(_error_text(resp.status, text))
                return resp.status, json.loads(text) if text else None
        except aiohttp.ClientError as exc:
            raise RemoteError(f"{self.engine.url}: {exc or type(exc).__name__}") from exc

    async def ndjson(self, method: str, path: str, **kwargs: Any) -> AsyncIterator[Any]:
        """The objects of an NDJSON stream; an `{"error": ...}` object becomes RemoteError."""
        try:
            async with self.session.request(method, self.engine.url + path, **kwargs) as resp:
                if resp.status != 200:
                    raise RemoteError(_error_text(resp.status, await resp.text()))
                buffer = b""
                async for chunk in resp.content.iter_any():
                    buffer += chunk
                    if len(buffer) > _MAX_LINE and b"\n" not in buffer:
                        raise RemoteError(f"{path}: a line of the stream is over {_MAX_LINE} bytes")
                    *complete, buffer = buffer.split(b"\n")
                    for raw in complete:
                        if not raw.strip():
                            continue
                        item = json.loads(raw)
                        if isinstance(item, dict) and isinstance(item.get("error"), dict):
                            raise RemoteError(str(item["error"].get("message", "remote error")))
                        yield item
        except aiohttp.ClientError as exc:
            raise RemoteError(f"{self.engine.url}: {exc or type(exc).__name__}") from exc
        except ValueError as exc:
            raise RemoteError(f"{path}: the remote sent a line that is not JSON ({exc})") from exc


class RemoteActions(_Client):
    """`ContainerActionsAPI` over the service."""

    async def start(self, key: str) -> None:
        await self.call("POST", _container_path(key) + "/start", ok=_DONE)

    async def stop(self, key: str, *, timeout: int = 10) -> None:
        await self.call("POST", _container_path(key) + f"/stop?timeout={int(timeout)}", ok=_DONE)

    async def restart(self, key: str, *, timeout: int = 10) -> None:
        path = _container_path(key) + f"/restart?timeout={int(timeout)}"
        await self.call("POST", path, ok=_DONE)

    async def remove(self, key: str, *, force: bool = False, volumes: bool = False) -> None:
        query = f"?force={int(force)}&volumes={int(volumes)}"
        await self.call("DELETE", _container_path(key) + query)

    async def logs(
        self, key: str, *, tail: int | None = 100, follow: bool = False
    ) -> AsyncIterator[str]:
        query = f"?tail={100_000 if tail is None else int(tail)}&follow={int(follow)}"
        async for item in self.ndjson("GET", _container_path(key) + "/logs" + query):
            if isinstance(item, dict) and isinstance(item.get("line"), str):
                yield item["line"]


class RemoteDevboxes(_Client):
    """`DevboxesAPI` over the service."""

    def __init__(self, engine: RemoteEngine) -> None:
        super().__init__(engine)
        self._ssh: dict[str, str] = {}

    def _remember(self, item: Any) -> DevboxInfo:
        box = DevboxInfo.model_validate(item["devbox"])
        command = item.get("ssh_command")
        if isinstance(command, str):
            self._ssh[box.key] = command
        return box

    async def list(self) -> list[DevboxInfo]:
        _, data = await self.call("GET", "/api/v1/devboxes")
        return [self._remember(item) for item in (data or {}).get("devboxes", [])]

    async def create(
        self,
        name: str,
        pubkey_text: str,
        *,
        memory: int | str | None = None,
        cpus: float | None = None,
        port: int | None = None,
        host: str | None = None,
        sudo: bool = False,
        progress: Callable[[str], None] | None = None,
    ) -> DevboxInfo:
        body = {
            "name": name,
            "pubkey": pubkey_text,
            "memory": memory,
            "cpus": cpus,
            "port": port,
            "host": host,
            "sudo": sudo,
        }
        body = {k: v for k, v in body.items() if v is not None}
        timeout = aiohttp.ClientTimeout(total=None, sock_read=600)
        async for item in self.ndjson("POST", "/api/v1/devboxes", json=body, timeout=timeout):
            if isinstance(item, dict) and "progress" in item:
                if progress is not None:
                    progress(str(item["progress"]))
            elif isinstance(item, dict) and "devbox" in item:
                return self._remember(item)
        raise RemoteError("the remote ended the create stream without a result")

    async def remove(self, name: str, *, keep_home: bool = False, host: str | None = None) -> str:
        query = f"?keep_home={int(keep_home)}" + (f"&host={quote(host, safe='')}" if host else "")
        _, data = await self.call("DELETE", f"/api/v1/devboxes/{quote(name, safe='')}{query}")
        return str((data or {}).get("removed", f"removed {name}"))

    def ssh_command(self, box: DevboxInfo) -> str:
        """The remote engine's command, with its loopback address replaced by the service's
        host name (a loopback address there is not this machine's)."""
        command = self._ssh.get(box.key) or f"ssh -p {box.port} dev@127.0.0.1"
        prefix, _, address = command.rpartition("@")
        try:
            loopback = ipaddress.ip_address(address).is_loopback
        except ValueError:
            loopback = False
        remote_host = urlsplit(self.engine.url).hostname or address
        if loopback and remote_host not in ("localhost", address):
            return f"{prefix}@{remote_host}"
        return command


class RemoteMemory(_Client):
    """`MemoryAPI` over the service (changes are made as who="api" on the remote side)."""

    async def _batch(self, route: str, changes: Mapping[str, int], confirm: bool) -> Any:
        body = {"changes": dict(changes), "confirm_below_usage": confirm}
        _, data = await self.call("POST", f"/api/v1/memory/{route}", json=body, ok=(200, 409, 503))
        return data

    async def plan(
        self, changes: Mapping[str, int], *, who: str, confirm_below_usage: bool = False
    ) -> MemoryPlan:
        return MemoryPlan.model_validate(await self._batch("plan", changes, confirm_below_usage))

    async def apply(
        self, changes: Mapping[str, int], *, who: str, confirm_below_usage: bool = False
    ) -> ApplyResult:
        data = await self._batch("apply", changes, confirm_below_usage)
        if isinstance(data, dict) and "error" in data:
            raise RemoteError(_error_text(409, json.dumps(data)))
        return ApplyResult.model_validate(data)

    async def history(self, limit: int = 100) -> list[MemoryChange]:
        _, data = await self.call("GET", f"/api/v1/memory/history?limit={int(limit)}")
        return [MemoryChange.model_validate(row) for row in (data or {}).get("history", [])]


def _tmux_path(container: str) -> str:
    if not container or "/" in container:
        raise RemoteError(
            f"over --connect, name the container by dev box or container name, not {container!r}"
        )
    return f"/api/v1/devboxes/{quote(container, safe='')}/tmux"


def _model_rows(cls: Any, rows: Any) -> list[Any]:
    """Dataclass rows from a JSON list; rows that do not fit are skipped."""
    out = []
    for row in rows if isinstance(rows, list) else []:
        try:
            out.append(cls(**row))
        except TypeError:
            continue
    return out


class RemoteTmux(_Client):
    """`TmuxAPI` over the service (`routes_tmux.py`)."""

    async def sessions(self, container: str) -> TmuxListing:
        _, data = await self.call("GET", _tmux_path(container))
        data = data if isinstance(data, dict) else {}
        return TmuxListing(
            container,
            _model_rows(TmuxSession, data.get("sessions")),
            _model_rows(TmuxWindow, data.get("windows")),
        )

    async def run(
        self,
        container: str,
        command: Sequence[str],
        *,
        session: str | None = None,
        window: str | None = None,
        cwd: str | None = None,
    ) -> str:
        body = {"command": list(command), "session": session, "window": window, "cwd": cwd}
        body = {k: v for k, v in body.items() if v is not None}
        _, data = await self.call("POST", _tmux_path(container) + "/run", json=body)
        return str((data or {}).get("session", session or ""))

    async def send(
        self,
        container: str,
        text: str,
        *,
        session: str | None = None,
        keys: bool = False,
        window: str | None = None,
    ) -> str:
        if window is not None:
            raise RemoteError("sending to a named window is not offered over --connect")
        body: dict[str, Any] = {"text": text, "keys": keys}
        if session is not None:
            body["session"] = session
        _, data = await self.call("POST", _tmux_path(container) + "/send", json=body)
        return str((data or {}).get("session", session or ""))

    async def broadcast(
        self, containers: Sequence[str], text: str, *, session: str | None = None
    ) -> list[BroadcastOutcome]:
        body: dict[str, Any] = {"containers": list(containers), "text": text}
        if session is not None:
            body["session"] = session
        _, data = await self.call("POST", "/api/v1/tmux/broadcast", json=body)
        out = []
        for row in (data or {}).get("results", []) if isinstance(data, dict) else []:
            if isinstance(row, dict) and isinstance(row.get("container"), str):
                error = row.get("error")
                out.append(BroadcastOutcome(row["container"], row.get("ok") is True,
                                            str(error) if error is not None else None))  # fmt: skip
        return out
