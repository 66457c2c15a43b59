"""Heartbeats of a thread whose agent runs in a container: HEARTBEAT.md is read and written
inside the container (real dockerd, busybox test container) through the engine's host monitor.

Stamps persist in the container's file, the other bytes stay as they were (CRLF included), the
owner and mode are kept, no temp file is left behind, and the second beat runs only the quick
tier. A HEARTBEAT.md that is a link out of the container's file is refused, not followed.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import pytest

from clawtui.config.threads import ThreadEntry, ThreadsConfig
from clawtui.engine.api.models import EventKind
from clawtui.engine.core import Engine
from clawtui.engine.heartbeats import md as hb
from clawtui.fsutil import TEMP_MARKER
from tests.integration.engine_helpers import make_settings, wait_for_event, wait_until

pytestmark = pytest.mark.integration

ORIGINAL = (
    b"## Timestamps\r\n- Last quick: (never)\r\n- Last hourly: (never)\r\n"
    b"- Last daily: (never)\r\n\r\n## Urgent Flags\r\n(none)\r\n\r\n## Tasks\r\n"
    b"- [ ] keep this \xc3\xa9 byte for byte\r\n\r\n## Notes\r\nscratch\r\n"
)


def put_file(api: docker.APIClient, cid: str, folder: str, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.uid, info.gid = len(data), 0o640, 1234, 2345
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.addfile(info, io.BytesIO(data))
    api.put_archive(cid, folder, buf.getvalue())


def get_file(api: docker.APIClient, cid: str, path: str) -> tuple[tarfile.TarInfo, bytes]:
    stream, _ = api.get_archive(cid, path)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.next()
        assert member is not None and member.isfile()
        handle = tar.extractfile(member)
        assert handle is not None
        return member, handle.read()


def sh(api: docker.APIClient, cid: str, script: str) -> str:
    exec_id = api.exec_create(cid, ["sh", "-c", script])["Id"]
    out: bytes = api.exec_start(exec_id)
    assert api.exec_inspect(exec_id)["ExitCode"] == 0, out
    return out.decode()


async def started(tmp_path: Path, entries: list[ThreadEntry]) -> Engine:
    settings = make_settings(tmp_path / "state")
    settings.threads = ThreadsConfig(home=tmp_path / "home", threads=entries, heartbeat=False)
    engine = Engine(settings)
    await engine.start()
    await wait_until(lambda: engine.monitors["local"].client is not None, 20, "docker")
    return engine


async def test_container_thread_stamps_persist_and_tiers_stop_rerunning(
    tmp_path: Path,
    docker_api: docker.APIClient,
    make_container: Callable[..., dict[str, Any]],
) -> None:
    box = make_container("hb")
    cid = box["Id"]
    sh(docker_api, cid, "mkdir -p /w /fresh && chown 4321:4322 /fresh")
    put_file(docker_api, cid, "/w", "HEARTBEAT.md", ORIGINAL)
    engine = await started(
        tmp_path,
        [
            ThreadEntry(id=2, name="boxed", cwd=Path("/w"), container=box["Name"].lstrip("/")),
            ThreadEntry(id=3, name="fresh", cwd=Path("/fresh"), container=cid, host="local"),
        ],
    )
    sub = engine.subscribe([EventKind.HEARTBEAT])
    try:
        await engine.threads.run_beat(2)
        first = await wait_for_event(sub, lambda e: e.data["action"] == "ran", 10)
        assert first.data["tiers"] == ["quick", "hourly", "daily"]
        member, data = get_file(docker_api, cid, "/w/HEARTBEAT.md")
        doc = hb.parse(data)
        assert all(doc.timestamps[t] is not None for t in ("quick", "hourly", "daily"))
        # only the three stamp lines changed; CRLF and every other byte kept
        old_lines = ORIGINAL.split(b"\r\n")
        new_lines = data.split(b"\r\n")
        assert len(old_lines) == len(new_lines)
        changed = [i for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=True)) if a != b]
        assert changed == [1, 2, 3]
        assert (member.uid, member.gid, member.mode & 0o7777) == (1234, 2345, 0o640)
        assert TEMP_MARKER not in sh(docker_api, cid, "ls -a /w")
        status = engine.threads.status(2)
        assert [t.last is not None for t in status.heartbeat.tiers] == [True, True, True]

        await engine.threads.run_beat(2)
        second = await wait_for_event(sub, lambda e: e.data["action"] == "ran", 10)
        assert second.data["tiers"] == ["quick"]
        again = hb.parse(get_file(docker_api, cid, "/w/HEARTBEAT.md")[1])
        assert again.timestamps["daily"] == doc.timestamps["daily"]
        assert again.timestamps["quick"] is not None
        assert again.timestamps["quick"] >= doc.timestamps["quick"]  # type: ignore[operator]

        # a missing file is created from the template, owned like its folder
        await engine.threads.run_beat(3)
        await wait_for_event(sub, lambda e: e.data["thread_id"] == 3, 10)
        created, body = get_file(docker_api, cid, "/fresh/HEARTBEAT.md")
        assert (created.uid, created.gid) == (4321, 4322)
        assert hb.parse(body).timestamps["quick"] is not None
    finally:
        await engine.stop()

    # a restarted engine shows the stamps kept in the container before any beat
    again_engine = await started(
        tmp_path / "again",
        [ThreadEntry(id=2, name="boxed", cwd=Path("/w"), container=cid)],
    )
    try:
        await wait_until(
            lambda: engine_tiers(again_engine) == [True, True, True], 20, "stamps from the box"
        )
        assert again_engine.threads.status(2).heartbeat.runs == 0
        assert again_engine.threads.status(2).heartbeat.liveness == "alive"
    finally:
        await again_engine.stop()


def engine_tiers(engine: Engine) -> list[bool]:
    return [t.last is not None for t in engine.threads.status(2).heartbeat.tiers]


async def test_container_heartbeat_link_is_refused_not_followed(
    tmp_path: Path,
    docker_api: docker.APIClient,
    make_container: Callable[..., dict[str, Any]],
) -> None:
    box = make_container("hblink")
    cid = box["Id"]
    before = sh(docker_api, cid, "cat /etc/passwd")
    sh(docker_api, cid, "mkdir -p /w && ln -s /etc/passwd /w/HEARTBEAT.md")
    engine = await started(
        tmp_path, [ThreadEntry(id=2, name="linked", cwd=Path("/w"), container=cid)]
    )
    sub = engine.subscribe([EventKind.HEARTBEAT])
    try:
        await engine.threads.run_beat(2)
        ran = await wait_for_event(sub, lambda e: e.data["action"] == "ran", 10)
        assert ran.data["tiers"] == ["quick", "hourly", "daily"]
        problems = engine.threads.status(2).heartbeat.problems
        assert problems and "link" in problems[0] and "/etc/passwd" in problems[0]
        assert sh(docker_api, cid, "cat /etc/passwd") == before
        assert sh(docker_api, cid, "readlink /w/HEARTBEAT.md").strip() == "/etc/passwd"
    finally:
        await engine.stop()


async def test_container_thread_on_a_remote_host(
    tmp_path: Path,
    docker_api: docker.APIClient,
    make_container: Callable[..., dict[str, Any]],
) -> None:
    """host = "far": the same dockerd over TCP on loopback (`docker_tcp_proxy`, a remote host to
    the engine); the "local" host points nowhere, so only the far host's monitor can work."""
    from clawtui.config import HostConfig
    from tests.integration.pool_helpers import docker_tcp_proxy

    box = make_container("hbfar")
    cid = box["Id"]
    sh(docker_api, cid, "mkdir -p /w")
    put_file(docker_api, cid, "/w", "HEARTBEAT.md", ORIGINAL)
    with docker_tcp_proxy() as url:
        settings = make_settings(tmp_path / "state")
        settings.hosts = [
            HostConfig(name="local", url=f"unix://{tmp_path}/missing.sock", cgroup_root=None),
            HostConfig(name="far", url=url, cgroup_root=None),
        ]
        settings.threads = ThreadsConfig(
            home=tmp_path / "home",
            threads=[ThreadEntry(id=2, name="far", cwd=Path("/w"), container=cid, host="far")],
            heartbeat=False,
        )
        engine = Engine(settings)
        await engine.start()
        sub = engine.subscribe([EventKind.HEARTBEAT])
        try:
            await wait_until(lambda: engine.monitors["far"].client is not None, 20, "far host")
            await engine.threads.run_beat(2)
            first = await wait_for_event(sub, lambda e: e.data["action"] == "ran", 10)
            assert first.data["tiers"] == ["quick", "hourly", "daily"]
            await engine.threads.run_beat(2)
            second = await wait_for_event(sub, lambda e: e.data["action"] == "ran", 10)
            assert second.data["tiers"] == ["quick"]
            _, data = get_file(docker_api, cid, "/w/HEARTBEAT.md")
            assert hb.parse(data).timestamps["daily"] is not None
            assert engine.threads.status(2).heartbeat.problems == []
        finally:
            await engine.stop()


