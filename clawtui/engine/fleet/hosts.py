"""One host's Docker engine as the engine sees it: connection, container model, events, stats.

A `HostMonitor` owns a connection loop: connect, open the events stream, list + inspect every
container (reconcile), then apply events as they arrive. When the stream breaks (dockerd stopped,
socket gone) the host is reported offline and the loop reconnects with backoff; every reconnect
begins with a full reconcile, because dockerd keeps only its last 256 events and a gap may have
lost any of them. A sampler task refreshes stats of running containers once per interval, from
cgroup files where this process can read them and from one-shot stats requests elsewhere.

The docker SDK is synchronous: every call runs in this host's thread pool, never on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from clawtui.engine.api.models import (
    ContainerInfo,
    ContainerStats,
    EventKind,
    HostInfo,
    HostState,
)
from clawtui.engine.bus import EventBus
from clawtui.engine.docker_sdk import docker
from clawtui.engine.fleet.docker_parse import (
    container_from_inspect,
    event_action,
    host_facts,
    host_summary,
)
from clawtui.engine.fleet.endpoints import refusal_text
from clawtui.engine.fleet.stats import (
    CgroupFiles,
    CgroupPaths,
    CpuMark,
    detect_cgroup_version,
    resolve_cgroup_paths,
    sample_cgroup,
    stats_from_api,
)

if TYPE_CHECKING:
    from clawtui.config import HostConfig

log = logging.getLogger(__name__)
T = TypeVar("T")

# Actions after which a container's inspect may differ; "destroy" removes it.
_REFRESH_ACTIONS = frozenset(
    {
        "create", "start", "restart", "die", "stop", "kill", "pause", "unpause", "update",
        "rename", "oom", "health_status",
    }
)  # fmt: skip
_END = object()


def describe_docker_error(exc: BaseException, url: str) -> str:
    """A plain sentence for the host's error line, naming the fix where we know it."""
    refused = refusal_text(exc)
    if refused is not None:
        return f"{url}: {refused}"
    text = str(exc) or exc.__class__.__name__
    if "FileNotFoundError" in text or "No such file" in text or "Connection refused" in text:
        return f"no Docker engine answers at {url}: start dockerd (scripts/ensure-docker)"
    if "Permission denied" in text:
        return f"permission denied on {url}: run as a user in the docker group"
    return f"{url}: {text[:300]}"


def _own_tls_client_class() -> Any:
    """An APIClient class that ignores the environment's CA bundle and proxies (made when first
    needed: the Docker SDK is imported on first use).

    requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE win over a session's own CA
    (psf/requests#3829), so a host's tls_ca would be ignored wherever they are set. The version
    check runs inside ``APIClient.__init__``, so trust_env is fixed at class level.
    """

    class OwnTlsAPIClient(docker.api.client.APIClient):  # type: ignore[misc]
        @property
        def trust_env(self) -> bool:
            return False

        @trust_env.setter
        def trust_env(self, value: bool) -> None:
            pass

    return OwnTlsAPIClient


