"""Helpers for pool tests: the workload image, settings with pools, S3 on loopback (moto)."""

from __future__ import annotations

import asyncio
import io
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import Any

import docker

from clawtui.config import EngineConfig, HostConfig, Settings
from clawtui.config.pools import (
    HealthcheckSpec,
    PoolConfig,
    ResourcesSpec,
    SinkSpec,
    SyncMapping,
    SyncPolicy,
    SyncSpec,
    WorkloadConfig,
)
from clawtui.engine.core import Engine
from clawtui.engine.pools.spec import LABEL_POOL

WORKLOAD_IMAGE = "clawtui-test/pool-workload:1"
_DOCKERFILE = b"""FROM clawtui-test/busybox:1
CMD ["sleep", "86400"]
"""


def ensure_workload_image(api: docker.APIClient) -> str:
    """Build the pool test image from the local busybox image (never pulls)."""
    try:
        api.inspect_image(WORKLOAD_IMAGE)
        return WORKLOAD_IMAGE
    except docker.errors.ImageNotFound:
        pass
    for _ in api.build(
        fileobj=io.BytesIO(_DOCKERFILE), tag=WORKLOAD_IMAGE, pull=False, rm=True, decode=True
    ):
        pass
    api.inspect_image(WORKLOAD_IMAGE)
    return WORKLOAD_IMAGE


def unique(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(3)}"


def workload(
    name: str,
    labels: dict[str, str],
    *,
    sync: SyncSpec | None = None,
    health: list[str] | None = None,
    **extra: Any,
) -> WorkloadConfig:
    return WorkloadConfig(
        name=name,
        image=WORKLOAD_IMAGE,
        command=["sleep", "86400"],
        env={"TENANT_HOME": "/state/${tenantId}", "STATIC": "1"},
        healthcheck=HealthcheckSpec(command=health or ["true"], interval=0.1, retries=2),
        resources=ResourcesSpec(memory=32 * 1024 * 1024, cpus=0.2, pids=32),
        labels=dict(labels),
        sync=sync,
        **extra,
    )


def local_sync(sink: Path, mappings: list[SyncMapping] | None = None, **policy: Any) -> SyncSpec:
    return SyncSpec(
        sink=SinkSpec(type="local", path=sink),
        mappings=mappings or [SyncMapping(name="state", path="/state/data", sink_path="data")],
        policy=SyncPolicy(**policy),
        retries=2,
    )


def pool_settings(
    state_dir: Path, workloads: list[WorkloadConfig], pools: list[PoolConfig]
) -> Settings:
    return Settings(
        engine=EngineConfig(state_dir=state_dir, stats_interval=5.0, reconnect_max_backoff=1.0),
        hosts=[HostConfig(name="local", cgroup_root=None)],
        workloads=workloads,
        pools=pools,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3 server on a loopback port; yields its endpoint URL."""
    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


def make_bucket(endpoint: str, bucket: str) -> None:
    """Create a bucket with rclone itself (the same client the engine uses)."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("RCLONE_", "AWS_"))},
        "RCLONE_CONFIG": os.devnull,
        "RCLONE_CONFIG_MK_TYPE": "s3",
        "RCLONE_CONFIG_MK_PROVIDER": "Other",
        "RCLONE_CONFIG_MK_ENDPOINT": endpoint,
        "RCLONE_CONFIG_MK_ACCESS_KEY_ID": "test",
        "RCLONE_CONFIG_MK_SECRET_ACCESS_KEY": "test",
        "RCLONE_CONFIG_MK_FORCE_PATH_STYLE": "true",
    }
    subprocess.run(["rclone", "mkdir", f"mk:{bucket}"], env=env, check=True, timeout=30)


@asynccontextmanager
async def running(settings: Settings, api: docker.APIClient) -> AsyncIterator[Engine]:
    engine = Engine(settings)
    await engine.start()
    try:
        assert await engine.wait_online(20)
        yield engine
    finally:
        await engine.stop()
        for pool in settings.pools:
            for c in api.containers(all=True, filters={"label": f"{LABEL_POOL}={pool.name}"}):
                with suppress(docker.errors.APIError):
                    api.remove_container(c["Id"], force=True, v=True)


async def warm_count(engine: Engine, pool: str) -> int:
    status = {s.name: s for s in await engine.pools.status()}
    return status[pool].warm


async def wait_warm(engine: Engine, pool: str, n: int, timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while await warm_count(engine, pool) < n:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"pool {pool} did not reach {n} warm within {timeout}s")
        await asyncio.sleep(0.1)


def sh(api: docker.APIClient, container: str, script: str) -> str:
    exec_id = api.exec_create(container, ["sh", "-c", script])
    out = api.exec_start(exec_id)
    return out.decode() if isinstance(out, bytes) else str(out)


@contextmanager
def docker_tcp_proxy(socket_path: str = "/var/run/docker.sock") -> Iterator[str]:
    """A plain TCP front of the local Docker socket on loopback; yields `http://127.0.0.1:PORT`.

    This is what a Docker socket proxy (or `dockerd -H tcp://...`) gives an engine on another
    machine: the Docker API over the network and no access to the daemon's disk. A `[[hosts]]`
    entry with this URL is a remote host to the engine (`HostConfig.is_local` is true only for
    unix:// URLs), so bind mounts of the engine's folders are not used for it.
    """
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    stop = threading.Event()
    conns: list[socket.socket] = []

    def pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            try:
                upstream.connect(socket_path)
            except OSError:
                client.close()
                continue
            conns.extend((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pipe, args=(a, b), daemon=True).start()

    thread = threading.Thread(target=serve, name="docker-tcp-proxy", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        listener.close()
        for s in conns:
            with suppress(OSError):
                s.close()
