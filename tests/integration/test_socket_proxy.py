"""The engine behind the shipped allowlisting Docker socket proxy: a real haproxy (Debian's,
`scripts/docker-socket-proxy/haproxy.cfg` with only its listening socket moved to a temp dir)
in front of the real /var/run/docker.sock.

Through it: the fleet (list, events, stats), container actions and logs, a live memory update,
a warm pool (fill, claim, release) and a dev box (image, volume, create, key archive, sshd check,
host key, remove). Outside its list: refused with 403, and when the proxy lacks an endpoint
clawtui needs, the engine's error names the endpoint and the capability.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import docker
import pytest

from clawtui.config import DevboxesConfig, EngineConfig, HostConfig, Settings
from clawtui.config.pools import PoolConfig
from clawtui.engine.api.memory import BatchState
from clawtui.engine.core import Engine
from clawtui.engine.fleet.actions import docker_error_text
from tests.integration.engine_helpers import wait_until
from tests.integration.pool_helpers import running, unique, wait_warm, workload
from tests.integration.test_devboxes import (  # noqa: F401 (fixtures)
    box_names,
    devbox_image,
    new_name,
    user_key,
)

pytestmark = pytest.mark.timeout(300)
CFG = Path(__file__).resolve().parents[2] / "scripts" / "docker-socket-proxy" / "haproxy.cfg"
SHIPPED_BIND = "bind unix@/run/clawtui-docker-proxy/docker.sock mode 660 group clawtui"
MIB = 1024 * 1024
RESIZABLE = {"clawtui.role": "devbox"}  # memory changes only devbox and pool containers


@contextmanager
def haproxy(edit: Callable[[str], str] = lambda text: text) -> Iterator[str]:
    """Run haproxy with the shipped config (listening on a temp socket); yield the socket URL."""
    if shutil.which("haproxy") is None:
        pytest.fail("haproxy is missing: apt-get install haproxy (scripts/setup lists it)")
    folder = Path(tempfile.mkdtemp(prefix="clawtui-hap-"))
    sock = folder / "docker.sock"
    text = CFG.read_text()
    assert SHIPPED_BIND in text
    cfg = folder / "haproxy.cfg"
    cfg.write_text(edit(text.replace(SHIPPED_BIND, f"bind unix@{sock} mode 600")))
    check = subprocess.run(["haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen(
        ["haproxy", "-db", "-f", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 20
        while True:  # wait for the listening socket to accept
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else b""
            try:
                with socket.socket(socket.AF_UNIX) as probe:
                    probe.connect(str(sock))
                break
            except OSError:
                assert time.monotonic() < deadline, "haproxy never listened"
                time.sleep(0.05)
        yield f"unix://{sock}"
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def proxied_settings(state_dir: Path, url: str, labels: dict[str, str], **extra: Any) -> Settings:
    return Settings(
        engine=EngineConfig(state_dir=state_dir, stats_interval=0.5, reconnect_max_backoff=1.0),
        hosts=[HostConfig(name="local", url=url, cgroup_root=None)],
        devboxes=DevboxesConfig(memory=256 * MIB, cpus=1.0, ready_timeout=30.0, labels=labels),
        **extra,
    )


async def test_engine_works_through_the_proxy(
    tmp_path: Path,
    docker_api: docker.APIClient,
    test_labels: dict[str, str],
    pool_image: str,
    devbox_image: str,  # noqa: F811
    make_container,  # type: ignore[no-untyped-def]
    new_name,  # type: ignore[no-untyped-def]  # noqa: F811
) -> None:
    pool = unique("px")
    wl = workload(pool, test_labels)
    target = make_container(
        "proxied",
        command=["sh", "-c", "echo hello-proxy; sleep 3600"],
        mem_limit="512m",
        labels=RESIZABLE,
    )
    cname = str(target["Name"]).lstrip("/")
    key = f"local/{target['Id']}"
    with haproxy() as url:
        settings = proxied_settings(
            tmp_path / "state",
            url,
            test_labels,
            workloads=[wl],
            pools=[PoolConfig(name=pool, workload=pool, min_warm=1, max=2)],
        )
        async with running(settings, docker_api) as engine:
            # fleet: the list, the events stream and the stats sampler
            [host] = engine.hosts()
            assert host.state.value == "online" and host.error is None
            await wait_until(lambda: engine.container(key) is not None, 10, "listed")
            await wait_until(lambda: engine.container(key).stats is not None, 20, "stats")  # type: ignore[union-attr]

            # actions and logs
            await engine.actions.stop(key, timeout=1)
            assert docker_api.inspect_container(cname)["State"]["Status"] == "exited"
            await engine.actions.start(key)
            assert docker_api.inspect_container(cname)["State"]["Status"] == "running"
            await wait_until(lambda: engine.container(key).running, 10, "running")  # type: ignore[union-attr]
            lines = [line async for line in engine.actions.logs(key, tail=10)]
            assert "hello-proxy" in lines

            # exec as the engine runs it (docker-py: the dev box sshd check)
            proxied = docker.APIClient(base_url=url, version="auto", timeout=10)
            try:
                run = proxied.exec_create(target["Id"], ["sh", "-c", "echo exec-ok"])
                assert proxied.exec_start(run) == b"exec-ok\n"
                assert proxied.exec_inspect(run)["ExitCode"] == 0
            finally:
                proxied.close()

            # a live memory update
            result = await engine.memory.apply({cname: 384 * MIB}, who="test")
            assert result.state is BatchState.APPLIED, result.summary()
            assert docker_api.inspect_container(cname)["HostConfig"]["Memory"] == 384 * MIB

            # a warm pool: fill, claim, release
            await wait_warm(engine, pool, 1)
            claim = await engine.pools.claim("proxy-tenant", pool)
            assert claim.source == "warm"
            assert docker_api.inspect_container(claim.container)["State"]["Running"]
            released = await engine.pools.release("proxy-tenant", sync=False)
            assert released.state == "released"
            with pytest.raises(docker.errors.NotFound):
                docker_api.inspect_container(claim.container)

            # a dev box: image, volume, create, authorized_keys archive, sshd, host key, rm
            name = new_name("px")
            box = await engine.devboxes.create(name, user_key()[1])
            assert box.running and box.port is not None
            said = await engine.devboxes.remove(name)
            assert "removed container" in said and "home volume" in said


async def test_refusals_name_the_endpoint_and_capability(
    tmp_path: Path,
    docker_api: docker.APIClient,
    test_labels: dict[str, str],
    make_container,  # type: ignore[no-untyped-def]
) -> None:
    target = make_container("refused", mem_limit="512m", labels=RESIZABLE)
    cname = str(target["Name"]).lstrip("/")

    # an endpoint outside the list: 403, and said so
    with haproxy() as url:
        client = docker.APIClient(base_url=url, version="auto", timeout=10)
        try:
            with pytest.raises(docker.errors.APIError) as refused:
                client.kill(target["Id"])
            assert refused.value.status_code == 403
            text = docker_error_text(refused.value)
            assert f"POST /containers/{target['Id']}/kill" in text
            with pytest.raises(docker.errors.APIError) as networks:
                client.networks()
            assert networks.value.status_code == 403
            assert client.inspect_container(target["Id"])["State"]["Running"]
        finally:
            client.close()

    # a proxy without the update endpoint: the memory change fails naming it and its user
    def no_update(text: str) -> str:
        out = text.replace("    http-request allow if { method POST } c_update\n", "")
        assert out != text
        return out

    with haproxy(no_update) as url:
        engine = Engine(proxied_settings(tmp_path / "s1", url, test_labels))
        await engine.start()
        try:
            assert await engine.wait_online(15)
            await wait_until(
                lambda: engine.container(f"local/{target['Id']}") is not None, 10, "listed"
            )
            result = await engine.memory.apply({cname: 384 * MIB}, who="test")
            assert result.state is not BatchState.APPLIED
            errors = " ".join(o.error or "" for o in result.outcomes)
            assert "POST /containers/{id}/update" in errors, errors
            assert "memory (live limits) needs it" in errors
        finally:
            await engine.stop()
    assert docker_api.inspect_container(cname)["HostConfig"]["Memory"] == 512 * MIB

    # the seed's allowlist (no /info, /version, /events): the host's error says what to allow
    def seed_like(text: str) -> str:
        out = re.sub(r"    http-request allow if \{ method GET \} version.*\n", "", text)
        out = out.replace("    http-request allow if { method GET } events\n", "")
        assert out.count("http-request allow") == text.count("http-request allow") - 2
        return out

    with haproxy(seed_like) as url:
        engine = Engine(proxied_settings(tmp_path / "s2", url, test_labels))
        await engine.start()
        try:
            await wait_until(lambda: engine.hosts()[0].state.value == "offline", 15, "host offline")
            error = engine.hosts()[0].error or ""
            assert "GET /version" in error and "fleet (host monitor" in error, error
            assert "haproxy.cfg" in error
        finally:
            await engine.stop()
