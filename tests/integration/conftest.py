"""Fixtures for integration tests against the real Docker engine (no mocks, ever).

Prerequisites (scripts/test does both): a dockerd answering on /var/run/docker.sock
(scripts/ensure-docker) and the test images (scripts/build-test-images).

Labels: every container a test creates carries ``clawtui.test=<session id>`` (the
``test_labels`` fixture). At the end of the session a finalizer force-removes, with volumes, the
containers carrying exactly that label value and nothing else. When scripts/test runs the suite
it exports CLAWTUI_TEST_RUN_ID; the session id then starts with ``<run id>-`` so that
scripts/test can sweep what a crashed session left behind.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.errors import APIError, ImageNotFound, NotFound

REPO = Path(__file__).resolve().parents[2]
DOCKER_BASE_URL = "unix:///var/run/docker.sock"
BUSYBOX_IMAGE = "clawtui-test/busybox:1"
DEBIAN_BASE_IMAGE = "clawtui-test/debian-base:bookworm"
TEST_LABEL = "clawtui.test"
CONTAINER_PREFIX = "clawtui-t-"

_ENSURE_DOCKER = REPO / "scripts" / "ensure-docker"
_BUILD_IMAGES_FIX = "run scripts/build-test-images (scripts/test does it for you)"


def _new_session_id() -> str:
    run_id = re.sub(r"[^A-Za-z0-9_.-]", "-", os.environ.get("CLAWTUI_TEST_RUN_ID", ""))
    rand = uuid.uuid4().hex[:10]
    return f"{run_id}-{rand}" if run_id else f"local-{rand}"


def remove_labeled_containers(api: docker.APIClient, label_value: str) -> list[str]:
    """Force-remove (with volumes) every container labelled ``clawtui.test=<label_value>``.

    Only containers with exactly that label value are touched. Returns the removed ids.
    """
    removed: list[str] = []
    for c in api.containers(all=True, filters={"label": f"{TEST_LABEL}={label_value}"}):
        try:
            api.remove_container(c["Id"], force=True, v=True)
            removed.append(c["Id"])
        except NotFound:
            pass
    return removed


def _ping(api: docker.APIClient) -> bool:
    try:
        return bool(api.ping())
    except Exception:
        return False


@pytest.fixture(scope="session")
def docker_api() -> Iterator[docker.APIClient]:
    """Low-level client for the local engine; fails (never skips) when it does not answer."""
    try:
        api = docker.APIClient(base_url=DOCKER_BASE_URL, version="auto", timeout=120)
        api.ping()
    except Exception as exc:  # DockerException, or a requests error when the socket is dead
        pytest.fail(
            f"the Docker engine does not answer on {DOCKER_BASE_URL}: {exc}\n"
            "fix: run scripts/ensure-docker (starts dockerd, log in "
            "~/.local/state/clawtui/dockerd.log)",
            pytrace=False,
        )
    yield api
    api.close()


def _require_image(api: docker.APIClient, tag: str) -> str:
    try:
        api.inspect_image(tag)
    except ImageNotFound:
        pytest.fail(f"test image {tag} is missing. fix: {_BUILD_IMAGES_FIX}", pytrace=False)
    return tag


@pytest.fixture(scope="session")
def busybox_image(docker_api: docker.APIClient) -> str:
    """``clawtui-test/busybox:1`` (Debian's static busybox on scratch)."""
    return _require_image(docker_api, BUSYBOX_IMAGE)


@pytest.fixture(scope="session")
def debian_base_image(docker_api: docker.APIClient) -> str:
    """``clawtui-test/debian-base:bookworm`` (debootstrap minbase, imported)."""
    return _require_image(docker_api, DEBIAN_BASE_IMAGE)


@pytest.fixture(scope="session")
def pool_image(docker_api: docker.APIClient) -> str:
    """The pool workload test image (built from busybox on first use, never pulled)."""
    from tests.integration.pool_helpers import ensure_workload_image

    return ensure_workload_image(docker_api)


@pytest.fixture(scope="session")
def test_labels(docker_api: docker.APIClient) -> Iterator[dict[str, str]]:
    """``{"clawtui.test": <session id>}``: put these labels on every container a test creates.

    At session end, containers with exactly this label value are force-removed with volumes.
    """
    session_id = _new_session_id()
    yield {TEST_LABEL: session_id}
    if _ping(docker_api):
        remove_labeled_containers(docker_api, session_id)


@pytest.fixture
def make_container(
    docker_api: docker.APIClient, busybox_image: str, test_labels: dict[str, str]
) -> Iterator[Callable[..., dict[str, Any]]]:
    """Factory creating busybox containers through the low-level API; returns the inspect dict.

    ``make_container(name_suffix=None, command=("sleep", "3600"), mem_limit=None, labels=None,
    start=True, **host_config_kwargs)``. Names start with ``clawtui-t-``; the test label is always
    set (it wins over ``labels``); extra keyword arguments go to ``create_host_config``.
    Every container made here is removed (force, with volumes) when the test ends.
    """
    created: list[str] = []
    counter = itertools.count(1)
    tag = test_labels[TEST_LABEL].rsplit("-", 1)[-1][:8]

    def _make(
        name_suffix: str | None = None,
        command: Sequence[str] | str | None = ("sleep", "3600"),
        mem_limit: int | str | None = None,
        labels: dict[str, str] | None = None,
        start: bool = True,
        **host_config_kwargs: Any,
    ) -> dict[str, Any]:
        name = f"{CONTAINER_PREFIX}{tag}-{next(counter)}"
        if name_suffix:
            name += "-" + re.sub(r"[^A-Za-z0-9_.-]", "-", name_suffix)
        if mem_limit is not None:
            host_config_kwargs["mem_limit"] = mem_limit
        host_config = docker_api.create_host_config(**host_config_kwargs)
        cmd = list(command) if command is not None and not isinstance(command, str) else command
        container = docker_api.create_container(
            busybox_image,
            command=cmd,
            name=name,
            labels={**(labels or {}), **test_labels},
            host_config=host_config,
        )
        created.append(container["Id"])
        if start:
            docker_api.start(container["Id"])
        return docker_api.inspect_container(container["Id"])

    yield _make

    for cid in reversed(created):
        try:
            docker_api.remove_container(cid, force=True, v=True)
        except NotFound:
            pass
        except APIError as exc:  # e.g. the daemon was restarted under us; the finalizer retries
            if exc.status_code != 409:
                raise


@pytest.fixture
def restart_dockerd(
    request: pytest.FixtureRequest, docker_api: docker.APIClient
) -> Callable[..., None]:
    """A callable that restarts the shared dockerd (scripts/ensure-docker --restart) and returns
    once the engine answers again. Only for tests marked ``@pytest.mark.disruptive``.

    A restart stops every running container on the machine (no live-restore).
    """
    if request.node.get_closest_marker("disruptive") is None:
        pytest.fail(
            "restart_dockerd used by a test not marked @pytest.mark.disruptive; "
            "fix: add the marker so scripts/test runs it in the disruptive phase",
            pytrace=False,
        )

    def _restart(timeout: float = 120.0) -> None:
        try:
            proc = subprocess.run(
                [str(_ENSURE_DOCKER), "--restart"],
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"scripts/ensure-docker --restart took over {timeout}s: {exc}")
        if proc.returncode != 0:
            pytest.fail(
                f"scripts/ensure-docker --restart failed (exit {proc.returncode}):\n"
                f"{proc.stdout}\n{proc.stderr}"
            )
        deadline = time.monotonic() + 60
        while not _ping(docker_api):
            if time.monotonic() > deadline:
                pytest.fail("dockerd restarted but the engine did not answer within 60s")
            time.sleep(0.5)

    return _restart


# -- several Docker hosts: two extra engines on this machine, one reached over ssh:// ----------
MONITORED_HOST_IMAGE = "clawtui-test/monitored-host:1"


@pytest.fixture(scope="session")
def extra_engines(
    docker_api: docker.APIClient, busybox_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, Any]]:
    """Two more dockerd on this machine (tests/integration/engines.py): ``alpha`` on a unix
    socket and ``beta`` on a unix socket plus ``tcp://127.0.0.1:PORT`` with --tlsverify
    (``beta.tls`` holds the CA and client certificate). Both have the busybox test image.
    Stopped, with their bridges, mounts and folders removed, at the end of the session."""
    from tests.integration.engines import ExtraEngine, make_tls, sweep_stale_engines

    sweep_stale_engines()  # what a crashed earlier session left (its owner pid is gone)
    tls = make_tls(tmp_path_factory.mktemp("tls"))
    engines = [ExtraEngine("alpha"), ExtraEngine("beta", tls=tls)]
    try:
        for engine in engines:
            engine.start()
            engine.load_image(busybox_image)
        yield engines[0], engines[1]
    finally:
        for engine in engines:
            engine.close()


