"""The threads capability of a remote engine, over the service's REST routes and event stream.

`RemoteEngine.threads` is a `RemoteThreads`: it keeps the thread statuses it got from
`GET /api/v1/threads` (after every snapshot) and from THREAD events, and forwards detail,
send, beat and knowledge-base reads to the routes of `service/routes_threads.py`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from clawtui.engine.api.models import EventKind
from clawtui.engine.api.threads import (
    IncomingMessage,
    ThreadDetail,
    ThreadError,
    ThreadProgress,
    ThreadStatus,
)

if TYPE_CHECKING:
    from clawtui.client.engine import RemoteEngine

log = logging.getLogger(__name__)


class RemoteThreads:
    def __init__(self, remote: RemoteEngine) -> None:
        self.remote = remote
        self._statuses: dict[int, ThreadStatus] = {}
        self._task: asyncio.Task[None] | None = None

    # -- cache ------------------------------------------------------------------------------
    def refresh_soon(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._refresh(), name="remote:threads")

    async def _refresh(self) -> None:
        try:
            data = await self.remote._get_json("/api/v1/threads")
        except Exception as exc:  # an older service without the routes: keep the panel empty
            log.info("remote threads not available: %s", exc)
            return
        rows = data.get("threads") if isinstance(data, dict) else None
        fresh: dict[int, ThreadStatus] = {}
        for raw in rows or []:
            try:
                s = ThreadStatus.model_validate(raw)
            except ValueError:
                continue
            fresh[s.thread.id] = s
        self._statuses = fresh
        for s in fresh.values():
            self.remote.bus.publish(EventKind.THREAD, thread=s)

    def apply(self, raw: Any) -> ThreadStatus:
        s = ThreadStatus.model_validate(raw)
        self._statuses[s.thread.id] = s
        return s

    # -- ThreadsAPI -------------------------------------------------------------------------
    def statuses(self) -> list[ThreadStatus]:
        return [self._statuses[k] for k in sorted(self._statuses)]

    def progress(self) -> list[ThreadProgress]:
        return [
            ThreadProgress(
                id=s.thread.id,
                name=s.thread.name,
                cwd=s.thread.cwd,
                last_activity=s.last_activity,
                liveness=s.heartbeat.liveness,
            )
            for s in self.statuses()
        ]

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        session = self.remote._session
        if session is None:
            raise ThreadError("not connected to the remote engine")
        async with session.request(method, self.remote.url + path, json=body) as resp:
            if resp.status >= 400:
                try:
                    message = (await resp.json())["error"]["message"]
                except Exception:
                    message = (await resp.text())[:200]
                raise ThreadError(f"{method} {path}: {message}")
            if resp.content_type == "application/json":
                return await resp.json()
            return await resp.text()

    async def detail(self, thread_id: int) -> ThreadDetail:
        return ThreadDetail.model_validate(await self._call("GET", f"/api/v1/threads/{thread_id}"))

    async def send(self, thread_id: int, text: str, *, sender: str = "clawtui") -> IncomingMessage:
        data = await self._call(
            "POST", f"/api/v1/threads/{thread_id}/messages", {"text": text, "sender": sender}
        )
        return IncomingMessage.model_validate(data)

    async def beat_now(self, thread_id: int) -> None:
        await self._call("POST", f"/api/v1/threads/{thread_id}/beat")

    async def kb_file(self, name: str) -> str:
        return str(await self._call("GET", f"/api/v1/kb/{name}"))

    async def kb_log(self, limit: int = 20) -> list[str]:
        data = await self._call("GET", "/api/v1/kb")
        return [str(x) for x in data.get("log", [])][:limit] if isinstance(data, dict) else []
