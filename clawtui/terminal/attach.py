"""Interactive attach: the local terminal becomes an SSH session running tmux in a container.

`attach(target, session)` opens a checked SSH connection (clawtui/engine/sessions/ssh.py), asks for
a PTY with the local TERM and window size, runs `tmux new-session -A -s SESSION` (attach, or create
then attach), puts the local tty in raw mode and copies bytes both ways until the remote side
ends (detach with prefix d, tmux exits, or the connection drops). SIGWINCH is followed
(`change_terminal_size`). The tty mode is restored on every way out.

Targets for dev boxes come from `devbox_target` (address from `[devboxes] bind_address` / the
Docker host's URL, port from the container's `clawtui.devbox.port` label, clawtui's known_hosts).
Containers without sshd: `container_target` finds any container by name or id, and
`exec_fallback` builds a `docker exec -it` that runs `tmux new-session -A -s SESSION` when the
image has tmux (probed first with a short `docker exec`), else a login shell, with the words that
say which (`ExecFallback.message` / `left`).

This module never imports textual or rich; it is used by the CLI and, suspended, by the TUI.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clawtui.engine.api.ssh import SSHTarget
from clawtui.engine.api.tmux import remote_command, validate_name
from clawtui.engine.sessions import targets
from clawtui.engine.sessions.identities import remembered
from clawtui.terminal.profile import AttachProfile, ProfileHost, as_profile

if TYPE_CHECKING:
    from collections.abc import Callable

    from clawtui.config import HostConfig, Settings

DEFAULT_TERM = "xterm-256color"
_READ_SIZE = 65536


class AttachError(Exception):
    """Attaching cannot start; the message says why and what to do."""


def attach_command(session: str) -> str:
    """The remote command of an attach (session validated first)."""
    return remote_command(["tmux", "new-session", "-A", "-s", validate_name(session)])


def ssh_address(settings: Settings | AttachProfile, host: HostConfig | ProfileHost) -> str:
    """Where this machine reaches the dev boxes' published SSH ports on Docker host `host`."""
    return targets.ssh_address(as_profile(settings).bind_address, host.url, host.is_local)


def target_for(
    settings: Settings | AttachProfile, address: str, port: int, first_identity: Path | None = None
) -> SSHTarget:
    """An `SSHTarget` with `[attach]`'s user, identity and clawtui's known_hosts
    (`first_identity`, the key a dev box was made for, tried first)."""
    cfg = as_profile(settings)
    return targets.ssh_target(
        address,
        port,
        username=cfg.username,
        known_hosts=cfg.known_hosts,
        identity_file=cfg.identity_file,
        use_agent=cfg.use_agent,
        first_identity=first_identity,
    )


def remembered_identity(
    settings: Settings | AttachProfile, host: str, labels: dict[str, str]
) -> Path | None:
    """The private key the dev box with these labels was made with (`dev create --key`), when
    this machine remembers one."""
    from clawtui.engine.api.devbox_checks import LABEL_OWNER, LABEL_ROLE, ROLE

    owner = labels.get(LABEL_OWNER)
    if labels.get(LABEL_ROLE) != ROLE or not owner:
        return None
    return remembered(as_profile(settings).known_hosts, host, owner)


@dataclass(frozen=True)
class DevboxTarget:
    name: str
    host: str
    container_id: str
    running: bool
    port: int | None
    ssh: SSHTarget | None


