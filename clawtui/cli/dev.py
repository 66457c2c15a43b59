"""`clawtui dev ...`: dev boxes from the command line (the seed's provisioning script and
coordinator verbs, done by the engine).

    clawtui dev create NAME --key PUBKEY_FILE [--memory 2g] [--cpus 2] [--pids-limit N]
                       [--no-limits] [--port N] [--host H] [--sudo]
    clawtui dev rm NAME [--keep-home] [--host H]
    clawtui dev stop NAME | start NAME | ssh-config NAME   [--host H]
    clawtui dev ls [--json]
    clawtui dev status [--json] | count [--running] | stop-all [--yes]
    clawtui dev logs NAME [-f] [--tail N]

Each command runs a local engine for its duration (start, wait for the hosts, act, stop), so it
sees and changes exactly what the TUI and the service would. Progress goes to stderr, results to
stdout. Errors are one line: exit 2 for bad input (nothing was touched), 1 for everything else.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clawtui.cli._common import (
    EXIT_FAIL,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    format_table,
    print_json,
    report,
)
from clawtui.config import Settings

if TYPE_CHECKING:
    from clawtui.engine.core import Engine

_PREFIX = "clawtui dev"
_MAX_KEY_FILE = 64 * 1024


def register(sub: Any, add_config: Callable[[argparse.ArgumentParser], None]) -> None:
    dev = sub.add_parser("dev", help="dev containers: one per developer, SSH into tmux")
    add_config(dev)
    verbs = dev.add_subparsers(dest="dev_command", metavar="ACTION", required=True)

    def verb(name: str, handler: Callable[[argparse.Namespace, Settings], int], help: str) -> Any:
        parser = verbs.add_parser(name, help=help, description=help)
        add_config(parser)
        parser.set_defaults(handler=handler)
        return parser

    create = verb("create", cmd_create, "create a dev box and wait until its sshd answers")
    create.add_argument("name", metavar="NAME", help="dev box name (container dev-NAME)")
    create.add_argument(
        "--key", required=True, metavar="PUBKEY_FILE", help="OpenSSH public key file ('-': stdin)"
    )
    create.add_argument("--memory", help="memory limit, e.g. 2g (default from [devboxes])")
    create.add_argument("--cpus", type=float, help="CPU limit, e.g. 2 or 1.5")
    create.add_argument("--port", type=int, help="host port for SSH (default: first free)")
    create.add_argument("--host", help="Docker host (default: the first online host)")
    create.add_argument("--sudo", action="store_true", help="give `dev` passwordless sudo")
    create.add_argument(
        "--pids-limit", type=int, metavar="N", help="most processes (default from [devboxes])"
    )
    create.add_argument(
        "--no-limits", action="store_true", help="no memory, CPU or process limit at all"
    )

    ssh_config = verb("ssh-config", cmd_ssh_config, "print the dev box's OpenSSH config snippet")
    ssh_config.add_argument("name", metavar="NAME")
    ssh_config.add_argument("--host", help="the box's Docker host, when the name is on several")

    for name, handler, text in (
        ("stop", cmd_stop, "stop a dev box (it stays stopped until `start`)"),
        ("start", cmd_start, "start a stopped dev box"),
    ):
        one = verb(name, handler, text)
        one.add_argument("name", metavar="NAME")
        one.add_argument("--host", help="the box's Docker host, when the name is on several")

    rm = verb("rm", cmd_rm, "remove a dev box (and its home volume unless --keep-home)")
    rm.add_argument("name", metavar="NAME")
    rm.add_argument("--keep-home", action="store_true", help="keep /home/dev for a later create")
    rm.add_argument("--host", help="the box's Docker host, when the name is on several")

    ls = verb("ls", cmd_ls, "list dev boxes")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")

    status = verb("status", cmd_status, "summary: running, stopped, memory limits")
    status.add_argument("--json", action="store_true", help="print JSON")

    count = verb("count", cmd_count, "print how many dev boxes exist")
    count.add_argument("--running", action="store_true", help="count running ones only")

    stop_all = verb("stop-all", cmd_stop_all, "stop every running dev box (asks first)")
    stop_all.add_argument("-y", "--yes", action="store_true", help="do not ask")

    logs = verb("logs", cmd_logs, "print a dev box's container log")
    logs.add_argument("name", metavar="NAME")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("--tail", type=int, default=100, help="lines from the end (default 100)")
    logs.add_argument("--host", help="the box's Docker host, when the name is on several")


# -- running an engine for one command --------------------------------------------------------
async def _hosts_answered(engine: Engine, timeout: float) -> None:
    """Wait until every host has answered once (online or offline)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(h.state.value != "connecting" for h in engine.hosts()):
            return
        await asyncio.sleep(0.05)