class HostMonitor:
    """Connection, model and sampler of one configured Docker host."""

    def __init__(
        self,
        cfg: HostConfig,
        bus: EventBus,
        *,
        stats_interval: float,
        max_backoff: float,
        activity: Callable[..., None],
    ) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.bus = bus
        self.stats_interval = stats_interval
        self.max_backoff = max_backoff
        self._activity = activity
        self.info = HostInfo(name=cfg.name, url=cfg.url)
        self.containers: dict[str, ContainerInfo] = {}
        self.client: docker.api.client.APIClient | None = None
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix=f"docker-{cfg.name}")
        self._stream: Any = None
        self._stopping = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._inspecting: dict[str, asyncio.Task[None]] = {}
        self._inspect_again: set[str] = set()
        self._destroyed: deque[str] = deque(maxlen=4096)
        self._cpu_marks: dict[str, CpuMark] = {}
        self._cgroup_paths: dict[str, CgroupPaths | None] = {}
        self._cgroup_files: dict[str, CgroupFiles] = {}  # touched only in the sampler's thread
        self._cgroup_stale: set[str] = set()  # loop thread -> sampler: close and reopen these
        self._cgroup_stale_all = False
        self._sampling_lock = threading.Lock()
        self._cgroup_version: int | None = None
        self.reconciles = 0
        self.last_sample_seconds: float | None = None
        self.samples = 0

    # -- plumbing ----------------------------------------------------------------------------
    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking docker SDK call in this host's thread pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=f"{self.name}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _set_info(self, **changes: Any) -> None:
        new = self.info.model_copy(update=changes)
        if new != self.info:
            self.info = new
            self.bus.publish(EventKind.HOST, host=self.name, info=new)

    def _recompute_summary(self) -> None:
        reserve = int(self.cfg.memory_reserve)
        self._set_info(**host_summary(self.containers.values(), self.info.memory.total, reserve))

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, *, phase: float = 0.0) -> None:
        """Connect and sample; the sampler ticks `phase` (0-1) of an interval after the others'
        phase 0: the engine spreads its hosts' samplers over the interval, so their bursts of
        work (a file read or a Docker request per container, a new model per container on the
        event loop) do not all fall at the same moment of every second."""
        self._spawn(self._connection_loop(), "connection")
        self._spawn(self._sampler_loop(phase * self.stats_interval), "sampler")

    async def stop(self) -> None:
        self._stopping = True
        self._close_stream()
        tasks = list(self._tasks) + list(self._inspecting.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        client, self.client = self.client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
        self._pool.shutdown(wait=False, cancel_futures=True)
        await asyncio.to_thread(self._close_cgroup_files)

    def _close_cgroup_files(self) -> None:
        with self._sampling_lock:  # waits for an in-flight _sample_direct
            for f in self._cgroup_files.values():
                f.close()
            self._cgroup_files.clear()

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()

    async def _connection_loop(self) -> None:
        backoff = 0.25
        while not self._stopping:
            try:
                queue = await self._connect()
                backoff = 0.25
                await self._pump(queue)
                if not self._stopping:
                    self._go_offline("the Docker events stream ended (dockerd stopped?)")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._go_offline(describe_docker_error(exc, self.cfg.url))
            if self._stopping:
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    def _go_offline(self, reason: str) -> None:
        self._close_stream()
        was_online = self.info.state is HostState.ONLINE
        if self.info.state is not HostState.OFFLINE or self.info.error != reason:
            since = self.info.offline_since if self.info.offline_since is not None else time.time()
            self._set_info(state=HostState.OFFLINE, error=reason, offline_since=since)
        if was_online:
            self._activity("warning", f"host offline: {reason}", host=self.name)
            # Stats of an unreachable host are stale: clear them.
            for key, c in list(self.containers.items()):
                if c.stats is not None:
                    self.containers[key] = c.model_copy(update={"stats": None})
            self._cpu_marks.clear()

    async def _connect(self) -> asyncio.Queue[Any]:
        def make_client() -> docker.api.client.APIClient:
            plain = docker.api.client.APIClient
            cls = _own_tls_client_class() if self.cfg.uses_tls_files else plain
            client: docker.api.client.APIClient = cls(**self.cfg.docker_client_kwargs())
            return client

        old, self.client = self.client, None
        if old is not None:
            with contextlib.suppress(Exception):
                old.close()
        client = await self.call(make_client)
        self.client = client
        info, version = await asyncio.gather(self.call(client.info), self.call(client.version))
        facts = host_facts(info, version)
        self._cgroup_version = None
        self._cgroup_paths.clear()
        self._cgroup_stale_all = True
        if self.cfg.is_local and self.cfg.cgroup_root:
            self._cgroup_version = detect_cgroup_version(Path(self.cfg.cgroup_root))
        # Open the events stream before listing, so nothing between the two is lost.
        queue: asyncio.Queue[Any] = asyncio.Queue()
        since = int(time.time()) - 1
        stream = await self.call(
            client.events, since=since, filters={"type": ["container"]}, decode=True
        )
        self._stream = stream
        loop = asyncio.get_running_loop()
        threading.Thread(
            target=self._read_stream, args=(stream, queue, loop), daemon=True,
            name=f"docker-events-{self.name}",
        ).start()  # fmt: skip
        mem_total = facts.pop("mem_total")
        self._set_info(
            **facts,
            memory=self.info.memory.model_copy(update={"total": mem_total}),
            direct_stats=self._cgroup_version is not None,
        )
        await self.reconcile()
        was = self.info.state
        self._set_info(
            state=HostState.ONLINE, error=None, last_seen=time.time(), offline_since=None
        )
        if was is not HostState.ONLINE:
            self._activity(
                "info", f"host online: Docker {self.info.docker_version}", host=self.name
            )
        return queue

    def _read_stream(self, stream: Any, queue: asyncio.Queue[Any], loop: Any) -> None:
        """Thread body: forward decoded events to the loop until the stream ends."""
        try:
            for item in stream:
                loop.call_soon_threadsafe(queue.put_nowait, item)
        except Exception as exc:  # the socket closed under us, or garbage on the wire
            log.debug("events stream of %s ended: %s", self.name, exc)
        finally:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(queue.put_nowait, _END)

    async def _pump(self, queue: asyncio.Queue[Any]) -> None:
        while True:
            item = await queue.get()
            if item is _END:
                return
            parsed = event_action(item)
            if parsed is None:
                continue
            cid, action = parsed
            if action == "destroy":
                self._destroyed.append(cid)
                self._remove(cid)
            elif action in _REFRESH_ACTIONS:
                self._schedule_inspect(cid)

    # -- model updates -----------------------------------------------------------------------
    def _schedule_inspect(self, cid: str) -> None:
        if cid in self._inspecting:
            self._inspect_again.add(cid)
            return
        task = asyncio.create_task(self._inspect_loop(cid), name=f"{self.name}:inspect")
        self._inspecting[cid] = task

    async def _inspect_loop(self, cid: str) -> None:
        try:
            while True:
                self._inspect_again.discard(cid)
                await self._refresh(cid)
                if cid not in self._inspect_again:
                    return
        finally:
            self._inspecting.pop(cid, None)

    async def _inspect(self, cid: str) -> ContainerInfo | None:
        client = self.client
        if client is None:
            return None
        try:
            data = await self.call(client.inspect_container, cid)
        except docker.errors.NotFound:
            return None
        return container_from_inspect(self.name, data)

    async def _refresh(self, cid: str) -> None:
        try:
            info = await self._inspect(cid)
        except Exception as exc:
            log.debug("inspect %s on %s failed: %s", cid[:12], self.name, exc)
            return  # a gap: the next reconcile fixes it
        if cid in self._destroyed:
            return
        if info is None:
            self._remove(cid)
        else:
            self._put(info)

    def _put(self, info: ContainerInfo) -> None:
        old = self.containers.get(info.id)
        if old is not None and old.stats is not None and info.running:
            info = info.model_copy(update={"stats": old.stats})
        if old == info:
            return
        if old is None or old.pid != info.pid or old.memory_limit != info.memory_limit:
            self._cgroup_paths.pop(info.id, None)
            self._cgroup_stale.add(info.id)
        if not info.running:
            self._cpu_marks.pop(info.id, None)
        self.containers[info.id] = info
        if old is None:
            self._activity("info", f"container {info.name} appeared ({info.state})", host=self.name)
        elif old.state != info.state:
            self._activity(
                "info", f"container {info.name}: {old.state} → {info.status}", host=self.name
            )
        self.bus.publish(EventKind.CONTAINER, host=self.name, container=info)
        self._recompute_summary()

    def _remove(self, cid: str) -> None:
        old = self.containers.pop(cid, None)
        self._cpu_marks.pop(cid, None)
        self._cgroup_paths.pop(cid, None)
        self._cgroup_stale.add(cid)
        if old is None:
            return
        self._activity("info", f"container {old.name} removed", host=self.name)
        self.bus.publish(EventKind.CONTAINER_REMOVED, host=self.name, id=cid, name=old.name)
        self._recompute_summary()

    async def reconcile(self) -> None:
        """List + inspect everything and make the model match Docker exactly."""
        client = self.client
        if client is None:
            return
        listed = await self.call(client.containers, all=True)
        ids: list[str] = [
            c["Id"] for c in listed if isinstance(c, dict) and isinstance(c.get("Id"), str)
        ]
        results = await asyncio.gather(*(self._inspect(cid) for cid in ids), return_exceptions=True)
        seen: set[str] = set()
        for cid, result in zip(ids, results, strict=True):
            if isinstance(result, ContainerInfo):
                seen.add(cid)
                self._put(result)
        for cid in list(self.containers):
            if cid not in seen:
                self._remove(cid)
        self.reconciles += 1
        self._recompute_summary()

    # -- stats -------------------------------------------------------------------------------
    async def _sampler_loop(self, offset: float = 0.0) -> None:
        next_tick = time.monotonic()
        if offset > 0:
            await asyncio.sleep(offset)
            next_tick += offset
        while not self._stopping:
            next_tick += self.stats_interval
            if self.info.state is HostState.ONLINE:
                try:
                    await self.sample_once()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.debug("stats sample on %s failed: %s", self.name, exc)
            delay = next_tick - time.monotonic()
            if delay < 0:  # fell behind: skip ticks rather than bunch them
                next_tick = time.monotonic()
                delay = 0
            await asyncio.sleep(delay)

    async def sample_once(self) -> dict[str, ContainerStats]:
        """Refresh stats of every running container and publish one coalescing STATS event."""
        started = time.perf_counter()
        running = [c for c in self.containers.values() if c.running]
        if self._cgroup_version is not None:
            results = await self.call(self._sample_direct, running)
            # No cgroup found (a socket forwarded from another machine, a custom layout):
            # those containers are asked through the API instead.
            unresolved = [c for c in running if c.id not in results]
            if unresolved:
                results.update(await self._sample_api(unresolved))
        else:
            results = await self._sample_api(running)
        out: dict[str, ContainerStats] = {}
        for cid, stats in results.items():
            current = self.containers.get(cid)
            if current is None or stats is None or not current.running:
                continue
            self.containers[cid] = current.model_copy(update={"stats": stats})
            out[cid] = stats
        self.last_sample_seconds = time.perf_counter() - started
        self.samples += 1
        self.bus.publish(EventKind.STATS, host=self.name, stats=out)
        return out

    def _sample_direct(self, running: list[ContainerInfo]) -> dict[str, ContainerStats | None]:
        with self._sampling_lock:
            return self._sample_direct_locked(running)

    def _sample_direct_locked(
        self, running: list[ContainerInfo]
    ) -> dict[str, ContainerStats | None]:
        assert self._cgroup_version is not None and self.cfg.cgroup_root
        files = self._cgroup_files
        if self._cgroup_stale_all:
            self._cgroup_stale_all = False
            self._cgroup_stale.clear()
            for f in files.values():
                f.close()
            files.clear()
        while self._cgroup_stale:
            stale = files.pop(self._cgroup_stale.pop(), None)
            if stale is not None:
                stale.close()
        root = Path(self.cfg.cgroup_root)
        out: dict[str, ContainerStats | None] = {}
        for c in running:
            handle = files.get(c.id)
            if handle is None:
                if c.id in self._cgroup_paths:
                    paths = self._cgroup_paths[c.id]
                else:
                    paths = resolve_cgroup_paths(root, self._cgroup_version, c.id, c.pid)
                    self._cgroup_paths[c.id] = paths
                if paths is None:
                    continue
                try:
                    handle = files[c.id] = CgroupFiles(paths)
                except OSError:  # gone already, or out of fds: the path-per-read fallback
                    handle = None
            if handle is not None:
                stats, mark = handle.sample(self._cpu_marks.get(c.id))
                if stats is None:
                    files.pop(c.id).close()
                    self._cgroup_paths.pop(c.id, None)
            else:
                paths = self._cgroup_paths.get(c.id)
                if paths is None:
                    continue
                stats, mark = sample_cgroup(paths, self._cpu_marks.get(c.id))
                if stats is None:
                    self._cgroup_paths.pop(c.id, None)
            if mark is not None:
                self._cpu_marks[c.id] = mark
            out[c.id] = stats
        return out

    async def _sample_api(self, running: list[ContainerInfo]) -> dict[str, ContainerStats | None]:
        client = self.client
        if client is None:
            return {}

        async def one(c: ContainerInfo) -> tuple[str, ContainerStats | None]:
            try:
                payload = await self.call(client.stats, c.id, stream=False, one_shot=True)
            except Exception:
                return c.id, None
            stats, mark = stats_from_api(payload, self._cpu_marks.get(c.id))
            if mark is not None:
                self._cpu_marks[c.id] = mark
            return c.id, stats

        return dict(await asyncio.gather(*(one(c) for c in running)))
