"""A real sshd host for the tests (image `clawtui-test/monitored-host:1`, built by the session
fixture `monitored_host_image` in conftest.py): the health monitor tests and autoheal over SSH.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import docker

from clawtui.engine.sessions.ssh import pin_host_key


def exec_ok(api: docker.APIClient, cid: str, cmd: str) -> str:
    """Run `sh -c cmd` in the container; its output (it must exit 0)."""
    exec_id = api.exec_create(cid, ["sh", "-c", cmd])["Id"]
    out: bytes = api.exec_start(exec_id)
    code = api.exec_inspect(exec_id)["ExitCode"]
    assert code == 0, f"{cmd!r} exited {code}: {out.decode(errors='replace')}"
    return out.decode(errors="replace")


@contextlib.contextmanager
def sshd_host(
    docker_api: docker.APIClient,
    image: str,
    labels: dict[str, str],
    tmp_path: Path,
    *,
    docker_dir: Path | None = None,
    docker_socket: bool = True,
) -> Iterator[dict[str, Any]]:
    """A running sshd host; yields {id, ip, key (client key path), known_hosts}.

    It gets the system Docker socket (its `docker ps` sees the test's culprits), or with
    `docker_dir` that folder (a test's own dockerd socket) at /run/own-docker instead, or
    with `docker_socket=False` no Docker at all.
    """
    key = asyncssh.generate_private_key("ssh-ed25519")
    key_path = tmp_path / f"id_ed25519_{uuid.uuid4().hex[:6]}"
    key.write_private_key(str(key_path))
    key_path.chmod(0o600)
    if docker_dir is not None:
        binds = {str(docker_dir): {"bind": "/run/own-docker", "mode": "rw"}}
    elif not docker_socket:
        binds = {}
    else:
        binds = {"/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"}}
    host_config = docker_api.create_host_config(binds=binds, tmpfs={"/mnt/small": "size=1m"})
    container = docker_api.create_container(
        image,
        name=f"clawtui-t-monhost-{uuid.uuid4().hex[:8]}",
        labels=dict(labels),
        host_config=host_config,
    )
    cid = container["Id"]
    try:
        docker_api.start(cid)
        pub = key.export_public_key("openssh").decode().strip()
        exec_ok(
            docker_api,
            cid,
            f"mkdir -p /root/.ssh && echo '{pub}' > /root/.ssh/authorized_keys "
            "&& chmod 700 /root/.ssh && chmod 600 /root/.ssh/authorized_keys",
        )
        host_pub = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(AssertionError):
                host_pub = exec_ok(docker_api, cid, "cat /etc/ssh/ssh_host_ed25519_key.pub")
                if host_pub.strip():
                    break
            time.sleep(0.2)
        assert host_pub.strip(), "sshd never generated its host key"
        ip = docker_api.inspect_container(cid)["NetworkSettings"]["IPAddress"]
        known_hosts = tmp_path / f"known_hosts_{uuid.uuid4().hex[:6]}"
        pin_host_key(known_hosts, ip, 22, host_pub)
        yield {"id": cid, "ip": ip, "key": key_path, "known_hosts": known_hosts}
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            docker_api.remove_container(cid, force=True, v=True)
