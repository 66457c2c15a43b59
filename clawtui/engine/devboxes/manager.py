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
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clawtui.config import parse_size
from clawtui.engine.api.devbox_checks import (
    HOME_ROLE,
    HOSTKEYS_ROLE,
    LABEL_ROLE,
    ROLE,
    DevboxError,
    DevboxInputError,
    container_name,
    hostkeys_volume_name,
    validate_name,
    validate_public_keys,
    volume_name,
)
from clawtui.engine.api.devboxes import DevboxInfo, DevboxStatus, Progress, devboxes_in
from clawtui.engine.api.fleet import ActionError, UnknownContainer
from clawtui.engine.api.models import HostState
from clawtui.engine.devboxes.containers import (
    check_name_free,
    create_and_start,
    ensure_hostkeys_volume,
    ensure_volume,
    remove_volume,
    undo,
)
from clawtui.engine.devboxes.image import (
    DEFAULT_DEV_UID,
    LABEL_UID,
    ensure_image,
)
from clawtui.engine.devboxes.ports import choose_port
from clawtui.engine.devboxes.readiness import (
    probe_address,
    ssh_host,
    wait_known,
    wait_ready,
)
from clawtui.engine.devboxes.sshconfig import ssh_config_snippet
from clawtui.engine.docker_sdk import docker
from clawtui.engine.fleet.actions import docker_error_text
from clawtui.engine.sessions.identities import private_key_beside, remember, remembered

if TYPE_CHECKING:
    from clawtui.config import DevboxesConfig
    from clawtui.engine.context import Context
    from clawtui.engine.fleet.actions import ContainerActions
    from clawtui.engine.fleet.hosts import HostMonitor

__all__ = ["Devboxes"]

