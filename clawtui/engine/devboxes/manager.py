"""Dev boxes: one container per developer, reached over SSH, landing in tmux (seed 000, phase 3).

This replaces the seed's provisioning script (`create-dev-container.sh`) with engine code, so
the TUI, the service and `clawtui dev` create dev boxes the same way and with the checks the
script lacked: the name and the public key are validated before anything exists; the SSH port
is picked among ports no container and no process uses; the key goes in through the Docker
archive API (never through a shell string); `create` returns only once sshd answers with its
banner; and a failure half-way removes what was made.

What a dev box is, in Docker terms (all from a fixed template, never from a client's body):

* container `dev-NAME` from `[devboxes] image` (built from docker/Dockerfile.dev-container when
  missing), hostname `dev-NAME`, restart policy unless-stopped;
* labels `clawtui.role=devbox`, `clawtui.owner=NAME`, `clawtui.devbox.port=PORT`,
  `clawtui.managed=1`;
* memory = memory-swap (no swap: a clean OOM kill), nano_cpus, pids limit, NET_RAW dropped,
  no-new-privileges unless passwordless sudo was asked for;
* port 22 published on `[devboxes] bind_address` (127.0.0.1 by default), 2201-2299 by default;
* `/home/dev` on the named volume `clawtui-dev-NAME-home`, which outlives the container: remove
  with `keep_home=True` and create again, and the developer's files are still there.

Containers are found through the engine's model (label `clawtui.role=devbox`); every Docker call
runs in the host monitor's thread pool. The checks that need no Docker (names, keys, ports, the
key tarball) are in `clawtui.engine.api.devboxes` and `checks.py`; building the image is in
`image.py`.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import ipaddress
import os
import re
import socket
import time
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import docker.errors

from clawtui.config import parse_size
from clawtui.engine.api.devbox_checks import (
    HOME_DIR,
    HOME_ROLE,
    LABEL_MANAGED,
    LABEL_OWNER,
    LABEL_PORT,
    LABEL_ROLE,
    ROLE,
    DevboxError,
    DevboxInputError,
    container_name,
    validate_name,
    validate_public_keys,
    volume_name,
)
from clawtui.engine.api.devboxes import DevboxInfo, DevboxStatus, Progress, devbox_info, devboxes_in
from clawtui.engine.api.fleet import ActionError, UnknownContainer
from clawtui.engine.api.models import HostState
from clawtui.engine.devboxes.checks import authorized_keys_tar, pick_port, ports_in_use
from clawtui.engine.devboxes.image import (
    DEFAULT_DEV_UID,
    LABEL_BUILD,
    LABEL_UID,
    build_image,
    context_digest,
    default_build_context,
)
from clawtui.engine.fleet.actions import docker_error_text

if TYPE_CHECKING:
    from clawtui.config import DevboxesConfig
    from clawtui.engine.context import Context
    from clawtui.engine.fleet.actions import ContainerActions
    from clawtui.engine.fleet.hosts import HostMonitor

__all__ = ["Devboxes", "ssh_banner"]

SUDO_ENV = "CLAWTUI_DEV_SUDO"
EXPORT_ENV = "CLAWTUI_EXPORT_ENV"
EXPORTED_BY_DEFAULT = frozenset({"CREDENTIAL_BROKER_URL", "BROKER_SECRET"})
"""Variables the entrypoint always copies to /etc/profile.d (and every GITHUB_*)."""
_PORT_CONFLICT = ("port is already allocated", "address already in use")
_MIN_MEMORY = 64 * 1024 * 1024

def _port_bindable(address: str, port: int) -> bool:
    """Whether this machine could bind address:port now (nothing listens on it)."""
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


async def ssh_banner(address: str, port: int, timeout: float = 2.0) -> str | None:
    """The SSH identification line served at address:port, or None (nothing, or not SSH).

    A TCP connect alone proves little: Docker's proxy accepts on a published port before the
    server inside listens. The banner comes from sshd itself.
    """
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(address, port)
            line = await reader.readline()
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return None
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
    text = line.decode("ascii", "replace").strip()
    return text if text.startswith("SSH-") else None


# --------------------------------------------------------------------------------------------
# The capability


class Devboxes:
    """Create, list, remove and coordinate dev boxes on the engine's hosts."""

    def __init__(self, ctx: Context, actions: ContainerActions) -> None:
        self.ctx = ctx
        self.actions = actions
        self._build_locks: dict[str, asyncio.Lock] = {}
        self._create_locks: dict[str, asyncio.Lock] = {}

    @property
    def cfg(self) -> DevboxesConfig:
        return self.ctx.settings.devboxes

    # -- reads -------------------------------------------------------------------------------
    def list(
        self, *, host: str | None = None, labels: Mapping[str, str] | None = None
    ) -> builtins.list[DevboxInfo]:
        """Every dev box the engine knows (running or not), by host and name; with `labels`,
        only those carrying all of them (e.g. a team label set through `[devboxes] labels`)."""
        return devboxes_in(self.ctx.containers(host=host, role=ROLE), labels=labels)

    def get(self, name: str, *, host: str | None = None) -> DevboxInfo:
        """The dev box called `name`; DevboxError when there is none or it is ambiguous."""
        validate_name(name)
        found = [d for d in self.list(host=host) if d.name == name]
        if not found:
            where = f" on host {host}" if host else ""
            raise DevboxError(f"no dev box named {name!r}{where}")
        if len(found) > 1:
            hosts = ", ".join(d.host for d in found)
            raise DevboxError(f"dev box {name!r} exists on several hosts ({hosts}): name one")
        return found[0]

    def ssh_command(self, box: DevboxInfo) -> str:
        """How a person on this machine logs in to `box`."""
        return f"ssh -p {box.port} dev@{self._ssh_host(self.ctx.monitors[box.host])}"

    def status(self) -> DevboxStatus:
        boxes = self.list()
        running = [d for d in boxes if d.running]
        return DevboxStatus(
            total=len(boxes),
            running=len(running),
            stopped=len(boxes) - len(running),
            memory_limit_total=sum(d.memory_limit for d in boxes),
            memory_limit_running=sum(d.memory_limit for d in running),
        )

    def count(self, *, running_only: bool = False) -> int:
        return sum(1 for d in self.list() if d.running or not running_only)

    # -- coordinator verbs -------------------------------------------------------------------
    async def stop_all(
        self,
        *,
        host: str | None = None,
        labels: Mapping[str, str] | None = None,
        timeout: int = 10,
    ) -> builtins.list[str]:
        """Stop every running dev box (of `host`, carrying `labels`, when given); they stay
        stopped (restart policy unless-stopped). Returns their names."""
        running = [d for d in self.list(host=host, labels=labels) if d.running]
        results = await asyncio.gather(
            *(self.actions.stop(d.key, timeout=timeout) for d in running),
            return_exceptions=True,
        )
        errors = [f"{d.name}: {r}" for d, r in zip(running, results, strict=True) if r is not None]
        if errors:
            raise DevboxError("could not stop every dev box: " + "; ".join(errors))
        return [d.name for d in running]

    async def logs(
        self, name: str, *, tail: int | None = 100, follow: bool = False, host: str | None = None
    ) -> AsyncIterator[str]:
        """The dev box's container log (entrypoint and sshd messages), see ContainerActions.logs."""
        box = self.get(name, host=host)
        async for line in self.actions.logs(box.key, tail=tail, follow=follow):
            yield line

    # -- remove ------------------------------------------------------------------------------
    async def remove(self, name: str, *, keep_home: bool = False, host: str | None = None) -> str:
        """Remove the dev box's container, and its home volume unless `keep_home`.

        With no container but a home volume left from `keep_home`, removes the volume (unless
        `keep_home`). A volume of that name that clawtui did not make is never removed.
        Returns a sentence saying what was removed.
        """
        validate_name(name)
        found = [d for d in self.list(host=host) if d.name == name]
        if len(found) > 1:
            hosts = ", ".join(d.host for d in found)
            raise DevboxError(f"dev box {name!r} exists on several hosts ({hosts}): name one")
        box = found[0] if found else None
        monitor = self._monitor(box.host if box else host)
        client = self._client(monitor)
        done: builtins.list[str] = []
        if box is not None:
            try:
                await self.actions.remove(box.key, force=True)
                done.append(f"container {box.container}")
            except UnknownContainer:
                pass  # already gone; the engine's model had not caught up yet
            except ActionError as exc:
                raise DevboxError(f"could not remove dev box {name}: {exc}") from None
        volume = volume_name(name)
        kept = f" (home volume {volume} kept)" if keep_home else ""
        if not keep_home:
            try:
                data = await monitor.call(client.inspect_volume, volume)
            except docker.errors.NotFound:
                data = None
            if data is not None and (data.get("Labels") or {}).get(LABEL_ROLE) != HOME_ROLE:
                kept = f" (volume {volume} was not made by clawtui: kept)"
            elif data is not None and await self._remove_volume(monitor, client, volume):
                done.append(f"home volume {volume}")
        if not done:
            raise DevboxError(f"no dev box named {name!r} on host {monitor.name}{kept}")
        message = f"dev box {name}: removed " + " and ".join(done) + kept
        self.ctx.log_activity("info", message, host=monitor.name, subject=f"devbox:{name}")
        return message

    async def _remove_volume(self, monitor: HostMonitor, client: Any, volume: str) -> bool:
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
                    f"could not remove the home volume {volume}: {docker_error_text(exc)}"
                ) from None
        return False

    # -- create ------------------------------------------------------------------------------
    async def create(
        self,
        name: str,
        pubkey_text: str,
        *,
        memory: int | str | None = None,
        cpus: float | None = None,
        port: int | None = None,
        host: str | None = None,
        sudo: bool = False,
        env: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        progress: Progress | None = None,
    ) -> DevboxInfo:
        """Create and start dev box `name` with `pubkey_text` as its authorized_keys.

        `memory` and `cpus` default to `[devboxes]`; `port` (default: the lowest free one of
        `port_range`) is the host port of its sshd; `host` defaults to the first online host;
        `sudo` turns passwordless sudo on for `dev`; `env` is added to the configured
        environment (SSH login shells see it); `labels` are added to the container and volume.
        Returns once sshd answers on the port. Any failure after the first Docker change
        removes what this call made (a home volume that existed before is kept).
        """
        say = progress or (lambda _line: None)
        cfg = self.cfg
        validate_name(name)
        keys = validate_public_keys(pubkey_text, strict=cfg.validate_keys)
        memory_bytes = self._memory(memory)
        cpu_count = float(cfg.cpus if cpus is None else cpus)
        if not 0 < cpu_count <= 1024:
            raise DevboxInputError(f"invalid cpus {cpus!r}: give a number above 0, like 2 or 1.5")
        if port is not None and not 1 <= port <= 65535:
            raise DevboxInputError(f"invalid port {port}: use 1-65535")
        environment = self._environment(env, sudo=sudo)
        monitor = self._monitor(host)
        client = self._client(monitor)
        if monitor.info.ncpu and cpu_count > monitor.info.ncpu:
            raise DevboxInputError(
                f"cpus {cpu_count:g} is more than host {monitor.name} has ({monitor.info.ncpu})"
            )
        await self._check_name_free(monitor, client, name)
        if port is not None:  # a taken port is reported before anything is made
            await self._choose_port(monitor, client, port, set())

        image = await self.ensure_image(host=monitor.name, progress=say)
        uid_label = ((image.get("Config") or {}).get("Labels") or {}).get(LABEL_UID)
        dev_uid = int(uid_label) if isinstance(uid_label, str) and uid_label.isdigit() else None
        dev_uid = DEFAULT_DEV_UID if dev_uid is None else dev_uid

        started = time.monotonic()
        cname, volume = container_name(name), volume_name(name)
        extra_labels = {**cfg.labels, **(labels or {})}
        created_volume = False
        cid: str | None = None
        try:
            created_volume = await self._ensure_volume(monitor, client, name, extra_labels, say)
            async with self._create_locks.setdefault(monitor.name, asyncio.Lock()):
                cid, port = await self._create_and_start(
                    monitor, client, name, keys, dev_uid, port, memory_bytes, cpu_count,
                    environment, extra_labels, sudo, say,
                )  # fmt: skip
            address = self._probe_address(monitor)
            say(f"waiting for sshd on {address or 'the container'}:{port}")
            await self._wait_ready(monitor, client, cid, address, port)
            await self._pin_host_key(monitor, client, cid, port, say)
            info = await self._wait_known(monitor, cid)
        except BaseException as exc:
            await asyncio.shield(
                self._undo(monitor, client, cid, volume if created_volume else None)
            )
            if isinstance(exc, docker.errors.DockerException):
                raise DevboxError(
                    f"creating dev box {name} failed: {docker_error_text(exc)}"
                ) from None
            raise
        took = time.monotonic() - started
        say(f"dev box {name} is ready in {took:.1f}s: ssh -p {port} dev@{self._ssh_host(monitor)}")
        self.ctx.log_activity(
            "info",
            f"dev box {name} created: {cname}, SSH port {port}, memory "
            f"{memory_bytes // (1024 * 1024)} MiB, {cpu_count:g} CPUs" + (", sudo" if sudo else ""),
            host=monitor.name,
            subject=info.key,
        )
        return info

    def _memory(self, memory: int | str | None) -> int:
        if memory is None:
            return int(self.cfg.memory)
        try:
            size = parse_size(memory)
        except ValueError as exc:
            raise DevboxInputError(f"invalid memory: {exc}") from None
        if size < _MIN_MEMORY:
            raise DevboxInputError(f"memory {memory!r} is too small: a dev box needs 64m or more")
        return size

    def _environment(self, env: Mapping[str, str] | None, *, sudo: bool) -> dict[str, str]:
        out = dict(self.cfg.env)
        for name in self.cfg.env_passthrough:
            value = os.environ.get(name)
            if value is not None:
                out[name] = value
        for name, value in (env or {}).items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or name.startswith("CLAWTUI_"):
                raise DevboxInputError(f"invalid environment variable name {name!r}")
            if "\x00" in value:
                raise DevboxInputError(f"environment variable {name}: NUL is not allowed")
            out[name] = value
        exported = sorted(
            n for n in out if n not in EXPORTED_BY_DEFAULT and not n.startswith("GITHUB_")
        )
        if exported:
            out[EXPORT_ENV] = " ".join(exported)
        if sudo:
            out[SUDO_ENV] = "1"
        return out

    def _monitor(self, host: str | None) -> HostMonitor:
        monitors = self.ctx.monitors
        if host is not None:
            monitor = monitors.get(host)
            if monitor is None:
                known = ", ".join(monitors) or "none"
                raise DevboxInputError(f"unknown host {host!r} (configured: {known})")
            return monitor
        for monitor in monitors.values():
            if monitor.info.state is HostState.ONLINE:
                return monitor
        raise DevboxError("no Docker host is online: " + "; ".join(
            f"{m.name}: {m.info.error or m.info.state.value}" for m in monitors.values()
        ))  # fmt: skip

    @staticmethod
    def _client(monitor: HostMonitor) -> Any:
        client = monitor.client
        if client is None or monitor.info.state is not HostState.ONLINE:
            reason = monitor.info.error or monitor.info.state.value
            raise DevboxError(f"host {monitor.name} is not online ({reason})")
        return client

    async def _check_name_free(self, monitor: HostMonitor, client: Any, name: str) -> None:
        """Names are unique across hosts. On the target host Docker is asked (the model may lag
        behind a removal by a few milliseconds); other hosts are checked in the model."""
        for box in self.list():
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

    async def ensure_image(
        self, *, host: str | None = None, progress: Progress | None = None
    ) -> dict[str, Any]:
        """Inspect of the dev-box image on `host`, built first when missing or out of date.

        An image that carries a build digest (LABEL_BUILD) different from the build context's is
        rebuilt (the layer cache makes that quick); an image without one was made by someone
        else and is used as it is.
        """
        say = progress or (lambda _line: None)
        monitor = self._monitor(host)
        client = self._client(monitor)
        cfg = self.cfg
        tag = cfg.image
        context = cfg.build_context or default_build_context()
        has_context = (context / cfg.dockerfile).is_file()
        async with self._build_locks.setdefault(monitor.name, asyncio.Lock()):
            digest = (
                await asyncio.to_thread(context_digest, context, cfg.dockerfile, cfg.build_args)
                if has_context
                else None
            )
            try:
                image: dict[str, Any] | None = await monitor.call(client.inspect_image, tag)
            except docker.errors.ImageNotFound:
                image = None
            old_id: str | None = None
            if image is not None:
                built_from = ((image.get("Config") or {}).get("Labels") or {}).get(LABEL_BUILD)
                if built_from is None or digest is None or built_from == digest:
                    return image
                old_id = image.get("Id")
                say(f"image {tag} is out of date (its build context changed): rebuilding")
            elif digest is None:
                raise DevboxError(
                    f"image {tag} is missing on host {monitor.name} and there is nothing to "
                    f"build it from ({context / cfg.dockerfile} not found); set [devboxes] "
                    "build_context or load the image"
                )
            say(f"building image {tag} on host {monitor.name} from {context / cfg.dockerfile}")
            started = time.monotonic()
            loop = asyncio.get_running_loop()

            def on_line(line: str) -> None:
                loop.call_soon_threadsafe(say, line)

            assert digest is not None
            await monitor.call(
                build_image,
                client,
                context=context,
                dockerfile=cfg.dockerfile,
                tag=tag,
                build_args=cfg.build_args,
                labels={LABEL_BUILD: digest, LABEL_MANAGED: "1"},
                on_line=on_line,
                timeout=cfg.build_timeout,
            )
            await asyncio.sleep(0)  # let the last progress lines through first
            say(f"image {tag} built in {time.monotonic() - started:.0f}s")
            self.ctx.log_activity("info", f"built image {tag}", host=monitor.name)
            if old_id:  # the replaced image is now untagged: do not leave it behind
                try:
                    await monitor.call(client.remove_image, old_id)
                except docker.errors.ImageNotFound:
                    pass
                except docker.errors.DockerException as exc:  # in use by a container, say
                    note = f"the replaced image {old_id[7:19]} was kept: {docker_error_text(exc)}"
                    say(note)
                    self.ctx.log_activity("warning", note, host=monitor.name)
            result: dict[str, Any] = await monitor.call(client.inspect_image, tag)
            return result

    async def _ensure_volume(
        self,
        monitor: HostMonitor,
        client: Any,
        name: str,
        extra_labels: Mapping[str, str],
        say: Progress,
    ) -> bool:
        """Make the home volume unless it exists; True when this call made it."""
        volume = volume_name(name)
        try:
            await monitor.call(client.inspect_volume, volume)
            say(f"reusing home volume {volume}")
            return False
        except docker.errors.NotFound:
            pass
        labels = {**extra_labels, LABEL_ROLE: HOME_ROLE, LABEL_OWNER: name, LABEL_MANAGED: "1"}
        say(f"creating home volume {volume}")
        await monitor.call(client.create_volume, name=volume, labels=labels)
        return True

    async def _free_ports(self, monitor: HostMonitor, client: Any) -> dict[int, str]:
        listed = await monitor.call(client.containers, all=True)
        listed = [c for c in listed if isinstance(c, dict)]
        stopped = [c["Id"] for c in listed if c.get("State") != "running" and c.get("Id")]

        async def inspect(cid: str) -> Any:
            try:
                return await monitor.call(client.inspect_container, cid)
            except docker.errors.DockerException:
                return None

        inspected = await asyncio.gather(*(inspect(cid) for cid in stopped))
        return ports_in_use(listed, inspected)

    def _check_host_port(self, monitor: HostMonitor, port: int) -> bool:
        """False when a process on this machine holds the port (local hosts only)."""
        if not monitor.cfg.is_local:
            return True
        return _port_bindable(self.cfg.bind_address, port)

    async def _choose_port(
        self, monitor: HostMonitor, client: Any, wanted: int | None, avoid: set[int]
    ) -> int:
        used = await self._free_ports(monitor, client)
        if wanted is not None:
            if wanted in used:
                raise DevboxError(
                    f"port {wanted} is taken on host {monitor.name} by container {used[wanted]}; "
                    "pick another port or leave --port out"
                )
            if not await asyncio.to_thread(self._check_host_port, monitor, wanted):
                raise DevboxError(
                    f"port {wanted} is taken on host {monitor.name}: another process listens "
                    "on it; pick another port or leave --port out"
                )
            return wanted
        low, high = self.cfg.port_bounds
        taken = set(used) | avoid

        def first_free() -> int | None:
            return pick_port(taken, low, high, is_free=lambda p: self._check_host_port(monitor, p))

        port = await asyncio.to_thread(first_free)
        if port is None:
            raise DevboxError(
                f"no free SSH port left in {low}-{high} on host {monitor.name}; widen "
                "[devboxes] port_range or remove unused dev boxes"
            )
        return port

    async def _create_and_start(
        self,
        monitor: HostMonitor,
        client: Any,
        name: str,
        keys: str,
        dev_uid: int,
        wanted_port: int | None,
        memory: int,
        cpus: float,
        environment: Mapping[str, str],
        extra_labels: Mapping[str, str],
        sudo: bool,
        say: Progress,
    ) -> tuple[str, int]:
        """Create the container, put the key in, start it; returns (id, port).

        When Docker finds an auto-picked port taken at start (a race with another process or
        engine), the container is removed and the next free port tried.
        """
        cfg = self.cfg
        cname = container_name(name)
        avoid: set[int] = set()
        for _attempt in range(5):
            port = await self._choose_port(monitor, client, wanted_port, avoid)
            labels = {
                **extra_labels,
                LABEL_ROLE: ROLE,
                LABEL_OWNER: name,
                LABEL_PORT: str(port),
                LABEL_MANAGED: "1",
            }
            host_config = client.create_host_config(
                binds={volume_name(name): {"bind": HOME_DIR, "mode": "rw"}},
                port_bindings={22: (cfg.bind_address, port)},
                mem_limit=memory,
                memswap_limit=memory,
                nano_cpus=round(cpus * 1e9),
                pids_limit=cfg.pids_limit,
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
                await self._undo(monitor, client, cid, None)
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
                await asyncio.shield(self._undo(monitor, client, cid, None))
                raise
            return cid, port
        raise DevboxError(f"could not find a free SSH port on host {monitor.name} (5 tries)")

    async def _undo(
        self, monitor: HostMonitor, client: Any, cid: str | None, volume: str | None
    ) -> None:
        if cid is not None:
            with contextlib.suppress(docker.errors.DockerException):
                await monitor.call(client.remove_container, cid, force=True, v=True)
        if volume is not None:
            with contextlib.suppress(DevboxError):
                await self._remove_volume(monitor, client, volume)

    def _ssh_host(self, monitor: HostMonitor) -> str:
        """Where a person on this machine reaches the dev boxes of `monitor`'s host."""
        if not monitor.cfg.is_local:
            hostname = urlsplit(monitor.cfg.url).hostname
            if hostname and not ipaddress.ip_address(self.cfg.bind_address).is_loopback:
                return hostname
        address = ipaddress.ip_address(self.cfg.bind_address)
        if address.is_unspecified:
            return "::1" if address.version == 6 else "127.0.0.1"
        return str(address)

    def _probe_address(self, monitor: HostMonitor) -> str | None:
        """Address to probe sshd at from here, or None when only the container can reach it
        (a remote host publishing on its loopback)."""
        if not monitor.cfg.is_local and ipaddress.ip_address(self.cfg.bind_address).is_loopback:
            return None
        return self._ssh_host(monitor)

    async def _pin_host_key(
        self, monitor: HostMonitor, client: Any, cid: str, port: int, say: Progress
    ) -> None:
        """Pin the container's own ed25519 host key (read through the Docker API, a trusted
        channel) into clawtui's known_hosts, so attach checks it (clawtui/terminal/attach.py)."""
        from clawtui.engine.devboxes.hostkey import pin_container_host_key

        known = self.ctx.settings.attach.resolved_known_hosts(
            self.ctx.settings.engine.resolved_state_dir
        )
        fingerprint = await pin_container_host_key(
            monitor, client, cid, known, self._ssh_host(monitor), port
        )
        say(f"pinned SSH host key {fingerprint} in {known}")

    async def _wait_ready(
        self, monitor: HostMonitor, client: Any, cid: str, address: str | None, port: int
    ) -> None:
        timeout = self.cfg.ready_timeout
        deadline = time.monotonic() + timeout
        next_check = time.monotonic() + 0.5
        while True:
            if address is not None:
                if await ssh_banner(address, port):
                    return
            elif await self._banner_inside(monitor, client, cid):
                return
            now = time.monotonic()
            if now >= next_check:
                next_check = now + 1.0
                data = await monitor.call(client.inspect_container, cid)
                state = data.get("State") or {}
                crashed = state.get("Restarting") or data.get("RestartCount", 0)
                if crashed or not state.get("Running"):
                    tail = await monitor.call(client.logs, cid, tail=15)
                    text = bytes(tail).decode("utf-8", "replace").strip()
                    raise DevboxError(
                        f"the container stopped before sshd answered (exit code "
                        f"{state.get('ExitCode')}); its last output:\n{text or '(none)'}"
                    )
            if now >= deadline:
                raise DevboxError(
                    f"sshd did not answer on {address or 'the container'}:{port} within "
                    f"{timeout:g}s; see `clawtui dev logs`"
                )
            await asyncio.sleep(0.1)

    @staticmethod
    async def _banner_inside(monitor: HostMonitor, client: Any, cid: str) -> bool:
        try:
            exec_id = await monitor.call(
                client.exec_create,
                cid,
                ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/22 && head -c 4 <&3"],
            )
            output = await monitor.call(client.exec_start, exec_id)
        except docker.errors.DockerException:
            return False
        return bytes(output).startswith(b"SSH-")

    async def _wait_known(self, monitor: HostMonitor, cid: str, timeout: float = 5.0) -> DevboxInfo:
        """The new dev box from the engine's model, once Docker's events have put it there."""
        key = f"{monitor.name}/{cid}"
        deadline = time.monotonic() + timeout
        while True:
            info = self.ctx.container(key)
            if info is not None and info.running:
                return devbox_info(info)
            if time.monotonic() >= deadline:
                await monitor.reconcile()
                info = self.ctx.container(key)
                if info is None:
                    raise DevboxError(f"the engine did not see {key} appear")
                return devbox_info(info)
            await asyncio.sleep(0.02)