GIT_STANDIN = """#!/bin/sh
# A stand-in for git (the busybox test image has none): it records where and how it ran and
# answers the few commands the quick tier asks, with this container's own branch name.
echo "$(pwd)|$LC_ALL|$GIT_TERMINAL_PROMPT|$*" >> /tmp/git-calls
case "$1" in
  rev-parse) [ "$2" = "--git-dir" ] && echo .git && exit 0; exit 1 ;;
  symbolic-ref) [ "$4" = "HEAD" ] && echo "__BRANCH__" && exit 0; exit 1 ;;
  status) echo " M __BRANCH__-work.txt"; exit 0 ;;
  *) exit 1 ;;
esac
"""


def put_script(api: docker.APIClient, cid: str, path: str, text: str) -> None:
    folder, name = path.rsplit("/", 1)
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o755
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.addfile(info, io.BytesIO(data))
    api.put_archive(cid, folder, buf.getvalue())


async def test_container_thread_on_another_engine_runs_git_and_heartbeat_there(
    tmp_path: Path,
    docker_api: docker.APIClient,
    make_container: Callable[..., dict[str, Any]],
    extra_engines: tuple[Any, Any],
    busybox_image: str,
    test_labels: dict[str, str],
) -> None:
    """A container thread on `[[hosts]] alpha` (a second real dockerd, its own socket): its
    HEARTBEAT.md is read and stamped in alpha's container, and its git checks run in alpha's
    container (working directory the thread's cwd) through alpha's Docker client — not in the
    container of the same name on the engine's local dockerd, which the `docker` CLI of this
    machine would reach. git is a recording stand-in script in both containers (busybox has no
    git); each answers with its own branch name."""
    from clawtui.config import HostConfig

    alpha = extra_engines[0]
    local = make_container("hbgit")
    name = local["Name"].lstrip("/")
    api = alpha.api()
    far = api.create_container(
        busybox_image, command=["sleep", "3600"], name=name, labels=dict(test_labels)
    )["Id"]
    try:
        api.start(far)
        for target, cid, branch in ((api, far, "on-alpha"), (docker_api, local["Id"], "on-local")):
            sh(target, cid, "mkdir -p /work")
            put_script(target, cid, "/bin/git", GIT_STANDIN.replace("__BRANCH__", branch))
        put_file(api, far, "/work", "HEARTBEAT.md", ORIGINAL)
        settings = make_settings(tmp_path / "state")
        settings.hosts = [
            HostConfig(name="local"),
            HostConfig(name="alpha", url=alpha.url, cgroup_root=None),
        ]
        settings.threads = ThreadsConfig(
            home=tmp_path / "home",
            threads=[
                ThreadEntry(id=2, name="far", cwd=Path("/work"), container=name, host="alpha")
            ],
            heartbeat=False,
        )
        engine = Engine(settings)
        await engine.start()
        sub = engine.subscribe([EventKind.HEARTBEAT])
        try:
            await wait_until(lambda: engine.monitors["alpha"].client is not None, 30, "alpha")
            await engine.threads.run_beat(2)
            ran = await wait_for_event(sub, lambda e: e.data["action"] == "ran", 20)
            assert ran.data["tiers"] == ["quick", "hourly", "daily"]
            assert "1 uncommitted change(s): on-alpha-work.txt" in ran.data["reply"]
            status = engine.threads.status(2)
            assert status.repo is not None and status.repo.branch == "on-alpha"
            assert status.heartbeat.problems == []
            _, data = get_file(api, far, "/work/HEARTBEAT.md")
            assert all(t is not None for t in hb.parse(data).timestamps.values())

            calls = sh(api, far, "cat /tmp/git-calls").splitlines()
            assert calls[:2] == [  # the hourly tier fetches first, then reads the state
                "/work|C|0|fetch --quiet --prune origin",
                "/work|C|0|rev-parse --git-dir",
            ]
            assert "/work|C|0|status --porcelain=v1 --untracked-files=normal" in calls
            assert all(c.startswith("/work|C|0|") for c in calls)
            # nothing ran in the local container of the same name
            assert sh(docker_api, local["Id"], "cat /tmp/git-calls 2>/dev/null; true") == ""
            assert "HEARTBEAT.md" not in sh(docker_api, local["Id"], "ls /work")

            # the repo refresh (no beat) goes to alpha's container as well
            before = len(calls)
            await engine.threads.refresh_repos([2])
            assert len(sh(api, far, "cat /tmp/git-calls").splitlines()) > before
            assert engine.threads.status(2).repo.branch == "on-alpha"  # type: ignore[union-attr]
            assert sh(docker_api, local["Id"], "cat /tmp/git-calls 2>/dev/null; true") == ""
        finally:
            await engine.stop()
    finally:
        api.remove_container(far, force=True, v=True)
        api.close()
