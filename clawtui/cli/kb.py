"""`clawtui kb`: the master thread's knowledge base (a local-only git repo).

    clawtui kb init [DIR]        create it (context.md, decisions.md, active-projects.md; git
                                 init, no remote) and point the master thread at it
    clawtui kb show NAME         print one of the three files (any other name is refused)
    clawtui kb log [--limit N]   its git log

DIR defaults to `[threads] kb_dir`, else `<threads home>/knowledge-base`.
Exit codes: 0 ok; 1 failure; 2 bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clawtui.cli._common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, CommandError

if TYPE_CHECKING:
    from clawtui.config import Settings
    from clawtui.engine.core import Engine


def register(sub: Any, add_config: Callable[[argparse.ArgumentParser], None]) -> None:
    kb = sub.add_parser("kb", help="the master thread's knowledge base")
    add_config(kb)
    actions = kb.add_subparsers(dest="kb_command", metavar="ACTION", required=True)
    init = actions.add_parser("init", help="create the knowledge base and point the master at it")
    add_config(init)
    init.add_argument("dir", nargs="?", type=Path, metavar="DIR")
    init.set_defaults(handler=cmd_init)
    show = actions.add_parser("show", help="print context.md, decisions.md or active-projects.md")
    add_config(show)
    show.add_argument("name", metavar="NAME")
    show.set_defaults(handler=cmd_show)
    log = actions.add_parser("log", help="the knowledge base's git log")
    add_config(log)
    log.add_argument("--limit", type=int, default=20)
    log.set_defaults(handler=cmd_log)


def _engine(settings: Settings) -> Engine:
    from clawtui.engine.core import Engine

    return Engine(settings)


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    from clawtui.config.loader import save_runtime_settings
    from clawtui.engine.api import kb

    threads = _engine(settings).threads
    target = (args.dir or threads.kb_default_dir()).expanduser()
    target = target.absolute()
    try:
        done = asyncio.run(threads.kb_init(target))
    except (kb.KBError, OSError) as exc:
        raise CommandError(exc, prefix="error") from None
    try:
        saved = save_runtime_settings({"threads": {"kb_dir": str(target)}})
        done.append(f"[threads] kb_dir = {target} saved in {saved}")
    except Exception as exc:  # the repo exists; say how to finish by hand
        done.append(f"could not save kb_dir ({exc}); set [threads] kb_dir = '{target}'")
    for line in done or [f"{target} is already a knowledge base"]:
        print(line)
    return EXIT_OK


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    from clawtui.engine.api import kb

    try:
        kb.check_name(args.name)
        threads = _engine(settings).threads
        sys.stdout.write(threads.kb_read(args.name, at=threads.kb_default_dir()))
    except kb.KBError as exc:
        code = EXIT_USAGE if args.name not in kb.KB_FILES else EXIT_FAIL
        raise CommandError(exc, code=code, prefix="error") from None
    return EXIT_OK


def cmd_log(args: argparse.Namespace, settings: Settings) -> int:
    threads = _engine(settings).threads
    for line in asyncio.run(threads.kb_log(args.limit, at=threads.kb_default_dir())):
        print(line)
    return EXIT_OK
