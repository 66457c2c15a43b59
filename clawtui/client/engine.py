"""`RemoteEngine`: the engine interface over a running `clawtui serve`, for `clawtui --connect`.

It mirrors the remote engine's hosts and containers from one event stream that begins with a
snapshot (`/api/v1/events?snapshot=1`), and republishes every event on a local bus with the same
types the local engine uses, so panels cannot tell the difference. When the stream breaks it
marks every host as unreachable, reconnects with backoff and, after the new snapshot, publishes
RESYNC so consumers re-read everything. Every event is decoded with the interface's
`decode_event` (the service encodes with `encode_event`); an undecodable one is logged and
skipped. Container actions, dev boxes, memory rebalancing and tmux
go over the REST routes (`client/caps.py`), warm pools too (`client/pools.py`; their POOL and SYNC
events come with the stream), escalations, incidents and briefs (`client/escalations.py`), and the
relay whitelist (`client/relay.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

import aiohttp

from clawtui.client.caps import (
    RemoteActions,
    RemoteDevboxes,
    RemoteError,
    RemoteMemory,
    RemoteTmux,
)
from clawtui.client.escalations import (
    RemoteBriefs,
    RemoteEscalations,
    RemoteIncidents,
)
from clawtui.client.pools import RemotePools
from clawtui.client.relay import RemoteIngress
from clawtui.client.threads import RemoteThreads
from clawtui.engine.api.events import EventDecodeError, decode_event
from clawtui.engine.api.models import (
    ActivityEntry,
    ContainerInfo,
    ContainerStats,
    EventKind,
    HostInfo,
    HostState,
)
from clawtui.engine.api.protocols import EventBus, Subscription
from clawtui.engine.api.tokens import CALLER_VIA

log = logging.getLogger(__name__)

MAX_EVENT_LINE = 256 * 1024 * 1024
"""Longest SSE line the client takes (a snapshot of a very large fleet is one line)."""


async def _lines(stream: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    """The stream's lines (with their end), of any length up to MAX_EVENT_LINE.

    Not `async for line in stream`: aiohttp's readline raises LineTooLong (an
    HttpProcessingError, no ClientError) past twice its read buffer (128 KiB by default), and a
    snapshot of a thousand containers is longer than that."""
    buf = bytearray()
    async for chunk in stream.iter_any():
        scan = len(buf)  # the part before had no line end
        buf += chunk
        start = 0
        while (end := buf.find(b"\n", scan)) != -1:
            yield bytes(buf[start : end + 1])
            start = scan = end + 1
        del buf[:start]
        if len(buf) > MAX_EVENT_LINE:
            raise RemoteError(f"an event line longer than {MAX_EVENT_LINE >> 20} MiB")
    if buf:
        yield bytes(buf)


__all__ = ["RemoteEngine", "RemoteError"]


async def _mark_via(
    _session: aiohttp.ClientSession, _ctx: Any, params: aiohttp.TraceRequestStartParams
) -> None:
    """Send `X-Clawtui-Via` when a front end calls on a client's behalf (`CALLER_VIA`)."""
    via = CALLER_VIA.get()
    if via:
        params.headers["X-Clawtui-Via"] = via


