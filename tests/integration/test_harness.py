"""Checks of the integration-test harness itself: images, fixtures, labels, cleanup."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import docker
import pytest
from docker.errors import NotFound

pytestmark = pytest.mark.integration

CONFTEST = Path(__file__).with_name("conftest.py")


def _exists(api: docker.APIClient, cid: str) -> bool:
    try:
        api.inspect_container(cid)
    except NotFound:
        return False
    return True


def test_busybox_image_runs_echo(docker_api, make_container):
    info = make_container("echo", command=("busybox", "echo", "hi"))
    result = docker_api.wait(info["Id"], timeout=60)
    assert result["StatusCode"] == 0
    assert docker_api.logs(info["Id"], stdout=True, stderr=True) == b"hi\n"


def test_debian_base_image_runs(docker_api, debian_base_image, test_labels):
    cid = docker_api.create_container(
        debian_base_image,
        command=["cat", "/etc/debian_version"],
        labels=test_labels,
        name=f"clawtui-t-debian-{uuid.uuid4().hex[:8]}",
    )["Id"]
    try:
        docker_api.start(cid)
        assert docker_api.wait(cid, timeout=60)["StatusCode"] == 0
        assert docker_api.logs(cid).decode().startswith("12.")
    finally:
        docker_api.remove_container(cid, force=True, v=True)


def test_make_container_sets_label_name_and_limits(docker_api, make_container, test_labels):
    limit = 64 * 1024 * 1024
    info = make_container(
        "limits",
        mem_limit="64m",
        labels={"clawtui.role": "pool", "clawtui.test": "ignored"},
        cpu_shares=512,
    )
    labels = info["Config"]["Labels"]
    assert labels["clawtui.test"] == test_labels["clawtui.test"]  # the test label always wins
    assert labels["clawtui.role"] == "pool"
    assert info["Name"].startswith("/clawtui-t-")
    assert info["Name"].endswith("-limits")
    assert info["State"]["Running"] is True
    assert info["HostConfig"]["Memory"] == limit
    assert info["HostConfig"]["CpuShares"] == 512

    cgroup_file = Path(f"/sys/fs/cgroup/memory/docker/{info['Id']}/memory.limit_in_bytes")
    if cgroup_file.exists():  # cgroup v1 with the cgroupfs driver
        assert int(cgroup_file.read_text()) == limit

    listed = docker_api.containers(filters={"label": f"clawtui.test={test_labels['clawtui.test']}"})
    assert info["Id"] in {c["Id"] for c in listed}


def test_make_container_not_started(make_container):
    info = make_container(start=False)
    assert info["State"]["Status"] == "created"


def test_session_cleanup_removes_only_its_own_labelled_containers(
    docker_api, busybox_image, make_container, tmp_path
):
    """Run a separate pytest session with these fixtures; its finalizer must remove the container
    it labelled, and leave alone an unlabelled container and another session's container."""
    other_session = make_container("other-session")
    unlabelled = docker_api.create_container(
        busybox_image,
        command=["sleep", "3600"],
        name=f"clawtui-t-unlabelled-{uuid.uuid4().hex[:8]}",
    )["Id"]
    out = tmp_path / "inner.json"
    try:
        docker_api.start(unlabelled)
        (tmp_path / "pytest.ini").write_text(
            "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
        )
        (tmp_path / "conftest.py").write_text(
            textwrap.dedent(
                f"""
                import importlib.util

                _path = {str(CONFTEST)!r}
                _spec = importlib.util.spec_from_file_location("harness_conftest", _path)
                _mod = importlib.util.module_from_spec(_spec)
                _spec.loader.exec_module(_mod)
                globals().update({{k: v for k, v in vars(_mod).items() if not k.startswith("__")}})
                """
            )
        )
        (tmp_path / "test_inner.py").write_text(
            textwrap.dedent(
                f"""
                import json
                import pathlib

                def test_leave_a_container(docker_api, busybox_image, test_labels):
                    c = docker_api.create_container(
                        busybox_image, command=["sleep", "3600"], labels=test_labels
                    )
                    docker_api.start(c["Id"])
                    pathlib.Path({str(out)!r}).write_text(
                        json.dumps({{"id": c["Id"], "labels": test_labels}})
                    )
                """
            )
        )
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", str(tmp_path), "-p", "no:cacheprovider", "-q"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=180,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        inner = json.loads(out.read_text())
        assert inner["labels"]["clawtui.test"] != other_session["Config"]["Labels"]["clawtui.test"]

        assert not _exists(docker_api, inner["id"]), "the inner session left its container behind"
        assert _exists(docker_api, unlabelled), "cleanup removed an unlabelled container"
        assert _exists(docker_api, other_session["Id"]), "cleanup removed the outer container"
    finally:
        docker_api.remove_container(unlabelled, force=True, v=True)
        if out.exists():  # only still there if the finalizer under test failed
            with contextlib.suppress(NotFound):
                docker_api.remove_container(json.loads(out.read_text())["id"], force=True, v=True)


def test_sweep_removes_engines_whose_owner_died_and_keeps_live_ones(tmp_path):
    """A crashed session's extra engine (its owner pid gone) is swept: the processes naming its
    root, its bridge and its folder; an engine whose owner still runs is left alone. Real
    processes and a real bridge (ip link); the 'dockerd' is a sleep naming the root."""
    from tests.integration.engines import sweep_stale_engines

    def fake_engine(owner: int) -> tuple[Path, str, subprocess.Popen[bytes]]:
        root = tmp_path / f"clawtui-dockerd-t-{uuid.uuid4().hex[:6]}"
        root.mkdir()
        bridge = f"ctb{uuid.uuid4().hex[:8]}"
        subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
        (root / "owner").write_text(f"{owner}\n")
        (root / "bridge").write_text(f"{bridge}\n")
        proc = subprocess.Popen(["sh", "-c", "sleep 300", str(root)], start_new_session=True)
        return root, bridge, proc

    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = fake_engine(dead.pid)
    live = fake_engine(os.getpid())
    try:
        assert sweep_stale_engines(tmp_path) == [stale[0]]
        assert stale[2].wait(timeout=10) == -9
        assert not stale[0].exists()
        assert subprocess.run(["ip", "link", "show", stale[1]], capture_output=True).returncode
        assert live[0].exists() and live[2].poll() is None
        assert subprocess.run(["ip", "link", "show", live[1]], capture_output=True).returncode == 0
    finally:
        for _root, bridge, proc in (stale, live):
            proc.kill()
            proc.wait()
            subprocess.run(["ip", "link", "del", bridge], capture_output=True, check=False)
