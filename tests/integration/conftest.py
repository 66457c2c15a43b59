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
