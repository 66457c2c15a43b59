"""Attach from the TUI: suspend the app, run the SSH/tmux attach, come back where we were.

`attach_container(app, settings, info)` works for containers with a published sshd (dev boxes:
label `clawtui.devbox.port`) on a Docker host of this machine's config: the address is the one
`clawtui attach` uses, the host key is checked against clawtui's known_hosts. The attach runs
on its own event loop in a worker thread while the TUI's loop waits (the app is suspended, so
nothing is drawn); afterwards the app resumes on the same screen, panel and selection.

Over `--connect` (RemoteEngine) the containers live on the service's Docker hosts: attaching
works when this machine can reach the published SSH port (`[devboxes] bind_address` not
loopback on that host, and the host listed in the local config's [[hosts]] with its URL);
otherwise a clear message says why it cannot.

Containers without sshd fall back to `docker exec -it` (tmux if the image has it, else a login
shell; a line says which, and the notification afterwards too), with the `docker` CLI (`-H URL`
for a Docker host that is not local).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import threading
from typing import TYPE_CHECKING

from clawtui.engine.api.devbox_checks import ssh_port
from clawtui.engine.api.ssh import SSHFailure, SSHTarget
from clawtui.engine.api.tmux import TmuxError, validate_name
from clawtui.terminal.attach import (
    AttachError,
    docker_cli,
    exec_fallback,
    remembered_identity,
    ssh_address,
    target_for,
)

if TYPE_CHECKING:
    from textual.app import App

    from clawtui.config import Settings
    from clawtui.engine.api.models import ContainerInfo


def ssh_target_of(settings: Settings, info: ContainerInfo) -> SSHTarget | None:
    """How to reach `info`'s sshd from here, or None when it publishes none."""
    port = ssh_port(info.labels)
    if port is None:
        return None
    host = settings.host(info.host)
    if host is None:
        raise AttachError(
            f"Docker host {info.host!r} is not in this machine's config, so its SSH address is "
            "unknown here: add it to [[hosts]] (with its URL), or attach from that machine"
        )
    identity = remembered_identity(settings, info.host, dict(info.labels))
    return target_for(settings, ssh_address(settings, host), port, identity)


def _run_in_thread(target: SSHTarget, session: str) -> int:
    from clawtui.terminal.attach import attach

    outcome: list[int | BaseException] = []

    def run() -> None:
        try:
            outcome.append(asyncio.run(attach(target, session)))
        except BaseException as exc:  # handed back to the caller's thread
            outcome.append(exc)

    thread = threading.Thread(target=run, name="clawtui-attach", daemon=True)
    thread.start()
    thread.join()
    result = outcome[0] if outcome else -1
    if isinstance(result, BaseException):
        raise result
    return result


def attach_container(
    app: App[object], settings: Settings, info: ContainerInfo, session: str | None = None
) -> str:
    """Attach to `info` with the app suspended; return a one-line outcome for a notification.

    Raises `AttachError` / `SSHFailure` / `TmuxError` with a message for the person.
    """
    name = validate_name(session or settings.attach.session)
    if info.state != "running":
        raise AttachError(f"{info.name} is not running; start it first (s)")
    target = ssh_target_of(settings, info)
    if target is not None:
        with app.suspend():
            status = _run_in_thread(target, name)
        if status == -1:
            return f"connection to {info.name} lost; press Enter to attach again"
        return f"left tmux session {name} in {info.name}"
    docker_bin = shutil.which("docker")
    host = settings.host(info.host)
    if docker_bin is None or host is None:
        raise AttachError(
            f"{info.name} publishes no SSH port, and docker exec needs the docker CLI and the "
            "container's Docker host in this machine's config"
        )
    plan = exec_fallback(docker_cli(settings, info.host, docker_bin), info.id, info.name, name)
    with app.suspend():
        print(plan.message, file=sys.stderr, flush=True)
        code = subprocess.call(plan.argv, stdin=sys.stdin, stdout=sys.stdout, stderr=sys.stderr)
    return plan.left(code).removeprefix("clawtui: ")


ATTACH_ERRORS = (AttachError, SSHFailure, TmuxError)


def attach_and_tell(app: App[object], settings: Settings, info: ContainerInfo) -> bool:
    """`attach_container`, with the outcome (or the reason it could not) as a notification.

    True when an attach ran (the caller may restore focus), False when it could not start.
    """
    try:
        outcome = attach_container(app, settings, info)
    except ATTACH_ERRORS as exc:
        app.notify(str(exc), title="Attach", severity="error", timeout=15, markup=False)
        return False
    app.notify(outcome, title="Attach", markup=False)
    return True
