"""`clawtui attach`, `clawtui tmux ...`, `clawtui ssh trust`: tmux in dev boxes over SSH.

    clawtui attach NAME [--session S] [--host H]
    clawtui tmux ls NAME [--json]
    clawtui tmux run NAME [--session S] [--window W] [--cwd DIR] -- COMMAND...
    clawtui tmux send NAME [--session S] [--window W] [--keys] TEXT...
    clawtui tmux broadcast NAME... --line TEXT [--session S]
    clawtui ssh trust HOST[:PORT] --fingerprint SHA256:...

These do not start an engine: the dev box is found with the Docker API, the SSH connection is
checked against clawtui's known_hosts (`[attach] known_hosts`). Names are validated before
anything runs. Exit codes: 0 ok, 2 bad input, 1 failure (host key, auth, network, tmux).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from clawtui.cli._common import (
    EXIT_FAIL,
    EXIT_OK,
    CommandError,
    UsageError,
    error,
    print_json,
    report,
)

if TYPE_CHECKING:
    from clawtui.config import Settings
    from clawtui.engine.api.ssh import SSHTarget
    from clawtui.terminal.attach import DevboxTarget
    from clawtui.terminal.profile import AttachProfile

_R = TypeVar("_R")
_HOSTPORT_RE = re.compile(r"^\[([^\]]+)\]:(\d{1,5})$|^([^:\[\]\s]+)(?::(\d{1,5}))?$")


def register(sub: Any, add_config: Callable[[argparse.ArgumentParser], None]) -> None:
    attach = sub.add_parser(
        "attach",
        help="attach this terminal to a tmux session in a dev box (over SSH)",
        description="Attach to tmux session S (default [attach] session) in dev box NAME; "
        "detach with the tmux prefix then d. NAME may also be any container's name or id: "
        "without sshd, attach uses docker exec into tmux (or a login shell without tmux).",
    )
    _attach_arguments(attach, add_config)
    attach.set_defaults(handler=cmd_attach)

    tmux = sub.add_parser("tmux", help="tmux sessions in dev boxes: list, run, send, broadcast")
    add_config(tmux)
    verbs = tmux.add_subparsers(dest="tmux_command", metavar="ACTION", required=True)

    def verb(name: str, handler: Callable[[argparse.Namespace, Settings], int], help: str) -> Any:
        parser = verbs.add_parser(name, help=help, description=help)
        add_config(parser)
        parser.add_argument("--host", help="Docker host, when a name is on several")
        parser.set_defaults(handler=handler)
        return parser

    ls = verb("ls", cmd_tmux_ls, "list a dev box's tmux sessions and windows")
    ls.add_argument("name", metavar="NAME")
    ls.add_argument("--json", action="store_true", help="print JSON")

    run = verb("run", cmd_tmux_run, "start COMMAND in a new tmux window")
    run.add_argument("name", metavar="NAME")
    run.add_argument("--session", "-s", help="tmux session (created when missing)")
    run.add_argument("--window", "-w", help="name of the new window")
    run.add_argument("--cwd", help="working directory of the window, e.g. ~/repos/x")
    run.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND...")

    send = verb("send", cmd_tmux_send, "type a line (or --keys: tmux key names) into a session")
    send.add_argument("name", metavar="NAME")
    send.add_argument("--session", "-s")
    send.add_argument("--window", "-w")
    send.add_argument("--keys", action="store_true", help="send tmux key names, no Enter")
    send.add_argument("text", nargs="+", metavar="TEXT")

    bc = verb("broadcast", cmd_tmux_broadcast, "type one line into the session of several boxes")
    bc.add_argument("names", nargs="+", metavar="NAME")
    bc.add_argument("--line", required=True, help="the line to type (Enter follows)")
    bc.add_argument("--session", "-s")

    ssh = sub.add_parser("ssh", help="SSH host keys clawtui trusts")
    add_config(ssh)
    ssh_verbs = ssh.add_subparsers(dest="ssh_command", metavar="ACTION", required=True)
    trust = ssh_verbs.add_parser(
        "trust",
        help="trust a host's key after checking its fingerprint",
        description="Fetch HOST's key, compare it with --fingerprint, and pin it in clawtui's "
        "known_hosts. Nothing is trusted when the fingerprints differ.",
    )
    add_config(trust)
    trust.add_argument("hostport", metavar="HOST[:PORT]", help="host, host:port or [host]:port")
    trust.add_argument("--fingerprint", required=True, help="SHA256:... as shown by the refusal")
    trust.set_defaults(handler=cmd_ssh_trust)


def _attach_arguments(
    parser: argparse.ArgumentParser, add_config: Callable[[argparse.ArgumentParser], None]
) -> None:
    add_config(parser)
    parser.add_argument("name", metavar="NAME", help="dev box name, or container name or id")
    parser.add_argument("--session", "-s", help="tmux session name (created when missing)")
    parser.add_argument("--host", help="Docker host, when the name is on several")


def _session(args: argparse.Namespace, settings: Settings) -> str:
    from clawtui.engine.api.tmux import validate_name

    return validate_name(settings.attach.session if args.session is None else args.session)


def _resolve(settings: Settings | AttachProfile, name: str, host: str | None) -> DevboxTarget:
    from clawtui.engine.api.devbox_checks import validate_name as validate_box
    from clawtui.terminal.attach import AttachError, devbox_target

    try:
        validate_box(name)
    except Exception as exc:
        raise UsageError(str(exc)) from None
    try:
        box = devbox_target(settings, name, host=host)
    except AttachError as exc:  # `dev-NAME`, the container's name: the box NAME
        if not (name.startswith("dev-") and str(exc).startswith("no dev box named")):
            raise
        box = devbox_target(settings, name.removeprefix("dev-"), host=host)
    if box.ssh is None:
        raise AttachError(f"dev box {name!r} publishes no SSH port (label clawtui.devbox.port)")
    return box


def _guard(fn: Callable[[], _R]) -> _R | int:
    from clawtui.engine.api.ssh import SSHFailure
    from clawtui.engine.api.tmux import InvalidName, TmuxError
    from clawtui.terminal.attach import AttachError

    try:
        return fn()
    except CommandError as exc:
        return report(exc)
    except InvalidName as exc:
        return report(UsageError(exc))
    except (AttachError, SSHFailure, TmuxError) as exc:
        return report(exc)


# -- attach -----------------------------------------------------------------------------------
def cmd_attach(args: argparse.Namespace, settings: Settings) -> int:
    from clawtui.terminal import profile as attach_profile

    profile = attach_profile.AttachProfile.from_settings(settings)
    if not settings.warnings:  # else the fast path would skip the warning next time
        attach_profile.store(getattr(args, "profile_key", None), profile)

    def go() -> int:
        session = _session(args, settings)
        box = _attach_target(settings, args.name, args.host)
        if box.ssh is None:
            return run_exec_fallback(settings, box, session)
        return run_attach(box, session)

    return _guard(go)


class _NotFast(Exception):
    """The fast path cannot decide: the full command line handling takes over."""


class _FastParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _NotFast(message)


def attach_fast(
    words: list[str], add_config: Callable[[argparse.ArgumentParser], None]
) -> int | None:
    """`clawtui attach` without loading the configuration, when the cached attach profile
    matches the files and environment in effect (terminal/profile.py).

    None means "take the normal path": no cache or another key, `--help`, a usage error, a
    config file that cannot be found, or no dev box of that name (the normal path says why).
    """
    from clawtui.fsutil import locate_config
    from clawtui.terminal import profile as attach_profile

    if any(w in ("-h", "--help") for w in words):
        return None
    parser = _FastParser(prog="clawtui attach", add_help=False)
    _attach_arguments(parser, add_config)
    try:
        args = parser.parse_args(words)
        config = locate_config(getattr(args, "config", None))
    except (_NotFast, OSError):
        return None
    profile = attach_profile.load(attach_profile.profile_key(config))
    if profile is None:
        return None

    def go() -> int | None:
        from clawtui.engine.api.tmux import validate_name
        from clawtui.terminal.attach import AttachError

        session = validate_name(profile.session if args.session is None else args.session)
        try:
            box = _resolve(profile, args.name, args.host)
        except (AttachError, UsageError):  # not a dev box with sshd: the normal path decides
            return None
        return run_attach(box, session)

    return _guard(go)


def _attach_target(settings: Settings, name: str, host: str | None) -> DevboxTarget:
    """Dev box `name`; else any container called (or with id) `name`."""
    from clawtui.engine.api.devbox_checks import validate_name as validate_box
    from clawtui.terminal.attach import AttachError, container_target, devbox_target

    try:
        validate_box(name)
    except Exception:  # not a dev box name: maybe a container's
        return container_target(settings, name, host=host)
    try:
        return devbox_target(settings, name, host=host)
    except AttachError as exc:
        if not str(exc).startswith("no dev box named"):
            raise
        return container_target(settings, name, host=host)


def run_exec_fallback(settings: Settings, box: DevboxTarget, session: str) -> int:
    """No sshd: `docker exec -it` into tmux when the image has it, else a login shell."""
    import shutil
    import subprocess

    from clawtui.terminal.attach import AttachError, docker_cli, exec_fallback

    docker_bin = shutil.which("docker")
    if docker_bin is None:
        raise AttachError(
            f"{box.name} publishes no SSH port, and the docker CLI needed for docker exec is "
            "not installed here (install docker, or give the container an sshd)"
        )
    plan = exec_fallback(docker_cli(settings, box.host, docker_bin), box.container_id,
                         box.name, session)  # fmt: skip
    print(plan.message, file=sys.stderr, flush=True)
    code = subprocess.call(plan.argv)
    print(plan.left(code), file=sys.stderr)
    return EXIT_OK if plan.uses_tmux or code in (0, 130) else EXIT_FAIL


def run_attach(box: DevboxTarget, session: str) -> int:
    """Attach to `box` (blocking; the caller's terminal is used); print how it ended."""
    from clawtui.terminal.attach import attach

    assert box.ssh is not None
    status = asyncio.run(attach(box.ssh, session))
    if status == -1:
        error(f"connection to dev box {box.name} lost; run `clawtui attach {box.name}` again")
        return EXIT_FAIL
    print(f"clawtui: left tmux session {session} in dev box {box.name}", file=sys.stderr)
    return EXIT_OK


# -- tmux -------------------------------------------------------------------------------------
def _ssh(box: DevboxTarget) -> SSHTarget:
    assert box.ssh is not None
    return box.ssh


def cmd_tmux_ls(args: argparse.Namespace, settings: Settings) -> int:
    from clawtui.terminal import tmux_ssh

    def go() -> int:
        box = _resolve(settings, args.name, args.host)
        sessions, windows = asyncio.run(tmux_ssh.listing(_ssh(box)))
        if args.json:
            print_json({
                "sessions": [vars(s) for s in sessions],
                "windows": [vars(w) for w in windows],
            })  # fmt: skip
            return EXIT_OK
        if not sessions:
            print(f"no tmux sessions in dev box {box.name}")
        for s in sessions:
            print(f"{s.name}\t{s.windows} windows\t{s.attached} attached")
            for w in windows:
                if w.session == s.name:
                    mark = "*" if w.active else " "
                    print(f"  {mark}{w.index}:{w.name}\t{w.command}")
        return EXIT_OK

    return _guard(go)


_RUN_OPTIONS = argparse.ArgumentParser(prog="clawtui tmux run", add_help=False, exit_on_error=False)
_RUN_OPTIONS.add_argument("--session", "-s")
_RUN_OPTIONS.add_argument("--window", "-w")
_RUN_OPTIONS.add_argument("--cwd")
_RUN_OPTIONS.add_argument("--host")
_RUN_OPTIONS.add_argument("--config", type=Path)


def cmd_tmux_run(args: argparse.Namespace, settings: Settings) -> int:
    from clawtui.engine.api import tmux
    from clawtui.terminal import tmux_ssh

    def go() -> int:
        command = list(args.command)
        if "--" in command:  # options given after NAME land in the remainder: parse them
            cut = command.index("--")
            before, command = command[:cut], command[cut + 1 :]
            if before:
                try:
                    late = _RUN_OPTIONS.parse_args(before)
                except SystemExit:
                    raise UsageError(f"unknown options before --: {' '.join(before)}") from None
                for key in ("session", "window", "cwd", "host"):
                    if getattr(late, key) is not None:
                        setattr(args, key, getattr(late, key))
                if late.config is not None:
                    from clawtui.config import ConfigError, find_config, load_settings

                    try:
                        cfg = load_settings(find_config(late.config))
                    except ConfigError as exc:
                        raise UsageError(str(exc)) from None
                    return run_with(cfg, command)
        return run_with(settings, command)

    def run_with(settings: Settings, command: list[str]) -> int:
        if not command:
            raise UsageError("give the command after --, e.g. clawtui tmux run NAME -- htop")
        session = _session(args, settings)
        window = tmux.validate_name(args.window, "window") if args.window is not None else None
        tmux.run_argv(session, command, window=window, cwd=args.cwd)  # validates before SSH
        box = _resolve(settings, args.name, args.host)
        asyncio.run(tmux_ssh.run_in_window(
            _ssh(box), session, command, window=window, cwd=args.cwd))  # fmt: skip
        print(f"started in dev box {box.name}, tmux session {session}: {' '.join(command)}")
        return EXIT_OK

    return _guard(go)


def cmd_tmux_send(args: argparse.Namespace, settings: Settings) -> int:
    from clawtui.engine.api import tmux
    from clawtui.terminal import tmux_ssh

    def go() -> int:
        session = _session(args, settings)
        window = tmux.validate_name(args.window, "window") if args.window is not None else None
        tmux.send_argv(session, args.text, line=not args.keys, window=window)
        box = _resolve(settings, args.name, args.host)
        asyncio.run(tmux_ssh.send(
            _ssh(box), session, args.text, line=not args.keys, window=window))  # fmt: skip
        return EXIT_OK

    return _guard(go)


def cmd_tmux_broadcast(args: argparse.Namespace, settings: Settings) -> int:
    from clawtui.engine.api import tmux
    from clawtui.terminal import tmux_ssh

    def go() -> int:
        session = _session(args, settings)
        tmux.send_argv(session, [args.line], line=True)
        boxes = [_resolve(settings, name, args.host) for name in args.names]

        async def one(box: DevboxTarget) -> str | None:
            try:
                await tmux_ssh.send(_ssh(box), session, [args.line], line=True)
            except Exception as exc:  # reported per box; the others still get the line
                return f"{box.name}: {exc}"
            return None

        async def all_() -> list[str | None]:
            return list(await asyncio.gather(*(one(b) for b in boxes)))

        failures = [f for f in asyncio.run(all_()) if f]
        for failure in failures:
            error(failure)
        print(f"sent to {len(boxes) - len(failures)} of {len(boxes)} dev boxes")
        return EXIT_FAIL if failures else EXIT_OK

    return _guard(go)


# -- ssh trust --------------------------------------------------------------------------------
def parse_hostport(text: str) -> tuple[str, int]:
    match = _HOSTPORT_RE.fullmatch(text.strip())
    if match is None:
        raise UsageError(f"invalid HOST[:PORT] {text!r}: write host, host:port or [host]:port")
    host = match[1] or match[3]
    port = int(match[2] or match[4] or 22)
    if not 1 <= port <= 65535:
        raise UsageError(f"invalid port {port}: use 1-65535")
    return host, port


def cmd_ssh_trust(args: argparse.Namespace, settings: Settings) -> int:
    def go() -> int:
        from clawtui.terminal.attach import target_for
        from clawtui.terminal.tmux_ssh import trust_host_key

        host, port = parse_hostport(args.hostport)
        if not re.fullmatch(r"SHA256:[A-Za-z0-9+/]{43}=?", args.fingerprint):
            raise UsageError(
                f"invalid fingerprint {args.fingerprint!r}: give SHA256:... as printed by "
                "the refusal message"
            )
        target = target_for(settings, host, port)
        asyncio.run(trust_host_key(target, args.fingerprint))
        print(f"trusted {target.display} ({args.fingerprint}) in {target.known_hosts}")
        return EXIT_OK

    return _guard(go)
