"""Dev boxes against the real Docker engine and the real sshd inside them (no mocks).

The image is built once per session through the engine (cached by tag and build digest, so a
second run reuses it). Every container and volume made here carries the session's test label,
and each test removes what it made, in `finally`.
"""

from __future__ import annotations

import asyncio
import io
import json
import socket
import tarfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncssh
import docker
import pytest
from docker.errors import NotFound

from clawtui.cli import main
from clawtui.config import DevboxesConfig, EngineConfig, HostConfig, Settings
from clawtui.engine.api.devbox_checks import (
    DevboxError,
    DevboxInputError,
    container_name,
    hostkeys_volume_name,
    volume_name,
)
from clawtui.engine.api.fleet import ActionError, UnknownContainer
from clawtui.engine.core import Engine
from tests.integration.conftest import TEST_LABEL
from tests.integration.engine_helpers import wait_until

pytestmark = pytest.mark.integration

MIB = 1024 * 1024


def devbox_settings(state_dir: Path, **devboxes: Any) -> Settings:
    return Settings(
        engine=EngineConfig(state_dir=state_dir, stats_interval=5.0, reconnect_max_backoff=1.0),
        hosts=[HostConfig(name="local", cgroup_root=None)],
        devboxes=DevboxesConfig(
            **{"memory": 256 * MIB, "cpus": 1.0, "ready_timeout": 30.0, **devboxes}
        ),
    )


@pytest.fixture(scope="session")
def devbox_image(docker_api: docker.APIClient, debian_base_image: str, tmp_path_factory) -> str:  # type: ignore[no-untyped-def]
    """The dev-container image, built by the engine when missing or out of date."""
    settings = devbox_settings(tmp_path_factory.mktemp("image-engine"))

    async def build() -> None:
        engine = Engine(settings)
        await engine.start()
        try:
            assert await engine.wait_online(15)
            lines: list[str] = []
            started = time.monotonic()
            await engine.devboxes.ensure_image(progress=lines.append)
            print(f"\ndev image ready in {time.monotonic() - started:.1f}s, {len(lines)} lines")
        finally:
            await engine.stop()

    asyncio.run(build())
    return settings.devboxes.image


@pytest.fixture
def box_names(docker_api: docker.APIClient, test_labels: dict[str, str]) -> Iterator[list[str]]:
    """Names of dev boxes a test makes; their containers and home volumes are removed after
    the test (only those carrying this session's test label)."""
    names: list[str] = []
    yield names
    for name in names:
        for c in docker_api.containers(all=True, filters={"name": f"^/{container_name(name)}$"}):
            if c["Labels"].get(TEST_LABEL) == test_labels[TEST_LABEL]:
                docker_api.remove_container(c["Id"], force=True, v=True)
        for each in (volume_name(name), hostkeys_volume_name(name)):
            try:
                volume = docker_api.inspect_volume(each)
            except NotFound:
                continue
            if (volume.get("Labels") or {}).get(TEST_LABEL) == test_labels[TEST_LABEL]:
                for _ in range(20):
                    try:
                        docker_api.remove_volume(each)
                        break
                    except NotFound:
                        break
                    except docker.errors.APIError:
                        time.sleep(0.1)


@pytest.fixture
def new_name(test_labels: dict[str, str], box_names: list[str]):  # type: ignore[no-untyped-def]
    """new_name("x") → a dev box name unique to this session, registered for cleanup."""
    tag = test_labels[TEST_LABEL].rsplit("-", 1)[-1][:6].lower()

    def make(suffix: str) -> str:
        name = f"t{tag}-{suffix}"
        box_names.append(name)
        return name

    return make


@pytest.fixture
async def engine(tmp_path: Path, devbox_image: str) -> AsyncIterator[Engine]:
    eng = Engine(devbox_settings(tmp_path / "state"))
    await eng.start()
    try:
        assert await eng.wait_online(15)
        yield eng
    finally:
        await eng.stop()


def user_key() -> tuple[asyncssh.SSHKey, str]:
    key = asyncssh.generate_private_key("ssh-ed25519", comment="clawtui-test")
    return key, key.export_public_key().decode()


