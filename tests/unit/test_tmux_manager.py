"""Pure parts of tmux in the engine and the TUI: how `engine.tmux` finds a container and its
sshd, and the checks of the run / broadcast forms (nothing is sent anywhere here)."""

from __future__ import annotations

from typing import Any

import pytest

from clawtui.config import HostConfig, Settings
from clawtui.engine.api.models import ContainerInfo
from clawtui.engine.api.tmux import TargetError, tmux_name
from clawtui.engine.bus import EventBus
from clawtui.engine.sessions.tmux_manager import TmuxManager, ssh_port_of
from clawtui.tui.screens.tmux_forms import check_broadcast, check_run


def _info(cid: str, name: str, labels: dict[str, str], state: str = "running") -> ContainerInfo:
    return ContainerInfo(
        id=cid.ljust(64, "0"), host="local", name=name, image="x", state=state, labels=labels
    )


class _Engine:
    def __init__(self, containers: list[ContainerInfo]) -> None:
        self.settings = Settings(hosts=[HostConfig(name="local", cgroup_root=None)])
        self.bus = EventBus()
        self._containers = {c.key: c for c in containers}

    def containers(self, **_: Any) -> list[ContainerInfo]:
        return list(self._containers.values())

    def container(self, key: str) -> ContainerInfo | None:
        return self._containers.get(key)


BOX = _info("a1", "dev-sam", {"clawtui.role": "devbox", "clawtui.owner": "sam",
                              "clawtui.devbox.port": "2201"})  # fmt: skip
OTHER = _info("b2", "worker", {"clawtui.ssh.port": "2202"})
PLAIN = _info("c3", "plain", {})
STOPPED = _info("d4", "dev-kim", {"clawtui.role": "devbox", "clawtui.owner": "kim",
                                  "clawtui.devbox.port": "2203"}, state="exited")  # fmt: skip


@pytest.fixture
def manager() -> TmuxManager:
    return TmuxManager(_Engine([BOX, OTHER, PLAIN, STOPPED]))  # type: ignore[arg-type]


@pytest.mark.parametrize("ref", ["sam", "dev-sam", BOX.key, BOX.id[:12]])
def test_a_dev_box_by_name_container_name_key_or_id(manager: TmuxManager, ref: str) -> None:
    target = manager.resolve(ref)
    assert target.key == BOX.key and target.ssh.port == 2201 and target.name == ref
    assert target.ssh.host == "127.0.0.1" and target.ssh.username == "dev"


def test_any_container_publishing_an_sshd_port(manager: TmuxManager) -> None:
    assert manager.resolve("worker").ssh.port == 2202
    assert ssh_port_of(PLAIN) is None and tmux_name(BOX) == "sam" and tmux_name(OTHER) == "worker"


@pytest.mark.parametrize(
    ("ref", "status", "words"),
    [
        ("nobody", 404, "no dev box or container named 'nobody'"),
        ("plain", 409, "publishes no SSH port"),
        ("kim", 409, "is not running"),
        ("local/" + "9" * 64, 404, "no container with key"),
        ("", 400, "invalid container name"),
    ],
)
def test_unreachable_containers_say_why(
    manager: TmuxManager, ref: str, status: int, words: str
) -> None:
    with pytest.raises(TargetError) as info:
        manager.resolve(ref)
    assert info.value.status == status and words in str(info.value)


def test_run_form_checks() -> None:
    ok = check_run("claude --model 'big one'", "main", "w1", "~/repos/x")
    assert ok.command == ["claude", "--model", "big one"] and ok.window == "w1"
    assert check_run("htop", "main", " ", "").window is None
    for args, field in [
        (("", "main", "", ""), "command:"),
        (("echo 'open", "main", "", ""), "command:"),
        (("htop", "a;id", "", ""), "session:"),
        (("htop", "main", "$(id)", ""), "window:"),
        (("htop", "main", "", "a\nb"), "cwd:"),
    ]:
        with pytest.raises(ValueError, match=field):
            check_run(*args)


def test_broadcast_form_checks() -> None:
    assert check_broadcast("git pull", " main ").session == "main"
    with pytest.raises(ValueError, match="line:"):
        check_broadcast("  ", "main")
    with pytest.raises(ValueError, match="session:"):
        check_broadcast("id", "x" * 65)