def _run(settings: Settings, action: Callable[[Engine], Awaitable[int]]) -> int:
    from clawtui.engine.api.devbox_checks import DevboxError, DevboxInputError
    from clawtui.engine.api.fleet import ActionError
    from clawtui.engine.core import Engine

    async def main() -> int:
        engine = Engine(settings)
        await engine.start()
        try:
            await _hosts_answered(engine, max(h.timeout for h in settings.hosts) + 2)
            return await action(engine)
        finally:
            await engine.stop()

    try:
        return asyncio.run(main())
    except (UsageError, DevboxInputError) as exc:
        return _report(exc, EXIT_USAGE)
    except (DevboxError, ActionError) as exc:
        return _report(exc)
    except Exception as exc:  # Docker unreachable, disk full...: one line, never a traceback
        return _report(f"{exc.__class__.__name__}: {exc}")


def _report(problem: BaseException | str, code: int | None = None) -> int:
    """`clawtui dev: ...`, details (e.g. a failed container's last output) indented below."""
    return report(problem, _PREFIX, code=code, indent_details=True)


def _progress(line: str) -> None:
    print(f"  {line}", file=sys.stderr, flush=True)


def _read_key(path_text: str) -> str:
    try:
        if path_text == "-":
            data = sys.stdin.buffer.read(_MAX_KEY_FILE + 1)
        else:
            with Path(path_text).expanduser().open("rb") as fh:
                data = fh.read(_MAX_KEY_FILE + 1)
    except OSError as exc:
        raise UsageError(f"cannot read the key file {path_text}: {exc.strerror or exc}") from None
    if len(data) > _MAX_KEY_FILE:
        raise UsageError(f"the key file {path_text} is larger than 64 KiB: not a public key")
    return data.decode("utf-8", "replace")


DEFAULT_IDENTITIES = ("id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk")
"""The private keys OpenSSH offers without `-i` (ssh(1), -i)."""


def ssh_command_with_key(command: str, pubkey_path: str, home: Path | None = None) -> str:
    """`command` (`ssh -p PORT dev@HOST`) with `-i KEY` when the private half of the public
    key file given to `dev create` is not one OpenSSH offers by itself."""
    if pubkey_path == "-" or not pubkey_path.endswith(".pub") or not command.startswith("ssh "):
        return command
    private = Path(pubkey_path[: -len(".pub")]).expanduser()
    ssh_dir = (home or Path.home()) / ".ssh"
    if not private.is_file() or any(private == ssh_dir / name for name in DEFAULT_IDENTITIES):
        return command
    return f"ssh -i {shlex.quote(str(private.absolute()))} {command[len('ssh ') :]}"


def _size(size: int) -> str:
    if size <= 0:
        return "-"
    gib = size / (1 << 30)
    return f"{gib:g}g" if size % (1 << 30) == 0 else f"{size // (1 << 20)}m"


# -- the verbs --------------------------------------------------------------------------------
def cmd_create(args: argparse.Namespace, settings: Settings) -> int:
    from clawtui.engine.api.devbox_checks import validate_name, validate_public_keys

    try:  # before an engine starts: bad input is reported at once
        validate_name(args.name)
        key_text = _read_key(args.key)
        validate_public_keys(key_text, strict=settings.devboxes.validate_keys)
        if args.no_limits and (args.memory or args.cpus is not None or args.pids_limit):
            raise UsageError("--no-limits cannot be combined with --memory, --cpus or --pids-limit")
    except (ValueError, UsageError) as exc:
        return _report(exc, EXIT_USAGE)
    pubkey_file = None if args.key == "-" else Path(args.key).expanduser()

    async def act(engine: Engine) -> int:
        box = await engine.devboxes.create(
            args.name,
            key_text,
            memory=args.memory,
            cpus=args.cpus,
            port=args.port,
            host=args.host,
            sudo=args.sudo,
            progress=_progress,
            pids_limit=args.pids_limit,
            no_limits=args.no_limits,
            pubkey_file=pubkey_file,
        )
        command = ssh_command_with_key(engine.devboxes.ssh_command(box), args.key)
        print(f"dev box {box.name} ready on host {box.host}: {command}")
        print(f"\n# add to ~/.ssh/config (again: clawtui dev ssh-config {box.name})")
        print(engine.devboxes.ssh_config(box.name, host=box.host), end="")
        return EXIT_OK

    return _run(settings, act)