def devbox_target(
    settings: Settings | AttachProfile, name: str, *, host: str | None = None
) -> DevboxTarget:
    """Find dev box `name` with the Docker API (no engine needed) and say how to reach it."""
    from clawtui.engine.api.devbox_checks import LABEL_OWNER, LABEL_ROLE, ROLE, ssh_port

    profile = as_profile(settings)
    labels_filter = [f"{LABEL_ROLE}={ROLE}", f"{LABEL_OWNER}={name}"]
    answers, problems = _ask_hosts(profile, host, lambda h: _list_containers(h, labels_filter))
    found: list[DevboxTarget] = []
    for hcfg, rows in answers:
        for row in rows if isinstance(rows, list) else []:
            port = ssh_port(row.get("Labels"))
            found.append(
                DevboxTarget(
                    name=name,
                    host=hcfg.name,
                    container_id=str(row.get("Id", "")),
                    running=row.get("State") == "running",
                    port=port,
                    ssh=target_for(
                        profile,
                        ssh_address(profile, hcfg),
                        port,
                        remembered(profile.known_hosts, hcfg.name, name),
                    )
                    if port
                    else None,
                )
            )
    return _only(found, problems, "dev box", name, unknown="dev box", see="`clawtui dev ls`")


def _ask_hosts(
    profile: AttachProfile, only: str | None, ask: Callable[[ProfileHost], Any]
) -> tuple[list[tuple[ProfileHost, Any]], list[str]]:
    """`ask(host)` of each configured Docker host (or just `only`): the answers, and a line
    for each host that failed (any Docker or network error: say which host)."""
    answers: list[tuple[ProfileHost, Any]] = []
    problems: list[str] = []
    for hcfg in profile.hosts:
        if only is not None and hcfg.name != only:
            continue
        try:
            answers.append((hcfg, ask(hcfg)))
        except Exception as exc:
            problems.append(f"{hcfg.name}: {exc}")
    return answers, problems


def _only(
    found: list[DevboxTarget], problems: list[str], kind: str, ref: str, *, unknown: str, see: str
) -> DevboxTarget:
    """The one running container found, or an AttachError saying why there is none."""
    if not found:
        extra = f" (unreachable hosts: {'; '.join(problems)})" if problems else ""
        raise AttachError(f"no {unknown} named {ref!r}{extra}; see {see}")
    if len(found) > 1:
        hosts = ", ".join(t.host for t in found)
        raise AttachError(f"{kind} {ref!r} exists on several hosts ({hosts}): pass --host")
    box = found[0]
    if not box.running:
        raise AttachError(f"{kind} {box.name!r} is not running; start it first")
    return box


def _docker_get(hcfg: ProfileHost, path: str) -> tuple[int, bytes]:
    """`GET /v1.41<path>` on a local Docker socket with the standard library (the attach path
    stays light): the status and up to 16 MiB of the body."""
    import http.client
    import socket

    class _UnixConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(hcfg.timeout)
            sock.connect(hcfg.url[len("unix://") :])
            self.sock = sock

    conn = _UnixConnection("localhost", timeout=hcfg.timeout)
    try:
        conn.request("GET", f"/v1.41{path}")
        response = conn.getresponse()
        return response.status, response.read(16 << 20)
    finally:
        conn.close()


def _list_containers(hcfg: ProfileHost, labels: list[str]) -> Any:
    """`GET /containers/json?all=1` filtered by labels (other hosts than local sockets go
    through the Docker SDK)."""
    if hcfg.is_local:
        import json
        from urllib.parse import quote

        query = quote(json.dumps({"label": labels}))
        status, body = _docker_get(hcfg, f"/containers/json?all=1&filters={query}")
        if status != 200:
            raise OSError(f"Docker answered {status}: {body[:200]!r}")
        return json.loads(body)
    from docker.api.client import APIClient

    client = APIClient(base_url=hcfg.url, version="auto", timeout=hcfg.timeout)
    try:
        return client.containers(all=True, filters={"label": labels})
    finally:
        client.close()


def _window_size(fd: int) -> tuple[int, int]:
    try:
        size = os.get_terminal_size(fd)
        return size.columns, size.lines
    except OSError:
        return 80, 24


