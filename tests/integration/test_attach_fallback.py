"""`clawtui attach NAME` for containers without sshd: the docker exec fallback, for real.

Driven through a real pseudo-terminal (a pane of a private tmux server on this machine, the
`pane` fixture of test_attach.py): a busybox container (no sshd, no tmux) gets a login shell, a
dev-container image started without its sshd entrypoint gets `tmux new-session -A`; each time
the message says which, and the shell or tmux answers typed commands.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.integration.test_attach import Pane, pane  # noqa: F401  (pane: fixture)
from tests.integration.test_devboxes import devbox_image  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f"[engine]\nstate_dir = {str(tmp_path / 'state')!r}\n[attach]\nuse_agent = false\n"
        '[[hosts]]\nname = "local"\nurl = "unix:///var/run/docker.sock"\n'
    )
    return config


def _attach_cmd(name: str, config: Path, *extra: str) -> str:
    return shlex.join(
        [sys.executable, "-m", "clawtui", "attach", name, *extra, "--config", str(config)]
    )


def test_no_sshd_no_tmux_opens_a_login_shell(
    make_container: Callable[..., dict[str, Any]],
    pane: Pane,  # noqa: F811
    tmp_path: Path,
) -> None:
    info = make_container("fallback-shell")
    name = info["Name"].lstrip("/")
    pane.type(_attach_cmd(name, _config(tmp_path)))
    screen = pane.wait("opening a login shell through docker exec")
    assert f"{name} has no sshd and no tmux" in screen
    pane.type("echo shell-$((6*7)) $(hostname)")
    pane.wait(f"shell-42 {info['Config']['Hostname']}")
    pane.type("exit 0")
    pane.wait(f"left the login shell in {name} (docker exec, exit 0)")


def test_no_sshd_with_tmux_attaches_to_tmux_and_reattaches(
    docker_api: docker.APIClient,
    test_labels: dict[str, str],
    devbox_image: str,  # noqa: F811
    pane: Pane,  # noqa: F811
    tmp_path: Path,
) -> None:
    # The dev image, started without its sshd entrypoint: tmux is there, sshd is not.
    created = docker_api.create_container(
        devbox_image,
        entrypoint=["sleep", "600"],
        labels=test_labels,
        name=f"clawtui-t-{test_labels['clawtui.test'].rsplit('-', 1)[-1][:8]}-tmuxexec",
        host_config=docker_api.create_host_config(mem_limit="128m"),
    )
    cid = created["Id"]
    try:
        docker_api.start(cid)
        name = docker_api.inspect_container(cid)["Name"].lstrip("/")
        config = _config(tmp_path)
        # By id (a prefix), then by name: both find it.
        pane.type(_attach_cmd(cid[:12], config, "--session", "fb"))
        pane.wait(" dev | ")  # the image's tmux status line: tmux is on screen
        pane.type("echo tmux-$((6*7))")
        pane.wait("tmux-42")
        pane.tmux("send-keys", "-t", "t:0", "C-b", "d")
        screen = pane.wait(f"left tmux session fb in {name} (docker exec)")
        assert f"{name} has no sshd; attaching to tmux session fb through docker exec" in screen
        pane.type("clear; echo cleared-$((1+1))")
        pane.wait("cleared-2")
        assert "tmux-42" not in pane.screen()
        pane.type(_attach_cmd(name, config, "--session", "fb"))  # again: the same session
        pane.wait("tmux-42")
        pane.tmux("send-keys", "-t", "t:0", "C-b", "d")
        pane.wait(f"left tmux session fb in {name}")
        listed = docker_api.exec_start(
            docker_api.exec_create(cid, ["tmux", "list-sessions", "-F", "#{session_name}"])
        )
        assert bytes(listed).decode().split() == ["fb"]
    finally:
        docker_api.remove_container(cid, force=True, v=True)


def test_unknown_container_says_so(pane: Pane, tmp_path: Path) -> None:  # noqa: F811
    pane.type(_attach_cmd("no-such-container-xyz", _config(tmp_path)))
    pane.wait("no dev box or container named 'no-such-container-xyz'")


def test_fleet_attach_key_uses_docker_exec_and_comes_back(
    make_container: Callable[..., dict[str, Any]],
    pane: Pane,  # noqa: F811
    tmp_path: Path,
) -> None:
    """`e` on a Fleet row without sshd: the TUI suspends for a docker exec shell, then resumes."""
    name = make_container("fleet-exec")["Name"].lstrip("/")
    config = _config(tmp_path)
    config.write_text(
        config.read_text() + "[service]\nserve_in_tui = false\n[tui]\nmouse = false\n"
    )
    pane.type(shlex.join([sys.executable, "-m", "clawtui", "--config", str(config)]))
    pane.wait(name, timeout=60)
    # The selected row's name is also in the detail view: walk down until it is ours.
    deadline = time.monotonic() + 60
    while pane.screen().count(name) < 2:
        assert time.monotonic() < deadline, f"{name} never got the cursor:\n{pane.screen()}"
        pane.tmux("send-keys", "-t", "t:0", "Down")
        time.sleep(0.3)
    pane.tmux("send-keys", "-t", "t:0", "e")
    pane.wait(f"{name} has no sshd and no tmux", timeout=30)
    assert "Fleet" not in pane.screen().splitlines()[0]  # suspended: the shell has the screen
    pane.type("echo fleet-$((6*7))")
    pane.wait("fleet-42")
    pane.type("exit 0")
    screen = pane.wait(f"left the login shell in {name}", timeout=30)  # the TUI's notification
    assert screen.count(name) >= 2, screen  # back on the Fleet panel, the same row selected
    pane.tmux("send-keys", "-t", "t:0", "q")
    time.sleep(1)