class RemoteEngine:
    is_remote = True

    def __init__(self, url: str, token: str, *, max_backoff: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self.bus = EventBus()
        self.max_backoff = max_backoff
        self._hosts: dict[str, HostInfo] = {}
        self._containers: dict[str, ContainerInfo] = {}
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.last_error: str | None = None
        # The same capabilities as the local engine, over the service's REST routes.
        self.actions = RemoteActions(self)
        self.devboxes = RemoteDevboxes(self)
        self.memory = RemoteMemory(self)
        self.threads = RemoteThreads(self)
        self.tmux = RemoteTmux(self)
        self.pools = RemotePools(self)
        self.escalations = RemoteEscalations(self)
        self.incidents = RemoteIncidents(self)
        self.briefs = RemoteBriefs(self)
        self.ingress = RemoteIngress(self)

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        if self._task is not None:
            return
        self.bus.bind(asyncio.get_running_loop())
        via = aiohttp.TraceConfig()
        via.on_request_start.append(_mark_via)
        self._session = aiohttp.ClientSession(
            headers=self._headers,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            trace_configs=[via],
        )
        self._task = asyncio.create_task(self._stream_loop(), name="remote:events")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        self.bus.close()

    @property
    def connection_problem(self) -> str | None:
        """Why the event stream is down (cannot authenticate, cannot reach...), while it is
        down and retried; None when connected or before the first attempt ended."""
        return None if self.connected.is_set() else self.last_error

    # -- reads -------------------------------------------------------------------------------
    def subscribe(self, kinds: Iterable[EventKind] | None = None) -> Subscription:
        return self.bus.subscribe(kinds)

    def hosts(self) -> list[HostInfo]:
        return list(self._hosts.values())

    def host(self, name: str) -> HostInfo | None:
        return self._hosts.get(name)

    def containers(
        self, *, host: str | None = None, role: str | None = None
    ) -> list[ContainerInfo]:
        out = [
            c
            for c in self._containers.values()
            if (host is None or c.host == host) and (role is None or c.role == role)
        ]
        out.sort(key=lambda c: (c.host, c.name))
        return out

    def container(self, key: str) -> ContainerInfo | None:
        return self._containers.get(key)

    async def activity(self, limit: int = 200) -> list[ActivityEntry]:
        data = await self._get_json(f"/api/v1/activity?limit={int(limit)}")
        items = data.get("activity") if isinstance(data, dict) else None
        return [ActivityEntry.model_validate(i) for i in items or []]

    async def _get_json(self, path: str) -> Any:
        if self._session is None:
            raise RemoteError("not started")
        async with self._session.get(self.url + path) as resp:
            if resp.status != 200:
                raise RemoteError(f"GET {path}: HTTP {resp.status}: {(await resp.text())[:200]}")
            return await resp.json()

    # -- the stream --------------------------------------------------------------------------
    async def _stream_loop(self) -> None:
        backoff = 0.25
        while True:
            try:
                await self._read_stream()
                reason = "the event stream ended"
            except asyncio.CancelledError:
                raise
            except RemoteError as exc:
                reason = str(exc)
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
                reason = f"cannot reach {self.url}: {exc or exc.__class__.__name__}"
            except Exception as exc:  # any other stream error: shown, then a reconnect
                log.warning("event stream from %s failed", self.url, exc_info=True)
                reason = f"{self.url}: {exc.__class__.__name__}: {str(exc)[:300]}"
            self._lost(reason)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)
            if self.connected.is_set():
                backoff = 0.25

    def _lost(self, reason: str) -> None:
        self.connected.clear()
        self.last_error = reason
        for name, info in list(self._hosts.items()):
            changed = info.model_copy(
                update={"state": HostState.OFFLINE, "error": f"remote engine unreachable: {reason}"}
            )
            self._hosts[name] = changed
            self.bus.publish(EventKind.HOST, host=name, info=changed)

    async def _read_stream(self) -> None:
        if self._session is None:
            raise RemoteError("not started")
        async with self._session.get(self.url + "/api/v1/events?snapshot=1") as resp:
            if resp.status in (401, 403):
                raise RemoteError(
                    f"cannot authenticate to {self.url}: it refused the token (HTTP "
                    f"{resp.status}); check --token / CLAWTUI_API_TOKEN"
                )
            if resp.status != 200:
                raise RemoteError(f"{self.url}: HTTP {resp.status} on the event stream")
            kind: str | None = None
            data: list[str] = []
            async for raw in _lines(resp.content):
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if not line:
                    if kind and data and not self._dispatch_text(kind, "\n".join(data)):
                        return  # the remote side dropped events for us: take a new snapshot
                    kind, data = None, []
                elif line.startswith(":"):
                    continue
                elif line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip())

    def _dispatch_text(self, kind: str, text: str) -> bool:
        """Apply one event; False when a new snapshot is needed. Bad events are logged and
        skipped."""
        if kind == EventKind.RESYNC.value:
            return False
        try:
            self._dispatch(kind, json.loads(text))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("skipped a malformed %s event from %s: %s", kind, self.url, exc)
        return True

    def _dispatch(self, kind: str, payload: Any) -> None:
        if kind == "snapshot":
            self._hosts = {h.name: h for h in map(HostInfo.model_validate, payload["hosts"])}
            self._containers = {
                c.key: c for c in map(ContainerInfo.model_validate, payload["containers"])
            }
            self.connected.set()
            self.last_error = None
            self.bus.publish(EventKind.RESYNC, reason="connected to remote engine")
            self.threads.refresh_soon()
            return
        try:
            event = decode_event(payload)
        except EventDecodeError as exc:
            log.warning("skipped an undecodable event from %s: %s", self.url, exc)
            return
        host, data = event.host, event.data
        if event.kind is EventKind.HOST:
            info: HostInfo = data["info"]
            self._hosts[info.name] = info
            self.bus.publish(EventKind.HOST, host=info.name, info=info)
        elif event.kind is EventKind.CONTAINER:
            c: ContainerInfo = data["container"]
            self._containers[c.key] = c
            self.bus.publish(EventKind.CONTAINER, host=c.host, container=c)
        elif event.kind is EventKind.CONTAINER_REMOVED:
            self._containers.pop(f"{host}/{data['id']}", None)
            self.bus.publish(EventKind.CONTAINER_REMOVED, host=host, **data)
        elif event.kind is EventKind.STATS:
            stats: dict[str, ContainerStats] = {}
            for cid, s in data["stats"].items():
                key = f"{host}/{cid}"
                current = self._containers.get(key)
                if current is None:
                    continue
                self._containers[key] = current.model_copy(update={"stats": s})
                stats[cid] = s
            self.bus.publish(EventKind.STATS, host=host, stats=stats)
        elif event.kind is EventKind.THREAD:
            self.bus.publish(EventKind.THREAD, thread=self.threads.apply(data["thread"]))
        else:  # every other kind as it came (MEMORY, ESCALATION, INCIDENT, BRIEF, POOL, ...)
            self.bus.publish(event.kind, host=host, **data)
