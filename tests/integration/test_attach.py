"""Attach and tmux over the real sshd of real dev containers (no mocks).

Two dev boxes are created once for the module through the engine's devboxes API with a fresh
test key; the engine pins their host keys (read through the Docker API) into the test's
known_hosts. `clawtui attach` is driven through a real pseudo-terminal: a pane of a private
tmux server on this machine (`tmux -L <socket>`), keys sent with send-keys, the screen read with
capture-pane.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import docker
import pytest
from docker.errors import NotFound

from clawtui.config import AttachConfig, DevboxesConfig, EngineConfig, HostConfig, Settings
from clawtui.engine.api.devbox_checks import container_name, hostkeys_volume_name, volume_name
from clawtui.engine.core import Engine
from clawtui.engine.sessions import tmux
from clawtui.engine.sessions.ssh import (
    HostKeyChanged,
    HostKeyUnknown,
    connect,
    pin_host_key,
    pinned_keys,
)
from clawtui.terminal.attach import devbox_target
from tests.integration.conftest import TEST_LABEL
from tests.integration.test_devboxes import devbox_image  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Boxes:
    names: list[str]
    state: Path
    config: Path
    key_file: Path
    settings: Settings
    cids: dict[str, str]
    ports: dict[str, int]


def _settings(state: Path, key_file: Path) -> Settings:
    return Settings(
        engine=EngineConfig(state_dir=state, stats_interval=5.0, reconnect_max_backoff=1.0),
        hosts=[HostConfig(name="local", cgroup_root=None)],
        devboxes=DevboxesConfig(memory=256 * MIB, cpus=1.0, ready_timeout=30.0),
        attach=AttachConfig(identity_file=key_file, use_agent=False),
    )


def _config_text(state: Path, key_file: Path, known_hosts: Path | None = None) -> str:
    lines = [
        "[engine]",
        f"state_dir = {str(state)!r}",
        "[attach]",
        f"identity_file = {str(key_file)!r}",
        "use_agent = false",
    ]
    if known_hosts is not None:
        lines.append(f"known_hosts = {str(known_hosts)!r}")
    lines += ["[[hosts]]", 'name = "local"', 'url = "unix:///var/run/docker.sock"']
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def boxes(
    docker_api: docker.APIClient,
    test_labels: dict[str, str],
    devbox_image: str,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Boxes]:
    root = tmp_path_factory.mktemp("attach")
    state = root / "state"
    key = asyncssh.generate_private_key("ssh-ed25519", comment="clawtui-attach-test")
    key_file = root / "id_ed25519"
    key_file.write_bytes(key.export_private_key())
    key_file.chmod(0o600)
    settings = _settings(state, key_file)
    config = root / "config.toml"
    config.write_text(_config_text(state, key_file))
    tag = test_labels[TEST_LABEL].rsplit("-", 1)[-1][:6].lower()
    names = [f"a{tag}-one", f"a{tag}-two"]

    async def create() -> dict[str, int]:
        engine = Engine(settings)
        await engine.start()
        try:
            assert await engine.wait_online(15)
            made = await asyncio.gather(
                *(
                    engine.devboxes.create(
                        n, key.export_public_key().decode(), labels=test_labels, memory="256m"
                    )
                    for n in names
                )
            )
            return {b.name: int(b.port or 0) for b in made}
        finally:
            await engine.stop()

    try:
        ports = asyncio.run(create())
        cids = {n: docker_api.inspect_container(container_name(n))["Id"] for n in names}
        yield Boxes(names, state, config, key_file, settings, cids, ports)
    finally:
        for n in names:
            with contextlib.suppress(NotFound):
                docker_api.remove_container(container_name(n), force=True, v=True)
            for volume in (volume_name(n), hostkeys_volume_name(n)):
                with contextlib.suppress(docker.errors.APIError):
                    docker_api.remove_volume(volume)


def cli(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "CLAWTUI_CONFIG": str(config)}
    env.pop("SSH_AUTH_SOCK", None)
    return subprocess.run(
        [sys.executable, "-m", "clawtui", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def docker_exec(docker_api: docker.APIClient, cid: str, cmd: str) -> tuple[int, str]:
    exec_id = docker_api.exec_create(cid, ["sh", "-c", cmd], user="dev")
    out = docker_api.exec_start(exec_id)
    code = docker_api.exec_inspect(exec_id)["ExitCode"]
    return int(code), bytes(out).decode(errors="replace")


def remote_sessions(docker_api: docker.APIClient, cid: str) -> str:
    return docker_exec(docker_api, cid, "tmux list-sessions -F '#{session_name}' 2>&1")[1]


# -- pinning -------------------------------------------------------------------------------
def test_create_pins_host_key_from_docker_api(boxes: Boxes, docker_api: docker.APIClient) -> None:
    known = boxes.state / "known_hosts"
    text = known.read_text()
    for name in boxes.names:
        code, pub = docker_exec(
            docker_api, boxes.cids[name], "cat /etc/ssh/ssh_host_ed25519_key.pub"
        )
        assert code == 0
        blob = pub.split()[1]
        assert f"[127.0.0.1]:{boxes.ports[name]} ssh-ed25519 {blob}" in text
    target = devbox_target(boxes.settings, boxes.names[0]).ssh
    assert target is not None and len(pinned_keys(target)) == 1


# -- the real pseudo-terminal attach ---------------------------------------------------------
class Pane:
    """One pane of a private tmux server on this machine."""

    def __init__(self, socket: str, cache: Path) -> None:
        self.socket = socket
        self.cache = cache  # the shell's $XDG_CACHE_HOME

    def tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True
        ).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "t:0")

    def wait(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not on screen after {timeout}s:\n{screen}")
            time.sleep(0.1)

    def type(self, line: str) -> None:
        self.tmux("send-keys", "-t", "t:0", "-l", line)
        self.tmux("send-keys", "-t", "t:0", "Enter")


@pytest.fixture
def pane(tmp_path: Path) -> Iterator[Pane]:
    socket = f"clawtui-test-{uuid.uuid4().hex[:8]}"
    cache = tmp_path / "cache"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "TERM": "xterm-256color",
        "XDG_CACHE_HOME": str(cache),
    }
    env.pop("SSH_AUTH_SOCK", None)
    env.pop("TMUX", None)
    subprocess.run(
        ["tmux", "-L", socket, "-f", "/dev/null", "new-session", "-d", "-s", "t",
         "-x", "120", "-y", "35", "bash --norc --noprofile"],
        check=True, env=env,
    )  # fmt: skip
    p = Pane(socket, cache)
    p.type("PS1='local$ '; clear")
    try:
        yield p
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], check=False)


def test_attach_in_real_pty_detach_and_reattach(boxes: Boxes, pane: Pane, tmp_path: Path) -> None:
    name = boxes.names[0]
    argv = ["-m", "clawtui", "attach", name, "--session", "pty", "--config", str(boxes.config)]
    pane.type(shlex.join([sys.executable, *argv]))
    pane.wait(" dev | ")  # the remote tmux status line (status-left of the image's tmux.conf)
    pane.type("echo marker-$((6*7))")
    pane.wait("marker-42")
    pane.tmux("send-keys", "-t", "t:0", "C-b", "d")  # detach: prefix d
    pane.wait("left tmux session pty")
    # The full load left the attach profile behind, for the next attach's fast path.
    cached = json.loads((pane.cache / "clawtui" / "attach-profile.json").read_text())
    assert cached["profile"]["known_hosts"] == str(boxes.state / "known_hosts")
    pane.type("clear; echo cleared-$((1+1))")
    pane.wait("cleared-2")  # the local shell ran clear (no fixed sleep: it may be slow)
    assert "marker-42" not in pane.screen()
    # Again: same session, the output is still there; this time without loading the config
    # (-X importtime lists every module imported, on stderr, here to a file).
    imports = tmp_path / "imports.txt"
    pane.type(f"{shlex.join([sys.executable, '-X', 'importtime', *argv])} 2>{imports}")
    screen = pane.wait("marker-42")
    assert " dev | " in screen
    pane.tmux("send-keys", "-t", "t:0", "C-b", "d")
    deadline = time.monotonic() + 20  # until the attach has exited: bash is in front again
    while pane.tmux("display", "-p", "-t", "t:0", "#{pane_current_command}").strip() != "bash":
        assert time.monotonic() < deadline, "clawtui attach did not exit after the detach"
        time.sleep(0.1)
    imported = imports.read_text()
    assert "clawtui.terminal.profile" in imported
    assert "pydantic" not in imported and "clawtui.config" not in imported


# -- host keys ------------------------------------------------------------------------------
def test_unknown_host_refused_with_fingerprint_then_trusted(boxes: Boxes, tmp_path: Path) -> None:
    name = boxes.names[0]
    known = tmp_path / "empty_known_hosts"
    config = tmp_path / "config.toml"
    config.write_text(_config_text(boxes.state, boxes.key_file, known))
    result = cli("tmux", "ls", name, config=config)
    assert result.returncode == 1, result.stderr
    assert "unknown host key SHA256:" in result.stderr
    assert "clawtui ssh trust" in result.stderr
    fingerprint = result.stderr.split("unknown host key ", 1)[1].split(";", 1)[0]
    port = boxes.ports[name]
    wrong = "SHA256:" + "A" * 43
    bad = cli("ssh", "trust", f"[127.0.0.1]:{port}", "--fingerprint", wrong, config=config)
    assert bad.returncode == 1 and "nothing was trusted" in bad.stderr
    assert known.read_text() == ""
    ok = cli("ssh", "trust", f"127.0.0.1:{port}", "--fingerprint", fingerprint, config=config)
    assert ok.returncode == 0, ok.stderr
    listed = cli("tmux", "ls", name, config=config)
    assert listed.returncode == 0, listed.stderr


async def test_changed_host_key_refused(boxes: Boxes, tmp_path: Path) -> None:
    name = boxes.names[0]
    target = devbox_target(boxes.settings, name).ssh
    assert target is not None
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    known = tmp_path / "known_hosts"
    pin_host_key(known, target.host, target.port, other)
    from dataclasses import replace

    changed = replace(target, known_hosts=known)
    with pytest.raises(HostKeyChanged) as info:
        await connect(changed)
    assert "HOST KEY CHANGED" in str(info.value) and not info.value.retryable
    with pytest.raises(HostKeyUnknown):
        await connect(replace(target, known_hosts=tmp_path / "none"))


@pytest.mark.parametrize("bad", ["a;id", "$(id)", "a b", "x" * 65, ""])
def test_bad_session_names_rejected_before_anything_runs(
    boxes: Boxes, docker_api: docker.APIClient, bad: str
) -> None:
    name = boxes.names[1]
    before = remote_sessions(docker_api, boxes.cids[name])
    for args in (
        ["attach", name, "--session", bad],
        ["tmux", "run", name, "--session", bad, "--", "touch", "/tmp/ran"],
        ["tmux", "send", name, "--session", bad, "id"],
        ["tmux", "broadcast", *boxes.names, "--session", bad, "--line", "id"],
    ):
        result = cli(*args, config=boxes.config)
        assert result.returncode == 2, (args, result.stderr)
        assert "invalid tmux session name" in result.stderr
    assert remote_sessions(docker_api, boxes.cids[name]) == before
    assert docker_exec(docker_api, boxes.cids[name], "test -e /tmp/ran")[0] != 0


# -- run, send, broadcast ---------------------------------------------------------------------
def test_tmux_run_starts_a_window_running_the_command(
    boxes: Boxes, docker_api: docker.APIClient
) -> None:
    name = boxes.names[0]
    cid = boxes.cids[name]
    result = cli(
        "tmux", "run", name, "--session", "jobs", "--window", "job1", "--cwd", "/home/dev/repos",
        "--", "sh", "-c", "pwd > /tmp/job1.out; echo 'quoted $(x); ok' >> /tmp/job1.out; sleep 60",
        config=boxes.config,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    listed = cli("tmux", "ls", name, "--json", config=boxes.config)
    assert listed.returncode == 0, listed.stderr
    import json

    data = json.loads(listed.stdout)
    assert any(s["name"] == "jobs" for s in data["sessions"])
    assert any(w["session"] == "jobs" and w["name"] == "job1" for w in data["windows"])
    # The container's name (dev-NAME) names the same box (issue 19: both are accepted).
    by_container = cli("tmux", "ls", f"dev-{name}", "--json", config=boxes.config)
    assert by_container.returncode == 0, by_container.stderr
    assert json.loads(by_container.stdout)["sessions"] == data["sessions"]
    deadline = time.monotonic() + 10
    while docker_exec(docker_api, cid, "cat /tmp/job1.out")[1].count("\n") < 2:
        assert time.monotonic() < deadline, "the window's command did not run"
        time.sleep(0.1)
    assert docker_exec(docker_api, cid, "cat /tmp/job1.out")[1] == (
        "/home/dev/repos\nquoted $(x); ok\n"
    )


def test_broadcast_reaches_every_box(boxes: Boxes, docker_api: docker.APIClient) -> None:
    for name in boxes.names:
        made = cli(
            "tmux", "run", name, "--session", "bc", "--", "sleep", "120", config=boxes.config
        )
        assert made.returncode == 0, made.stderr
    result = cli(
        "tmux", "broadcast", *boxes.names, "--session", "bc",
        "--line", "echo \"bc-$HOSTNAME\" > /tmp/bc.out", config=boxes.config,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "sent to 2 of 2" in result.stdout
    for name in boxes.names:
        deadline = time.monotonic() + 10
        while True:
            code, out = docker_exec(docker_api, boxes.cids[name], "cat /tmp/bc.out")
            if code == 0 and out.startswith("bc-"):
                break
            assert time.monotonic() < deadline, f"{name} did not get the line"
            time.sleep(0.1)


async def test_pool_reuses_one_connection(boxes: Boxes) -> None:
    from clawtui.engine.sessions.ssh import ConnectionPool

    target = devbox_target(boxes.settings, boxes.names[1]).ssh
    assert target is not None
    pool = ConnectionPool()
    try:
        first = await pool.get(target)
        await tmux.run_in_window(first, "pool", ["sleep", "30"])
        second = await pool.get(target)
        assert second is first
        assert any(s.name == "pool" for s in await tmux.list_sessions(second))
        first.close()
        await first.wait_closed()
        third = await pool.get(target)
        assert third is not first and not third.is_closed()
    finally:
        await pool.close()


# -- the TUI: Enter attaches with the app suspended, and it comes back to the same panel ----
_MARKED_CARD = re.compile(r"● *((?:dev|pool)-[A-Za-z0-9_.-]+)")  # one line: not a slider thumb


def _marked(pane: Pane) -> set[str]:
    return set(_MARKED_CARD.findall(pane.screen()))


def _card_under_cursor(pane: Pane, timeout: float = 10) -> str | None:
    """Which card holds the keyboard: toggle its mark (space), see which card's mark changed,
    toggle it back. None when that cannot be told (the card is scrolled away, or other tests'
    containers came and went in between); marks left by a failed try do not fool the next."""
    before = _marked(pane)
    pane.tmux("send-keys", "-t", "t:0", "space")
    deadline = time.monotonic() + timeout
    while (after := _marked(pane)) == before:
        if time.monotonic() > deadline:
            return None
        time.sleep(0.1)
    pane.tmux("send-keys", "-t", "t:0", "space")
    while _marked(pane) != before and time.monotonic() < deadline + timeout:
        time.sleep(0.1)
    toggled = after ^ before
    return toggled.pop() if len(toggled) == 1 else None


def _select_card(pane: Pane, want: str, timeout: float = 60) -> None:
    """Put the keyboard on card `want` of the Dev containers panel.

    The panel lists every dev and pool container of the shared dockerd (other tests' too,
    under xdist), sorted by memory in use, so the order is not ours to choose and may change
    under load: walk the cards with the keyboard from the top, checking each by its mark.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pane.tmux("send-keys", "-t", "t:0", "1")
        time.sleep(0.3)
        pane.tmux("send-keys", "-t", "t:0", "4")
        time.sleep(0.3)
        screen = pane.screen()
        if "Apply changes" not in screen or want not in screen:
            # Not the Dev containers panel with our card yet: the fleet's first snapshot is on
            # screen before the engine (and with it that panel's cards) is there.
            time.sleep(0.5)
            continue
        seen: list[str | None] = []
        while time.monotonic() < deadline:
            name = _card_under_cursor(pane)
            if name == want:
                return
            if seen and name == seen[-1]:
                break  # the last card (or none yet): start again from the top
            seen.append(name)
            pane.tmux("send-keys", "-t", "t:0", "Down")
            time.sleep(0.2)
        time.sleep(1)
    raise AssertionError(f"{want} never got the keyboard:\n{pane.screen()}")