SUDO_ENV = "CLAWTUI_DEV_SUDO"
EXPORT_ENV = "CLAWTUI_EXPORT_ENV"
EXPORTED_BY_DEFAULT = frozenset({"CREDENTIAL_BROKER_URL", "BROKER_SECRET"})
"""Variables the entrypoint always copies to /etc/profile.d (and every GITHUB_*)."""
_MIN_MEMORY = 64 * 1024 * 1024

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
        found = self._named(name, host)
        if not found:
            where = f" on host {host}" if host else ""
            raise DevboxError(f"no dev box named {name!r}{where}")
        if len(found) > 1:
            hosts = ", ".join(d.host for d in found)
            raise DevboxError(f"dev box {name!r} exists on several hosts ({hosts}): name one")
        return found[0]

    def _named(self, name: str, host: str | None) -> builtins.list[DevboxInfo]:
        """The dev boxes called `name`; else those whose container is called `name`
        (`dev-NAME`: every verb takes the box's name or its container's)."""
        boxes = self.list(host=host)
        return [d for d in boxes if d.name == name] or [d for d in boxes if d.container == name]

    def ssh_command(self, box: DevboxInfo) -> str:
        """How a person on this machine logs in to `box`."""
        monitor = self.ctx.monitors[box.host]
        return f"ssh -p {box.port} dev@{ssh_host(monitor, self.cfg.bind_address)}"

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

    async def stop(self, name: str, *, host: str | None = None, timeout: int = 10) -> DevboxInfo:
        """Stop dev box `name` (it stays stopped: restart policy unless-stopped); its state
        after."""
        return await self._act(
            name, host, "stop", lambda key: self.actions.stop(key, timeout=timeout)
        )

    async def start(self, name: str, *, host: str | None = None) -> DevboxInfo:
        """Start dev box `name` again; its state after (sshd answers shortly after)."""
        return await self._act(name, host, "start", self.actions.start)

    async def _act(
        self, name: str, host: str | None, verb: str, action: Callable[[str], Awaitable[Any]]
    ) -> DevboxInfo:
        box = self.get(name, host=host)
        try:
            await action(box.key)
        except ActionError as exc:
            raise DevboxError(f"could not {verb} dev box {name}: {exc}") from None
        want = "running" if verb == "start" else "exited"
        monitor = self._monitor(box.host)
        client = self._client(monitor)
        data = await monitor.call(client.inspect_container, box.key.split("/", 1)[1])
        state = str((data.get("State") or {}).get("Status", ""))
        self.ctx.log_activity("info", f"dev box {name}: {verb} ({state})", host=box.host,
                              subject=box.key)  # fmt: skip
        if state != want:
            raise DevboxError(f"dev box {name} is {state or 'unknown'} after {verb}")
        return box.model_copy(update={"state": state})

    def ssh_config(self, name: str, *, host: str | None = None) -> str:
        """An OpenSSH client config snippet for dev box `name` (`Host NAME` with HostName,
        Port, User, IdentityFile when known) and its pinned host key line for known_hosts."""
        box = self.get(name, host=host)
        if box.port is None:
            raise DevboxError(f"dev box {name} publishes no SSH port")
        address = ssh_host(self.ctx.monitors[box.host], self.cfg.bind_address)
        known = self._known_hosts()
        return ssh_config_snippet(
            name,
            address,
            box.port,
            user=self.ctx.settings.attach.username,
            identity=remembered(known, box.host, name),
            known_hosts=known,
        )

    def _known_hosts(self) -> Path:
        settings = self.ctx.settings
        return settings.attach.resolved_known_hosts(settings.engine.resolved_state_dir)

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
        found = self._named(name, host)
        if len(found) > 1:
            hosts = ", ".join(d.host for d in found)
            raise DevboxError(f"dev box {name!r} exists on several hosts ({hosts}): name one")
        box = found[0] if found else None
        if box is not None:
            name = box.name  # when given as its container's name
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
        kept = f" (home volume {volume} and its SSH host keys kept)" if keep_home else ""
        if not keep_home:
            for each, role, what in (
                (volume, HOME_ROLE, "home volume"),
                (hostkeys_volume_name(name), HOSTKEYS_ROLE, "SSH host key volume"),
            ):
                try:
                    data = await monitor.call(client.inspect_volume, each)
                except docker.errors.NotFound:
                    data = None
                if data is not None and (data.get("Labels") or {}).get(LABEL_ROLE) != role:
                    kept += f" (volume {each} was not made by clawtui: kept)"
                elif data is not None and await remove_volume(monitor, client, each):
                    done.append(f"{what} {each}")
        if not done:
            raise DevboxError(f"no dev box named {name!r} on host {monitor.name}{kept}")
        if box is not None:
            await asyncio.to_thread(remember, self._known_hosts(), box.host, name, None)
        message = f"dev box {name}: removed " + " and ".join(done) + kept
        self.ctx.log_activity("info", message, host=monitor.name, subject=f"devbox:{name}")
        return message

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
        pids_limit: int | None = None,
        no_limits: bool = False,
        pubkey_file: Path | None = None,
    ) -> DevboxInfo:
        """Create and start dev box `name` with `pubkey_text` as its authorized_keys.

        `memory` and `cpus` default to `[devboxes]`; `port` (default: the lowest free one of
        `port_range`) is the host port of its sshd; `host` defaults to the first online host;
        `sudo` turns passwordless sudo on for `dev`; `env` is added to the configured
        environment (SSH login shells see it); `labels` are added to the container and volume.
        `pids_limit` defaults to `[devboxes] pids_limit`; `no_limits` sets no memory, CPU or
        process limit at all (refused together with any of them). `pubkey_file` is the file
        `pubkey_text` came from: the private key beside it (`K` of `K.pub`), when it exists, is
        remembered for attach and tmux (`sessions.identities`).
        Returns once sshd answers on the port. Any failure after the first Docker change
        removes what this call made (a home volume that existed before is kept).
        """
        say = progress or (lambda _line: None)
        cfg = self.cfg
        validate_name(name)
        keys = validate_public_keys(pubkey_text, strict=cfg.validate_keys)
        if no_limits and (memory is not None or cpus is not None or pids_limit is not None):
            raise DevboxInputError("no_limits cannot be combined with memory, cpus or pids_limit")
        if pids_limit is not None and not 32 <= pids_limit <= 4_194_304:
            raise DevboxInputError(f"invalid pids limit {pids_limit}: use 32-4194304")
        pids = None if no_limits else (cfg.pids_limit if pids_limit is None else pids_limit)
        memory_bytes = None if no_limits else self._memory(memory)
        cpu_count = float(cfg.cpus if cpus is None else cpus)
        if not 0 < cpu_count <= 1024:
            raise DevboxInputError(f"invalid cpus {cpus!r}: give a number above 0, like 2 or 1.5")
        if port is not None and not 1 <= port <= 65535:
            raise DevboxInputError(f"invalid port {port}: use 1-65535")
        environment = self._environment(env, sudo=sudo)
        identity = None if pubkey_file is None else private_key_beside(pubkey_file)
        monitor = self._monitor(host)
        client = self._client(monitor)
        if not no_limits and monitor.info.ncpu and cpu_count > monitor.info.ncpu:
            raise DevboxInputError(
                f"cpus {cpu_count:g} is more than host {monitor.name} has ({monitor.info.ncpu})"
            )
        await check_name_free(monitor, client, name, self.list())
        if port is not None:  # a taken port is reported before anything is made
            await choose_port(monitor, client, cfg, port, set())

        image = await self.ensure_image(host=monitor.name, progress=say)
        uid_label = ((image.get("Config") or {}).get("Labels") or {}).get(LABEL_UID)
        dev_uid = int(uid_label) if isinstance(uid_label, str) and uid_label.isdigit() else None
        dev_uid = DEFAULT_DEV_UID if dev_uid is None else dev_uid

        started = time.monotonic()
        cname, volume = container_name(name), volume_name(name)
        extra_labels = {**cfg.labels, **(labels or {})}
        created_volume = created_keys = False
        cid: str | None = None
        try:
            created_volume = await ensure_volume(monitor, client, name, extra_labels, say)
            created_keys = await ensure_hostkeys_volume(monitor, client, name, extra_labels, say)
            async with self._create_locks.setdefault(monitor.name, asyncio.Lock()):
                cid, port = await create_and_start(
                    monitor, client, cfg, name, keys, dev_uid, port, memory_bytes,
                    None if no_limits else cpu_count, environment, extra_labels, sudo, say, pids,
                )  # fmt: skip
            address = probe_address(monitor, cfg.bind_address)
            say(f"waiting for sshd on {address or 'the container'}:{port}")
            await wait_ready(monitor, client, cid, address, port, cfg.ready_timeout)
            await self._pin_host_key(monitor, client, cid, port, say)
            info = await wait_known(self.ctx, monitor, cid)
            await asyncio.to_thread(remember, self._known_hosts(), monitor.name, name, identity)
        except BaseException as exc:
            await asyncio.shield(undo(monitor, client, cid, volume if created_volume else None))
            if created_keys:
                await asyncio.shield(undo(monitor, client, None, hostkeys_volume_name(name)))
            if isinstance(exc, docker.errors.DockerException):
                raise DevboxError(
                    f"creating dev box {name} failed: {docker_error_text(exc)}"
                ) from None
            raise
        took = time.monotonic() - started
        address = ssh_host(monitor, cfg.bind_address)
        say(f"dev box {name} is ready in {took:.1f}s (sshd on {address}:{port})")
        self.ctx.log_activity(
            "info",
            f"dev box {name} created: {cname}, SSH port {port}, "
            + (
                "no limits"
                if memory_bytes is None
                else f"memory {memory_bytes // (1024 * 1024)} MiB, {cpu_count:g} CPUs, {pids} pids"
            )
            + (", sudo" if sudo else ""),
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

    async def ensure_image(
        self, *, host: str | None = None, progress: Progress | None = None
    ) -> dict[str, Any]:
        """Inspect of the dev-box image on `host`, built first when missing or out of date
        (see `image.ensure_image`)."""
        monitor = self._monitor(host)
        client = self._client(monitor)
        lock = self._build_locks.setdefault(monitor.name, asyncio.Lock())
        say = progress or (lambda _line: None)
        return await ensure_image(monitor, client, self.cfg, lock, say, self.ctx.log_activity)

    async def _pin_host_key(
        self, monitor: HostMonitor, client: Any, cid: str, port: int, say: Progress
    ) -> None:
        """Pin the container's own ed25519 host key (read through the Docker API, a trusted
        channel) into clawtui's known_hosts, so attach checks it (clawtui/terminal/attach.py)."""
        from clawtui.engine.devboxes.hostkey import pin_container_host_key  # asyncssh: late

        known = self._known_hosts()
        address = ssh_host(monitor, self.cfg.bind_address)
        fingerprint = await pin_container_host_key(monitor, client, cid, known, address, port)
        say(f"pinned SSH host key {fingerprint} in {known}")