@pytest.fixture(scope="session")
def monitored_host_image(docker_api: docker.APIClient) -> str:
    """``clawtui-test/monitored-host:1`` (sshd + the docker CLI), built locally on first use."""
    try:
        docker_api.inspect_image(MONITORED_HOST_IMAGE)
    except ImageNotFound:
        for _ in docker_api.build(
            path=str(REPO / "docker" / "test-images"),
            dockerfile="Dockerfile.monitored-host",
            tag=MONITORED_HOST_IMAGE,
            rm=True,
            decode=True,
        ):
            pass
    return MONITORED_HOST_IMAGE


@pytest.fixture(scope="session")
def ssh_docker_host(
    docker_api: docker.APIClient,
    monitored_host_image: str,
    extra_engines: tuple[Any, Any],
    test_labels: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Any]]:
    """The ``alpha`` engine reached over ``ssh://root@IP``: an sshd container (on the system
    engine) with the docker CLI and alpha's socket folder mounted (a folder, not the socket
    file, so the mount survives a restart of alpha). Yields ``{"url", "home", "id"}``: ``home``
    is a HOME with ``.ssh/id_ed25519`` and a ``known_hosts`` pinning the container's host key,
    which docker-py's SSH transport (paramiko) reads."""
    import asyncssh

    alpha = extra_engines[0]
    home = tmp_path_factory.mktemp("ssh-home")
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(mode=0o700)
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(ssh_dir / "id_ed25519"))
    (ssh_dir / "id_ed25519").chmod(0o600)
    container = docker_api.create_container(
        monitored_host_image,
        name=f"{CONTAINER_PREFIX}sshdocker-{uuid.uuid4().hex[:8]}",
        labels=dict(test_labels),
        host_config=docker_api.create_host_config(
            binds={str(alpha.root): {"bind": "/run/alpha", "mode": "rw"}}
        ),
    )
    cid = container["Id"]
    try:
        docker_api.start(cid)
        pub = key.export_public_key("openssh").decode().strip()
        _exec_ok(
            docker_api,
            cid,
            f"mkdir -p /root/.ssh && echo '{pub}' > /root/.ssh/authorized_keys "
            "&& chmod 700 /root/.ssh && chmod 600 /root/.ssh/authorized_keys "
            "&& ln -sf /run/alpha/docker.sock /var/run/docker.sock",
        )
        host_pub = ""
        deadline = time.monotonic() + 30
        while not host_pub and time.monotonic() < deadline:
            host_pub = _exec_ok(docker_api, cid, "cat /etc/ssh/ssh_host_ed25519_key.pub || true")
            host_pub = host_pub.strip() if host_pub.startswith("ssh-") else ""
            if not host_pub:
                time.sleep(0.2)
        assert host_pub, "sshd never generated its host key"
        ip = docker_api.inspect_container(cid)["NetworkSettings"]["IPAddress"]
        kind, blob = host_pub.split()[:2]
        (ssh_dir / "known_hosts").write_text(f"{ip} {kind} {blob}\n")
        yield {"url": f"ssh://root@{ip}", "home": home, "id": cid}
    finally:
        with contextlib.suppress(NotFound):
            docker_api.remove_container(cid, force=True, v=True)


def _exec_ok(api: docker.APIClient, cid: str, cmd: str) -> str:
    exec_id = api.exec_create(cid, ["sh", "-c", cmd])["Id"]
    out: bytes = api.exec_start(exec_id)
    code = api.exec_inspect(exec_id)["ExitCode"]
    assert code == 0, f"{cmd!r} exited {code}: {out.decode(errors='replace')}"
    return out.decode(errors="replace")