async def attach(
    target: SSHTarget,
    session: str,
    *,
    stdin_fd: int | None = None,
    stdout_fd: int | None = None,
    term: str | None = None,
) -> int:
    """Attach the local terminal to tmux session `session` over SSH; return the exit status.

    Raises `SSHFailure` (host key, auth, network) before the terminal is touched.
    """
    import termios
    import tty

    import asyncssh

    from clawtui.engine.sessions.ssh import connect

    command = attach_command(session)
    in_fd = sys.stdin.fileno() if stdin_fd is None else stdin_fd
    out_fd = sys.stdout.fileno() if stdout_fd is None else stdout_fd
    term_type = term or os.environ.get("TERM") or DEFAULT_TERM
    cols, rows = _window_size(out_fd)
    conn = await connect(target)
    loop = asyncio.get_running_loop()
    done: asyncio.Future[int] = loop.create_future()

    class _Session(asyncssh.SSHClientSession[bytes]):
        def data_received(self, data: bytes, datatype: Any) -> None:
            view = memoryview(data)
            while view:
                try:
                    n = os.write(out_fd, view)
                except BlockingIOError:
                    continue
                view = view[n:]

        def connection_lost(self, exc: Exception | None) -> None:
            if not done.done():
                done.set_result(-1 if exc is not None else 0)

        def exit_status_received(self, status: int) -> None:
            if not done.done():
                done.set_result(status)

    is_tty = os.isatty(in_fd)
    saved = termios.tcgetattr(in_fd) if is_tty else None
    try:
        chan, _ = await conn.create_session(
            _Session,
            command,
            term_type=term_type,
            term_size=(cols, rows),
            encoding=None,
        )

        def on_input() -> None:
            try:
                data = os.read(in_fd, _READ_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            if not data:
                loop.remove_reader(in_fd)
                chan.write_eof()
                return
            chan.write(data)

        def on_resize() -> None:
            c, r = _window_size(out_fd)
            with contextlib.suppress(Exception):
                chan.change_terminal_size(c, r)

        if is_tty:
            tty.setraw(in_fd, termios.TCSANOW)
        loop.add_reader(in_fd, on_input)
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGWINCH, on_resize)
        try:
            status = await done
        finally:
            loop.remove_reader(in_fd)
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signal.SIGWINCH)
        return status
    finally:
        if saved is not None:
            termios.tcsetattr(in_fd, termios.TCSADRAIN, saved)
        conn.close()
        with contextlib.suppress(Exception):
            await conn.wait_closed()


def docker_exec_fallback_argv(
    container: str, session: str, docker_bin: str = "docker"
) -> list[str]:
    """`docker exec -it` into `container`: tmux (new-session -A) if installed, else a login shell.

    The script prints which one it starts before starting it.
    """
    validate_name(session)
    script = (
        "if command -v tmux >/dev/null 2>&1; then "
        "echo 'clawtui: no sshd; attaching through docker exec into tmux' >&2; "
        f"exec tmux new-session -A -s {session}; "
        "fi; echo 'clawtui: no sshd and no tmux; opening a login shell through docker exec' >&2; "
        "if command -v bash >/dev/null 2>&1; then exec bash -l; fi; exec sh -l"
    )
    term = os.environ.get("TERM") or DEFAULT_TERM
    return [docker_bin, "exec", "-it", "-e", f"TERM={term}", container, "sh", "-c", script]


def container_target(
    settings: Settings | AttachProfile, ref: str, *, host: str | None = None
) -> DevboxTarget:
    """Find any container by name or id on the configured hosts (Docker API, no engine).

    Its SSH target is set when it publishes its sshd port in a label of `SSH_PORT_LABELS`.
    """
    from clawtui.engine.api.devbox_checks import ssh_port

    if not ref or len(ref) > 256 or "/" in ref or any(ch.isspace() for ch in ref):
        raise AttachError(f"invalid container name or id {ref[:80]!r}")
    profile = as_profile(settings)
    answers, problems = _ask_hosts(profile, host, lambda h: _inspect_container(h, ref))
    found: list[DevboxTarget] = []
    for hcfg, row in answers:
        if not isinstance(row, dict):
            continue
        config = row.get("Config") or {}
        port = ssh_port(config.get("Labels") if isinstance(config, dict) else None)
        state = row.get("State") or {}
        found.append(
            DevboxTarget(
                name=str(row.get("Name", ref)).lstrip("/") or ref,
                host=hcfg.name,
                container_id=str(row.get("Id", "")),
                running=isinstance(state, dict) and state.get("Running") is True,
                port=port,
                ssh=target_for(profile, ssh_address(profile, hcfg), port) if port else None,
            )
        )
    return _only(
        found,
        problems,
        "container",
        ref,
        unknown="dev box or container",
        see="`clawtui dev ls` or `docker ps`",
    )


