"""Actions on any container the engine knows, by key (`host/id`): lifecycle verbs and logs.

The TUI's action keys, the service's routes and the dev-box verbs all act on containers, and all
must keep the same three promises: refuse a key the engine does not know (a client cannot make
the engine touch an arbitrary container id), run the blocking SDK call in the host's thread pool,
and say what was done in the activity log. They are kept here, once.

Changes to the container model are not made here: Docker's events bring them, as for any change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from clawtui.engine.api.fleet import ActionError, UnknownContainer
from clawtui.engine.api.models import ContainerInfo
from clawtui.engine.docker_sdk import docker
from clawtui.engine.fleet.endpoints import refusal_text
from clawtui.engine.fleet.own import own_container_ids, own_short_id, why_not_actionable

if TYPE_CHECKING:
    from clawtui.engine.context import Context
    from clawtui.engine.fleet.hosts import HostMonitor

log = logging.getLogger(__name__)

MAX_LOG_LINE = 64 * 1024
"""A log line longer than this (no newline in sight) is cut and yielded in pieces."""

_LOG_CHUNKS_IN_FLIGHT = 256  # chunks read ahead of a slow consumer before the reader waits
_END = object()


def docker_error_text(exc: BaseException) -> str:
    """The useful sentence of a Docker SDK error (its explanation, without the HTTP noise); a
    refusal of a socket proxy names the endpoint and the capability that needs it."""
    refused = refusal_text(exc)
    if refused is not None:
        return refused
    if isinstance(exc, docker.errors.APIError):
        explanation = exc.explanation
        if isinstance(explanation, bytes):
            explanation = explanation.decode("utf-8", "replace")
        if explanation:
            return str(explanation).strip()
    return str(exc).strip() or exc.__class__.__name__


class LineSplitter:
    """Turns chunks of log bytes into lines of text (UTF-8, undecodable bytes replaced).

    Docker frames do not follow line boundaries: a line may arrive in several chunks and a chunk
    may hold several lines. A trailing "\\r" is dropped (CRLF logs); a line longer than
    `max_line` is yielded in pieces rather than held in memory.
    """

    def __init__(self, max_line: int = MAX_LOG_LINE) -> None:
        self._buf = bytearray()
        self._max = max_line

    def feed(self, chunk: bytes | str) -> list[str]:
        if isinstance(chunk, str):  # tty containers: docker-py decodes for us
            chunk = chunk.encode("utf-8", "surrogateescape")
        self._buf += chunk
        lines: list[str] = []
        while True:
            cut = self._buf.find(b"\n")
            if cut < 0:
                break
            lines.append(self._decode(self._buf[:cut]))
            del self._buf[: cut + 1]
        while len(self._buf) > self._max:
            lines.append(self._decode(self._buf[: self._max]))
            del self._buf[: self._max]
        return lines

    def flush(self) -> str | None:
        """The last, unterminated line (None when there is none)."""
        if not self._buf:
            return None
        line = self._decode(self._buf)
        self._buf.clear()
        return line

    @staticmethod
    def _decode(raw: bytes | bytearray) -> str:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        return bytes(raw).decode("utf-8", errors="replace")


class ContainerActions:
    """Start, stop, restart, remove and read the logs of containers the engine knows."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.own_ids = own_container_ids()
        """Ids of the container this process runs in (never acted on)."""
        self.own_short = own_short_id()

    def resolve(self, key: str) -> tuple[HostMonitor, Any, ContainerInfo]:
        """The host monitor, its Docker client and the container of `key`; ActionError if the
        engine does not know the key or its host is offline."""
        info = self.ctx.container(key)
        if info is None:
            raise UnknownContainer(
                f"unknown container {key!r}: the engine knows no such container "
                "(a key is HOST/ID, e.g. local/3f2a…, as listed by the engine)"
            )
        monitor = self.ctx.monitors[info.host]
        client = monitor.client
        if client is None:
            reason = monitor.info.error or "not connected"
            raise ActionError(f"host {info.host} is offline ({reason}): cannot act on {info.name}")
        return monitor, client, info

    async def _do(self, key: str, verb: str, method: str, **kwargs: Any) -> ContainerInfo:
        monitor, client, info = self.resolve(key)
        why_not = why_not_actionable(info.id, info.labels, self.own_ids, self.own_short)
        if why_not is not None:
            raise ActionError(f"will not {verb} {info.name}: {why_not}")
        try:
            await monitor.call(getattr(client, method), info.id, **kwargs)
        except docker.errors.NotFound:
            raise UnknownContainer(
                f"container {info.name} no longer exists on {info.host}"
            ) from None
        except docker.errors.DockerException as exc:
            raise ActionError(f"could not {verb} {info.name}: {docker_error_text(exc)}") from None
        self.ctx.log_activity("info", f"container {info.name}: {verb}", host=info.host, subject=key)
        return info

    async def start(self, key: str) -> None:
        await self._do(key, "start", "start")

    async def stop(self, key: str, *, timeout: int = 10) -> None:
        """Stop (SIGTERM, then SIGKILL after `timeout` seconds)."""
        await self._do(key, "stop", "stop", timeout=timeout)

    async def restart(self, key: str, *, timeout: int = 10) -> None:
        await self._do(key, "restart", "restart", timeout=timeout)

    async def remove(self, key: str, *, force: bool = False, volumes: bool = False) -> None:
        """Remove the container; `force` kills it first if running, `volumes` also removes its
        anonymous volumes (named volumes are never removed by Docker here)."""
        await self._do(key, "remove", "remove_container", force=force, v=volumes)

    async def logs(
        self, key: str, *, tail: int | None = 100, follow: bool = False
    ) -> AsyncIterator[str]:
        """Lines of the container's stdout and stderr: the last `tail` (None: all), then, with
        `follow`, new lines as they come until the container stops or the caller stops iterating.

        A dedicated thread reads the stream (a follow may last for hours; it must not hold one
        of the host's pool threads) and at most a few hundred chunks wait for a slow consumer.
        """
        monitor, client, info = self.resolve(key)
        if tail is not None and tail < 0:
            raise ActionError(f"tail must be 0 or more, got {tail}")
        try:
            stream = await monitor.call(
                client.logs,
                info.id,
                stdout=True,
                stderr=True,
                stream=True,
                follow=follow,
                tail="all" if tail is None else tail,
            )
        except docker.errors.NotFound:
            raise UnknownContainer(
                f"container {info.name} no longer exists on {info.host}"
            ) from None
        except docker.errors.DockerException as exc:
            raise ActionError(
                f"could not read the logs of {info.name}: {docker_error_text(exc)}"
            ) from None

        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        slots = threading.Semaphore(_LOG_CHUNKS_IN_FLIGHT)
        closed = threading.Event()

        def post(item: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is listening
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def read() -> None:
            try:
                for chunk in stream:
                    while not slots.acquire(timeout=0.5):
                        if closed.is_set():
                            return
                    if closed.is_set():
                        return
                    post(chunk)
            except Exception as exc:  # the socket died under us
                post(exc)
            finally:
                post(_END)

        threading.Thread(target=read, daemon=True, name=f"logs-{info.name}"[:60]).start()
        splitter = LineSplitter()
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    log.debug("log stream of %s ended: %s", info.name, item)
                    break
                slots.release()
                for line in splitter.feed(item):
                    yield line
            rest = splitter.flush()
            if rest is not None:
                yield rest
        finally:
            closed.set()
            with contextlib.suppress(Exception):
                stream.close()
