"""The Docker side of one dev box, from the fixed template: its home volume, its container (key
in through the archive API, then start), and undoing either when a create fails half-way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from clawtui.engine.api.devbox_checks import (
    HOME_DIR,
    HOME_ROLE,
    HOSTKEYS_DIR,
    HOSTKEYS_ROLE,
    LABEL_MANAGED,
    LABEL_OWNER,
    LABEL_PORT,
    LABEL_ROLE,
    ROLE,
    DevboxError,
    container_name,
    hostkeys_volume_name,
    volume_name,
)
from clawtui.engine.devboxes.checks import authorized_keys_tar
from clawtui.engine.devboxes.ports import choose_port
from clawtui.engine.docker_sdk import docker
from clawtui.engine.fleet.actions import docker_error_text

if TYPE_CHECKING:
    from clawtui.config import DevboxesConfig
    from clawtui.engine.api.devboxes import DevboxInfo, Progress
    from clawtui.engine.fleet.hosts import HostMonitor

_PORT_CONFLICT = ("port is already allocated", "address already in use")


async def check_name_free(
    monitor: HostMonitor, client: Any, name: str, boxes: Iterable[DevboxInfo]
) -> None:
    """Names are unique across hosts. On the target host Docker is asked (the model may lag
    behind a removal by a few milliseconds); other hosts are checked in the model."""
    for box in boxes:
        if box.name == name and box.host != monitor.name:
            raise DevboxError(
                f"a dev box named {name!r} already exists on host {box.host} "
                f"({box.container}, {box.state}); remove it first or pick another name"
            )
    try:
        data = await monitor.call(client.inspect_container, container_name(name))
    except docker.errors.NotFound:
        return
    data = data if isinstance(data, dict) else {}
    state = (data.get("State") or {}).get("Status", "?")
    labels = (data.get("Config") or {}).get("Labels") or {}
    what = "a dev box" if labels.get(LABEL_ROLE) == ROLE else "a container not made by clawtui"
    raise DevboxError(
        f"the name {name!r} is taken: {what} named {container_name(name)} ({state}) already "
        f"exists on host {monitor.name}; remove it first or pick another name"
    )


async def ensure_volume(
    monitor: HostMonitor,
    client: Any,
    name: str,
    extra_labels: Mapping[str, str],
    say: Progress,
) -> bool:
    """Make the home volume unless it exists; True when this call made it."""
    return await _ensure(monitor, client, volume_name(name), HOME_ROLE, "home", name,
                         extra_labels, say)  # fmt: skip


async def ensure_hostkeys_volume(
    monitor: HostMonitor,
    client: Any,
    name: str,
    extra_labels: Mapping[str, str],
    say: Progress,
) -> bool:
    """Make the volume of the SSH host keys unless it exists; True when this call made it."""
    return await _ensure(monitor, client, hostkeys_volume_name(name), HOSTKEYS_ROLE,
                         "SSH host key", name, extra_labels, say)  # fmt: skip


async def _ensure(
    monitor: HostMonitor,
    client: Any,
    volume: str,
    role: str,
    what: str,
    name: str,
    extra_labels: Mapping[str, str],
    say: Progress,
) -> bool:
    try:
        await monitor.call(client.inspect_volume, volume)
        say(f"reusing {what} volume {volume}")
        return False
    except docker.errors.NotFound:
        pass
    labels = {**extra_labels, LABEL_ROLE: role, LABEL_OWNER: name, LABEL_MANAGED: "1"}
    say(f"creating {what} volume {volume}")
    await monitor.call(client.create_volume, name=volume, labels=labels)
    return True


async def create_and_start(
    monitor: HostMonitor,
    client: Any,
    cfg: DevboxesConfig,
    name: str,
    keys: str,
    dev_uid: int,
    wanted_port: int | None,
    memory: int | None,
    cpus: float | None,
    environment: Mapping[str, str],
    extra_labels: Mapping[str, str],
    sudo: bool,
    say: Progress,
    pids_limit: int | None = None,
) -> tuple[str, int]:
    """Create the container, put the key in, start it; returns (id, port).

    When Docker finds an auto-picked port taken at start (a race with another process or
    engine), the container is removed and the next free port tried.
    """
    cname = container_name(name)
    await check_network(monitor, client, cfg.network)
    avoid: set[int] = set()
    for _attempt in range(5):
        port = await choose_port(monitor, client, cfg, wanted_port, avoid)
        labels = {
            **extra_labels,
            LABEL_ROLE: ROLE,
            LABEL_OWNER: name,
            LABEL_PORT: str(port),
            LABEL_MANAGED: "1",
        }
        host_config = client.create_host_config(
            binds={
                volume_name(name): {"bind": HOME_DIR, "mode": "rw"},
                hostkeys_volume_name(name): {"bind": HOSTKEYS_DIR, "mode": "rw"},
                **(
                    {str(cfg.github_installations): {"bind": INSTALLATIONS, "mode": "ro"}}
                    if cfg.github_installations is not None
                    else {}
                ),
            },
            port_bindings={22: (cfg.bind_address, port)},
            mem_limit=memory,
            memswap_limit=memory,
            nano_cpus=None if cpus is None else round(cpus * 1e9),
            pids_limit=pids_limit,
            cap_drop=["NET_RAW"],
            restart_policy={"Name": "unless-stopped"},
            security_opt=None if sudo else ["no-new-privileges:true"],
            network_mode=cfg.network,
        )
        say(f"creating container {cname} (SSH port {port})")
        try:
            created = await monitor.call(
                client.create_container,
                cfg.image,
                name=cname,
                hostname=cname,
                labels=labels,
                environment=dict(environment),
                ports=[22],
                host_config=host_config,
                detach=True,
            )
        except docker.errors.APIError as exc:
            if exc.status_code == 409:
                raise DevboxError(
                    f"the name {name!r} is taken: a container {cname} already exists on "
                    f"host {monitor.name}"
                ) from None
            raise
        cid = str(created["Id"])
        try:
            say("installing the public key")
            tar = authorized_keys_tar(keys, dev_uid, dev_uid)
            await monitor.call(client.put_archive, cid, HOME_DIR, tar)
            say(f"starting {cname}")
            await monitor.call(client.start, cid)
        except docker.errors.APIError as exc:
            text = docker_error_text(exc).lower()
            conflict = any(marker in text for marker in _PORT_CONFLICT)
            await undo(monitor, client, cid, None)
            if conflict and wanted_port is None:
                say(f"port {port} was taken meanwhile: trying another")
                avoid.add(port)
                continue
            if conflict:
                raise DevboxError(
                    f"port {port} is taken on host {monitor.name}: {docker_error_text(exc)}"
                ) from None
            raise
        except BaseException:
            await asyncio.shield(undo(monitor, client, cid, None))
            raise
        return cid, port
    raise DevboxError(f"could not find a free SSH port on host {monitor.name} (5 tries)")


INSTALLATIONS = "/secrets/github-installations.json"
"""Where `[devboxes] github_installations` is mounted (the credential helper reads it)."""
_BUILTIN_NETWORKS = frozenset({"bridge", "host", "none", "default"})


async def check_network(monitor: HostMonitor, client: Any, network: str | None) -> None:
    """DevboxError when `[devboxes] network` names a network this host does not have (say,
    TinyClaw's compose network before `docker compose up`: `tinyclaw_internal` in the seed,
    `borg_internal` / `borg_dev` since its rename)."""
    if not network or network in _BUILTIN_NETWORKS or network.startswith("container:"):
        return
    try:
        await monitor.call(client.inspect_network, network)
    except docker.errors.NotFound:
        raise DevboxError(
            f"Docker network {network!r} ([devboxes] network) does not exist on host "
            f"{monitor.name}: create it or start the stack that does (TinyClaw: docker compose "
            "up in its checkout), or unset [devboxes] network"
        ) from None


async def undo(monitor: HostMonitor, client: Any, cid: str | None, volume: str | None) -> None:
    """Remove the container `cid` and the volume `volume` (either may be None); never raises
    for what is already gone."""
    if cid is not None:
        with contextlib.suppress(docker.errors.DockerException):
            await monitor.call(client.remove_container, cid, force=True, v=True)
    if volume is not None:
        with contextlib.suppress(DevboxError):
            await remove_volume(monitor, client, volume)


async def remove_volume(monitor: HostMonitor, client: Any, volume: str) -> bool:
    """Remove a volume (waiting while Docker still counts it in use); False when it was gone."""
    for attempt in range(20):
        try:
            await monitor.call(client.remove_volume, volume)
            return True
        except docker.errors.NotFound:
            return False
        except docker.errors.APIError as exc:
            # Right after its container is removed a volume may still count as in use.
            if exc.status_code == 409 and attempt < 19:
                await asyncio.sleep(0.1)
                continue
            raise DevboxError(
                f"could not remove the volume {volume}: {docker_error_text(exc)}"
            ) from None
    return False