def known_hosts_for(docker_api: docker.APIClient, cid: str, port: int, path: Path) -> Path:
    """Write the container's ed25519 host key, read through the Docker API, as known_hosts."""
    stream, _ = docker_api.get_archive(cid, "/etc/ssh/ssh_host_ed25519_key.pub")
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.getmembers()[0]
        handle = tar.extractfile(member)
        assert handle is not None
        kind, blob = handle.read().decode().split()[:2]
    path.write_text(f"[127.0.0.1]:{port} {kind} {blob}\n")
    return path


async def ssh(port: int, key: asyncssh.SSHKey, known_hosts: Path, **kwargs: Any) -> Any:
    options: dict[str, Any] = {
        "username": "dev",
        "client_keys": [key],
        "known_hosts": str(known_hosts),
        "agent_path": None,
        "config": None,
    }
    options.update(kwargs)
    return await asyncssh.connect("127.0.0.1", port, **options)


async def wait_tmux_main(conn: Any, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        result = await conn.run("tmux ls -F '#{session_name} #{session_attached}'", check=False)
        if result.exit_status == 0 and "main 1" in str(result.stdout):
            return str(result.stdout)
        if time.monotonic() > deadline:
            raise AssertionError(f"no attached tmux session main: {result.stdout!r}")
        await asyncio.sleep(0.1)


def volume_exists(docker_api: docker.APIClient, name: str) -> bool:
    try:
        docker_api.inspect_volume(name)
        return True
    except NotFound:
        return False


def container_exists(docker_api: docker.APIClient, name: str) -> bool:
    return bool(docker_api.containers(all=True, filters={"name": f"^/{name}$"}))


async def test_create_ssh_hardening_and_home_survives(
    engine: Engine,
    docker_api: docker.APIClient,
    test_labels: dict[str, str],
    new_name,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    name = new_name("a")
    key, pub = user_key()
    secret = 'it\'s a "secret" with $HOME, `ticks`\nand a second line'
    lines: list[str] = []
    started = time.monotonic()
    box = await engine.devboxes.create(
        name,
        pub,
        memory="256m",
        cpus=1.0,
        labels=test_labels,
        env={"BROKER_SECRET": secret, "CREDENTIAL_BROKER_URL": "http://broker:3000"},
        progress=lines.append,
    )
    print(f"\ncreate → SSH ready: {time.monotonic() - started:.2f}s")
    assert box.name == name and box.running and box.port is not None
    assert any("waiting for sshd" in line for line in lines)
    cid = box.key.split("/", 1)[1]
    port = box.port
    known = known_hosts_for(docker_api, cid, port, tmp_path / "known_hosts")

    # What Docker holds: limits, hardening, binding, labels.
    data = docker_api.inspect_container(cid)
    hc = data["HostConfig"]
    assert hc["Memory"] == hc["MemorySwap"] == 256 * MIB
    assert hc["NanoCpus"] == 1_000_000_000
    assert hc["PidsLimit"] == 512
    assert hc["CapDrop"] == ["NET_RAW"]
    assert hc["RestartPolicy"]["Name"] == "unless-stopped"
    assert "no-new-privileges:true" in (hc["SecurityOpt"] or [])
    assert hc["PortBindings"] == {"22/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    assert data["NetworkSettings"]["Ports"]["22/tcp"][0]["HostIp"] == "127.0.0.1"
    assert data["Config"]["Hostname"] == f"dev-{name}"
    labels = data["Config"]["Labels"]
    assert labels["clawtui.role"] == "devbox" and labels["clawtui.owner"] == name
    assert labels["clawtui.devbox.port"] == str(port) and labels["clawtui.managed"] == "1"
    assert labels[TEST_LABEL] == test_labels[TEST_LABEL]
    assert any(
        m["Name"] == volume_name(name) and m["Destination"] == "/home/dev" for m in data["Mounts"]
    )
    assert (
        docker_api.inspect_volume(volume_name(name))["Labels"][TEST_LABEL]
        == test_labels[TEST_LABEL]
    )

    # The engine's views.
    assert [b.name for b in engine.devboxes.list() if b.name == name] == [name]
    assert engine.devboxes.count() >= 1 and engine.devboxes.status().running >= 1

    # SSH with host-key checking on: dev, its key, hardening.
    async with await ssh(port, key, known) as conn:
        assert (await conn.run("whoami", check=True)).stdout.strip() == "dev"
        modes = await conn.run("stat -c '%a %U %G' ~/.ssh ~/.ssh/authorized_keys", check=True)
        assert modes.stdout.split("\n")[:2] == ["700 dev dev", "600 dev dev"]
        sudo = await conn.run("sudo -n true", check=False)
        assert sudo.exit_status != 0
        # Broker variables reach login shells, verbatim, through /etc/profile.d.
        env = await conn.run("bash -lc 'printf %s \"$BROKER_SECRET\"'", check=True)
        assert env.stdout == secret
        url = await conn.run("bash -lc 'printf %s \"$CREDENTIAL_BROKER_URL\"'", check=True)
        assert url.stdout == "http://broker:3000"
        perms = await conn.run("stat -c '%a %U %G' /etc/profile.d/00-clawtui-env.sh", check=True)
        assert perms.stdout.strip() == "640 root dev"
        hostkeys = await conn.run("ls /etc/ssh/ | grep -c '^ssh_host_'", check=True)
        assert int(hostkeys.stdout) >= 2
        # An interactive login shell (PTY, no command) lands in tmux session `main`.
        proc = await conn.create_process(term_type="xterm-256color", term_size=(100, 30))
        try:
            assert "main 1" in await wait_tmux_main(conn)
            panes = await conn.run("tmux list-panes -t main -F '#{pane_current_command}'")
            assert panes.stdout.strip() == "bash"
        finally:
            proc.close()
        # Something for later: must survive rm --keep-home + create.
        await conn.run("echo kept > ~/repos/survivor.txt", check=True)

    with pytest.raises(asyncssh.PermissionDenied):
        await ssh(
            port,
            key,
            known,
            client_keys=None,
            password="dev",
            preferred_auth="password,keyboard-interactive",
        )
    with pytest.raises(asyncssh.PermissionDenied):
        await ssh(port, key, known, username="root")

    # A taken name and a taken port: clear errors, nothing left behind.
    other_key = user_key()[1]
    with pytest.raises(DevboxError, match="already exists"):
        await engine.devboxes.create(name, other_key, labels=test_labels)
    other = new_name("b")
    with pytest.raises(DevboxError, match=f"port {port} is taken.*dev-{name}"):
        await engine.devboxes.create(other, other_key, port=port, labels=test_labels)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        busy_port = busy.getsockname()[1]
        with pytest.raises(DevboxError, match="another process listens"):
            await engine.devboxes.create(other, other_key, port=busy_port, labels=test_labels)
    assert not container_exists(docker_api, container_name(other))
    assert not volume_exists(docker_api, volume_name(other))
    assert not volume_exists(docker_api, hostkeys_volume_name(other))

    # stop_all (only this session's boxes: the dockerd is shared), then start again.
    assert await engine.devboxes.stop_all(labels=test_labels, timeout=2) == [name]
    await wait_until(lambda: not engine.devboxes.get(name).running, 5, "stopped")
    assert docker_api.inspect_container(cid)["State"]["Status"] == "exited"
    assert await engine.devboxes.stop_all(labels=test_labels) == []
    await engine.actions.start(box.key)
    await wait_until(lambda: engine.devboxes.get(name).running, 5, "running again")

    # rm --keep-home (named by its container's name), then create again (new key, sudo on):
    # the home is the same, and so is the SSH host key that was pinned.
    first_host_key = known.read_text().split()[1:3]
    message = await engine.devboxes.remove(container_name(name), keep_home=True)
    assert "kept" in message
    assert not container_exists(docker_api, container_name(name))
    assert volume_exists(docker_api, volume_name(name))
    assert volume_exists(docker_api, hostkeys_volume_name(name))
    await wait_until(lambda: not any(b.name == name for b in engine.devboxes.list()), 5, "gone")
    key2, pub2 = user_key()
    box2 = await engine.devboxes.create(name, pub2, sudo=True, labels=test_labels)
    cid2 = box2.key.split("/", 1)[1]
    assert box2.port is not None
    known2 = known_hosts_for(docker_api, cid2, box2.port, tmp_path / "known_hosts2")
    assert known2.read_text().split()[1:3] == first_host_key
    pinned = tmp_path / "known_hosts_first"  # the first key, for the new port: sshd serves it
    pinned.write_text(f"[127.0.0.1]:{box2.port} {' '.join(first_host_key)}\n")
    async with await ssh(box2.port, key2, pinned) as conn:
        assert (await conn.run("whoami", check=True)).stdout.strip() == "dev"
    async with await ssh(box2.port, key2, known2) as conn:
        kept = await conn.run("cat ~/repos/survivor.txt", check=True)
        assert kept.stdout.strip() == "kept"
        assert (await conn.run("sudo -n whoami", check=True)).stdout.strip() == "root"
        modes = await conn.run("stat -c '%a %U' ~/.ssh/authorized_keys", check=True)
        assert modes.stdout.strip() == "600 dev"
    with pytest.raises(asyncssh.PermissionDenied):  # the first key was replaced
        await ssh(box2.port, key, known2)

    # rm without --keep-home: container and volumes are gone.
    await engine.devboxes.remove(name)
    assert not container_exists(docker_api, container_name(name))
    assert not volume_exists(docker_api, volume_name(name))
    assert not volume_exists(docker_api, hostkeys_volume_name(name))
    with pytest.raises(DevboxError, match="no dev box"):
        await engine.devboxes.remove(name)


async def test_bad_input_touches_nothing(engine: Engine, docker_api: docker.APIClient) -> None:
    pub = user_key()[1]
    for bad in ["Alice", "-x", "a" * 32, "a b", "a/b", ""]:
        with pytest.raises(DevboxInputError, match="invalid dev box name"):
            await engine.devboxes.create(bad, pub)
    for key in ["", "hello", 'command="sh" ' + pub, "ssh-ed25519 !!!notbase64"]:
        with pytest.raises(DevboxInputError):
            await engine.devboxes.create("tbadinput", key)
    with pytest.raises(DevboxInputError, match="memory"):
        await engine.devboxes.create("tbadinput", pub, memory="lots")
    with pytest.raises(DevboxInputError, match="more than host"):
        await engine.devboxes.create("tbadinput", pub, cpus=64.0)
    assert len(docker_api.containers(all=True, filters={"name": "^/dev-tbadinput$"})) == 0
    assert not volume_exists(docker_api, volume_name("tbadinput"))


async def test_failure_after_create_removes_what_it_made(
    tmp_path: Path,
    docker_api: docker.APIClient,
    busybox_image: str,
    test_labels: dict[str, str],
    new_name,  # type: ignore[no-untyped-def]
) -> None:
    """An image without sshd: the container never answers, and create undoes everything."""
    settings = devbox_settings(tmp_path / "state", image=busybox_image, ready_timeout=3.0)
    eng = Engine(settings)
    await eng.start()
    try:
        assert await eng.wait_online(15)
        name = new_name("fail")
        with pytest.raises(DevboxError, match="sshd"):
            await eng.devboxes.create(name, user_key()[1], labels=test_labels)
        assert not container_exists(docker_api, container_name(name))
        assert not volume_exists(docker_api, volume_name(name))
        assert not volume_exists(docker_api, hostkeys_volume_name(name))
        # A home volume that was there before the failed create stays.
        docker_api.create_volume(volume_name(name), labels=test_labels)
        with pytest.raises(DevboxError, match="sshd"):
            await eng.devboxes.create(name, user_key()[1], labels=test_labels)
        assert not container_exists(docker_api, container_name(name))
        assert volume_exists(docker_api, volume_name(name))
        with pytest.raises(DevboxError, match="not made by clawtui: kept"):
            await eng.devboxes.remove(name)
        assert volume_exists(docker_api, volume_name(name))
    finally:
        await eng.stop()


async def test_container_actions_and_logs(
    engine: Engine,
    make_container,  # type: ignore[no-untyped-def]
) -> None:
    script = (
        "trap 'exit 0' TERM; echo one; echo two; printf 'bad \\377 byte\\n'; "
        "i=0; while :; do echo tick$i; i=$((i+1)); sleep 0.1; done"
    )
    info = make_container("logs", command=["sh", "-c", script], labels={"clawtui.role": "devbox"})
    key = f"local/{info['Id']}"
    await wait_until(lambda: engine.container(key) is not None, 5, "container known")

    with pytest.raises(UnknownContainer):
        await engine.actions.stop("local/" + "0" * 64)
    with pytest.raises(UnknownContainer):
        async for _ in engine.actions.logs("nohost/abc"):
            pass

    deadline = time.monotonic() + 5
    while True:  # until a few ticks are in the log
        all_lines = [line async for line in engine.actions.logs(key, tail=None)]
        if "tick3" in all_lines or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert all_lines[:4] == ["one", "two", "bad \ufffd byte", "tick0"]
    last = [line async for line in engine.actions.logs(key, tail=2)]
    assert len(last) == 2 and all(line.startswith("tick") for line in last)

    seen: list[str] = []
    stream = engine.actions.logs(key, tail=0, follow=True)
    async with asyncio.timeout(10):
        async for line in stream:
            seen.append(line)
            if len(seen) == 3:
                break
    await stream.aclose()
    assert all(line.startswith("tick") for line in seen)

    await engine.actions.stop(key, timeout=1)
    await wait_until(lambda: not engine.container(key).running, 5, "stopped")  # type: ignore[union-attr]
    await engine.actions.start(key)
    await wait_until(lambda: engine.container(key).running, 5, "running")  # type: ignore[union-attr]
    await engine.actions.restart(key, timeout=1)
    with pytest.raises(ActionError, match="running"):
        await engine.actions.remove(key)
    await engine.actions.remove(key, force=True)
    await wait_until(lambda: engine.container(key) is None, 5, "removed")
    with pytest.raises(UnknownContainer):
        await engine.actions.start(key)


def test_cli_create_ls_rm(
    tmp_path: Path,
    devbox_image: str,
    docker_api: docker.APIClient,
    test_labels: dict[str, str],
    new_name,  # type: ignore[no-untyped-def]
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = new_name("cli")
    labels = ", ".join(f'"{k}" = "{v}"' for k, v in test_labels.items())
    config = tmp_path / "config.toml"
    config.write_text(
        f'[engine]\nstate_dir = "{tmp_path / "state"}"\n'
        f'[devboxes]\nmemory = "256m"\ncpus = 1.0\nlabels = {{{labels}}}\n'
    )
    keyfile = tmp_path / "id.pub"
    keyfile.write_text(user_key()[1])
    cfg = ["--config", str(config)]

    assert main(["dev", "create", "Bad Name", "--key", str(keyfile), *cfg]) == 2
    err = capsys.readouterr().err
    assert "invalid dev box name" in err and "Traceback" not in err
    assert main(["dev", "create", name, "--key", str(tmp_path / "missing.pub"), *cfg]) == 2
    assert "cannot read the key file" in capsys.readouterr().err

    assert main(["dev", "create", name, "--key", str(keyfile), *cfg]) == 0
    out, err = capsys.readouterr()
    assert "ssh -p" in out and "waiting for sshd" in err

    assert main(["dev", "ls", "--json", *cfg]) == 0
    boxes = {b["name"]: b for b in json.loads(capsys.readouterr().out)}
    assert boxes[name]["state"] == "running" and 2201 <= boxes[name]["port"] <= 2299
    assert boxes[name]["memory_limit"] == 256 * MIB

    assert main(["dev", "count", *cfg]) == 0
    assert int(capsys.readouterr().out) >= 1
    assert main(["dev", "status", "--json", *cfg]) == 0
    assert json.loads(capsys.readouterr().out)["running"] >= 1

    assert main(["dev", "logs", name, "--tail", "20", *cfg]) == 0
    assert "starting sshd" in capsys.readouterr().out

    assert main(["dev", "create", name, "--key", str(keyfile), *cfg]) == 1
    assert "already exists" in capsys.readouterr().err

    assert main(["dev", "rm", name, *cfg]) == 0
    assert "removed" in capsys.readouterr().out
    assert not container_exists(docker_api, container_name(name))
    assert not volume_exists(docker_api, volume_name(name))
    assert main(["dev", "rm", name, *cfg]) == 1
    assert "no dev box" in capsys.readouterr().err