def _inspect_container(hcfg: ProfileHost, ref: str) -> dict[str, Any] | None:
    """`GET /containers/{ref}/json`, or None when no such container (404)."""
    if hcfg.is_local:
        import json
        from urllib.parse import quote

        status, body = _docker_get(hcfg, f"/containers/{quote(ref, safe='')}/json")
        if status == 404:
            return None
        if status != 200:
            raise OSError(f"Docker answered {status}: {body[:200]!r}")
        data = json.loads(body)
        return data if isinstance(data, dict) else None
    from docker.api.client import APIClient
    from docker.errors import NotFound

    client = APIClient(base_url=hcfg.url, version="auto", timeout=hcfg.timeout)
    try:
        data = client.inspect_container(ref)
        return data if isinstance(data, dict) else None
    except NotFound:
        return None
    finally:
        client.close()


_LOGIN_SHELL = "if command -v bash >/dev/null 2>&1; then exec bash -l; fi; exec sh -l"
PROBE_TIMEOUT = 15.0


@dataclass(frozen=True)
class ExecFallback:
    """A `docker exec -it` session for a container without sshd, and how to say what it is."""

    argv: list[str]
    uses_tmux: bool
    container: str
    session: str

    @property
    def message(self) -> str:
        """Said before it starts."""
        if self.uses_tmux:
            return (
                f"clawtui: {self.container} has no sshd; attaching to tmux session "
                f"{self.session} through docker exec (detach with prefix d)"
            )
        return (
            f"clawtui: {self.container} has no sshd and no tmux; opening a login shell through "
            "docker exec (it ends when you exit; nothing keeps running)"
        )

    def left(self, code: int) -> str:
        """Said after it ended."""
        if self.uses_tmux:
            return f"clawtui: left tmux session {self.session} in {self.container} (docker exec)"
        return f"clawtui: left the login shell in {self.container} (docker exec, exit {code})"


def docker_cli(settings: Settings, host: str, docker_bin: str) -> list[str]:
    """`docker` (and `-H URL` for a non-local Docker host) for the container's host."""
    hcfg = settings.host(host)
    if hcfg is None:
        raise AttachError(f"unknown Docker host {host!r}")
    return [docker_bin] if hcfg.is_local else [docker_bin, "-H", hcfg.url]


def exec_fallback(docker: list[str], container_id: str, name: str, session: str) -> ExecFallback:
    """Probe the container for tmux (a short `docker exec`), and build the interactive exec."""
    import subprocess

    validate_name(session)
    try:
        probe = subprocess.run(
            [*docker, "exec", container_id, "sh", "-c", "command -v tmux"],
            capture_output=True,
            timeout=PROBE_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AttachError(f"docker exec into {name} failed: {exc}") from exc
    if probe.returncode not in (0, 1, 127):
        err = probe.stderr.decode(errors="replace").strip()[:300]
        raise AttachError(f"docker exec into {name} failed: {err or probe.returncode}")
    uses_tmux = probe.returncode == 0 and bool(probe.stdout.strip())
    term = os.environ.get("TERM") or DEFAULT_TERM
    base = [*docker, "exec", "-it", "-e", f"TERM={term}", container_id]
    if uses_tmux:
        argv = [*base, "tmux", "new-session", "-A", "-s", session]
    else:
        argv = [*base, "sh", "-c", _LOGIN_SHELL]
    return ExecFallback(argv, uses_tmux, name, session)


def state_known_hosts(settings: Settings) -> Path:
    return settings.attach.resolved_known_hosts(settings.engine.resolved_state_dir)