def test_tui_enter_suspends_attaches_and_resumes_on_the_same_panel(
    boxes: Boxes, pane: Pane, tmp_path: Path
) -> None:
    name = boxes.names[0]
    config = tmp_path / "tui.toml"
    config.write_text(
        _config_text(boxes.state, boxes.key_file)
        + "[service]\nserve_in_tui = false\n[tui]\nmouse = false\n"
    )
    tui = shlex.join([sys.executable, "-m", "clawtui", "--config", str(config)])
    pane.type(tui)
    want = container_name(name)
    _select_card(pane, want)
    pane.tmux("send-keys", "-t", "t:0", "Enter")
    pane.wait(" dev | ", timeout=30)  # the TUI is suspended: the remote tmux is on screen
    assert "Dev containers" not in pane.screen()
    pane.tmux("send-keys", "-t", "t:0", "C-b", "d")  # tmux ends at once: back to the TUI
    screen = pane.wait("left tmux session main", timeout=30)
    assert want in screen and " dev | " not in screen
    assert "Dev containers" in screen  # the same panel ...
    for _ in range(3):  # ... and the same card holds the keyboard (None: could not tell, again)
        card = _card_under_cursor(pane)
        if card is not None:
            break
    assert card == want
    pane.tmux("send-keys", "-t", "t:0", "q")
    time.sleep(1)