def cmd_rm(args: argparse.Namespace, settings: Settings) -> int:
    async def act(engine: Engine) -> int:
        print(await engine.devboxes.remove(args.name, keep_home=args.keep_home, host=args.host))
        return EXIT_OK

    return _run(settings, act)


def cmd_ls(args: argparse.Namespace, settings: Settings) -> int:
    async def act(engine: Engine) -> int:
        boxes = engine.devboxes.list()
        if args.json:
            print_json([b.model_dump(mode="json") for b in boxes])
            return EXIT_OK
        if not boxes:
            print("no dev boxes")
            return EXIT_OK
        rows = [("NAME", "HOST", "STATE", "PORT", "MEMORY", "CPUS", "CONTAINER")]
        rows += [
            (
                b.name,
                b.host,
                b.state,
                str(b.port or "-"),
                _size(b.memory_limit),
                f"{b.cpus:g}" if b.cpus else "-",
                b.container,
            )
            for b in boxes
        ]
        print(format_table(rows))
        return EXIT_OK

    return _run(settings, act)


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    async def act(engine: Engine) -> int:
        status = engine.devboxes.status()
        if args.json:
            print_json(status.model_dump(mode="json"))
        else:
            print(
                f"dev boxes: {status.total} ({status.running} running, {status.stopped} stopped); "
                f"memory limits {_size(status.memory_limit_total)} in all, "
                f"{_size(status.memory_limit_running)} running"
            )
        return EXIT_OK

    return _run(settings, act)


def cmd_count(args: argparse.Namespace, settings: Settings) -> int:
    async def act(engine: Engine) -> int:
        print(engine.devboxes.count(running_only=args.running))
        return EXIT_OK

    return _run(settings, act)


def cmd_ssh_config(args: argparse.Namespace, settings: Settings) -> int:
    async def act(engine: Engine) -> int:
        print(engine.devboxes.ssh_config(args.name, host=args.host), end="")
        return EXIT_OK

    return _run(settings, act)


def cmd_stop(args: argparse.Namespace, settings: Settings) -> int:
    async def act(engine: Engine) -> int:
        box = await engine.devboxes.stop(args.name, host=args.host)
        print(f"dev box {box.name} on host {box.host}: {box.state}")
        return EXIT_OK

    return _run(settings, act)


def cmd_start(args: argparse.Namespace, settings: Settings) -> int:
    async def act(engine: Engine) -> int:
        box = await engine.devboxes.start(args.name, host=args.host)
        print(f"dev box {box.name} on host {box.host}: {box.state}")
        return EXIT_OK

    return _run(settings, act)


def _confirm(question: str) -> bool:
    """Ask on the terminal; UsageError when there is none to ask on."""
    if not sys.stdin.isatty():
        raise UsageError(f"{question} needs a yes: no terminal to ask on, pass --yes")
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def cmd_stop_all(args: argparse.Namespace, settings: Settings) -> int:
    if not args.yes:
        try:
            if not _confirm("stop every running dev box?"):
                print("nothing stopped", file=sys.stderr)
                return EXIT_FAIL
        except UsageError as exc:
            return _report(exc, EXIT_USAGE)

    async def act(engine: Engine) -> int:
        stopped = await engine.devboxes.stop_all()
        print(
            f"stopped {len(stopped)} dev box(es)" + (": " + ", ".join(stopped) if stopped else "")
        )
        return EXIT_OK

    return _run(settings, act)


def cmd_logs(args: argparse.Namespace, settings: Settings) -> int:
    if args.tail < 0:
        return _report("--tail must be 0 or more", EXIT_USAGE)

    async def act(engine: Engine) -> int:
        async for line in engine.devboxes.logs(
            args.name, tail=args.tail, follow=args.follow, host=args.host
        ):
            print(line, flush=args.follow)
        return EXIT_OK

    return _run(settings, act)
