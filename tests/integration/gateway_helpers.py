"""The test `gateway` process in an autoheal test container (the container tests and the
monitored-host tests share it): its live pids, starting it, killing it with SIGKILL."""

from __future__ import annotations

import docker

from clawtui.engine.autoheal.agents import PIDS_SCRIPT
from tests.integration.sshd_helpers import exec_ok


def gateway_pids(api: docker.APIClient, cid: str) -> set[str]:
    """Live (not zombie) `gateway` processes, read from /proc in the container."""
    exec_id = api.exec_create(cid, ["sh", "-c", PIDS_SCRIPT, "sh", "gateway"])["Id"]
    return set(api.exec_start(exec_id).decode().split())


def start_gateway(api: docker.APIClient, cid: str) -> None:
    exec_ok(api, cid, "setsid -f /usr/local/bin/gateway 100000 </dev/null >/dev/null 2>&1")
    assert gateway_pids(api, cid)


def kill_gateway(api: docker.APIClient, cid: str) -> None:
    pids = gateway_pids(api, cid)
    assert pids
    exec_ok(api, cid, f"kill -9 {' '.join(pids)}")
    for _ in range(200):  # SIGKILL is delivered asynchronously
        if not gateway_pids(api, cid):
            return
    raise AssertionError("the gateway survived SIGKILL")