# -- the service routes ------------------------------------------------------------------------
async def test_service_tmux_routes(boxes: Boxes, docker_api: docker.APIClient) -> None:
    import aiohttp

    from clawtui.service.runner import ServiceRunner

    token = "t0ken-for-attach-tests-0123456789"
    auth = {"Authorization": f"Bearer {token}"}
    engine = Engine(boxes.settings)
    await engine.start()
    assert await engine.wait_online(15)
    runner = ServiceRunner(engine, engine.settings, token=token, listen=("127.0.0.1", 0))
    await runner.start()
    name = boxes.names[1]
    base = f"{runner.url}/api/v1/devboxes/{name}/tmux"
    try:
        async with aiohttp.ClientSession(headers=auth) as http:
            async with http.post(f"{base}/run", json={"command": ["x"], "session": "$(id)"}) as r:
                assert r.status == 400 and "session" in (await r.json())["error"]["message"]
            async with http.post(f"{base}/run", json={"cmd": ["x"]}) as r:
                assert r.status == 400
            run = {"command": ["sleep", "60"], "session": "api", "window": "w1"}
            async with http.post(f"{base}/run", json=run) as r:
                assert r.status == 200, await r.text()
            line = {"text": "echo api-$((40+2)) > /tmp/api.out", "session": "api"}
            async with http.post(f"{base}/send", json=line) as r:
                assert r.status == 200, await r.text()
            async with http.get(base) as r:
                data = await r.json()
                assert any(w["session"] == "api" and w["name"] == "w1" for w in data["windows"])
            async with http.get(f"{runner.url}/api/v1/devboxes/nobody/tmux") as r:
                assert r.status == 404
        deadline = time.monotonic() + 10
        while docker_exec(docker_api, boxes.cids[name], "cat /tmp/api.out")[1] != "api-42\n":
            assert time.monotonic() < deadline, "the sent line did not run"
            await asyncio.sleep(0.1)
    finally:
        await runner.stop()
        await engine.stop()
