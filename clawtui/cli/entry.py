"""`clawtui`'s entry point: `main` and the command-line parser.

`main` reads the command line, runs the verb's handler and turns what it raises (a bad
configuration, a `UsageError` or `CommandError` from `_common`) into the stderr text and the
exit code. Light on purpose: `clawtui attach` takes a fast path before the parser is built.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Sequence
from importlib import import_module
from pathlib import Path

from clawtui import __version__
from clawtui.cli._common import (
    EXIT_USAGE,
    CommandError,
    UsageError,
    error,
    report,
    resume_gc,
)

# Each capability's verbs live in their own module `clawtui.cli.<name>` with
# `register(subparsers, add_config)`, which adds its sub-commands and sets
# `handler=fn(args, settings) -> int` on them. Imported when the parser is built: this module
# stays light, so `clawtui attach` can start without the configuration package (see main).
_COMMAND_GROUPS: tuple[str, ...] = (
    "dev",
    "mem",
    "thread",
    "kb",
    "escalate",
    "ingress",
    "pool",
    "attach",
    "mcp",
    "token",
)

# The commands that act through a remote `clawtui serve` with `--connect` (over its REST API).
# Every other command refuses `--connect`: it would act on this machine's engine and state,
# which is not what the user asked for.
REMOTE_COMMANDS: frozenset[str] = frozenset(
    {"escalate", "escalations", "incidents", "brief", "mcp", "token", "audit"}
)
# Verbs of other groups that do work remotely: (group, the attribute naming the verb, verbs).
REMOTE_VERBS: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("pool", "pool_command", frozenset({"containers", "workers", "drain"})),
)


def works_remotely(group: str, args: argparse.Namespace) -> bool:
    """Whether `clawtui --connect URL <group> ...` acts through the remote service."""
    if group in REMOTE_COMMANDS:
        return True
    return any(group == g and getattr(args, attr, None) in verbs for g, attr, verbs in REMOTE_VERBS)


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        metavar="FILE",
        help="config.toml to use (else $CLAWTUI_CONFIG, ./config.toml, "
        "~/.config/clawtui/config.toml)",
    )


def build_parser(*, verbs: bool = True) -> argparse.ArgumentParser:
    """The command line's parser; without `verbs`, only the TUI's options and the built-in
    commands (for a command line that names no verb: see `_tui_only`)."""
    parser = argparse.ArgumentParser(
        prog="clawtui", description="The control room for fleets of AI-agent containers."
    )
    parser.add_argument("--version", action="version", version=f"clawtui {__version__}")
    _add_config(parser)
    parser.add_argument(
        "--connect",
        metavar="URL",
        help="run the TUI (and escalate, escalations, incidents, brief) against a remote "
        "`clawtui serve`; other commands refuse it",
    )
    parser.add_argument("--token", help="API token for --connect (default: $CLAWTUI_API_TOKEN)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the engine and the HTTP service, no TUI")
    _add_config(serve)
    serve.add_argument("--listen", metavar="HOST:PORT", help="address to listen on (over config)")

    config = sub.add_parser("config", help="configuration tools")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = config_sub.add_parser("check", help="report every problem in config.toml at once")
    _add_config(check)
    for group in _COMMAND_GROUPS if verbs else ():
        import_module(f"clawtui.cli.{group}").register(sub, _add_config)
    for name, command in sub.choices.items():  # `command` may be a verb's own argument too
        command.set_defaults(group=name)
    return parser


def refuse_connect(command: str, url: str) -> UsageError:
    """The refusal of `--connect` by a command that only works on this machine."""
    remote = ", ".join(
        sorted([*REMOTE_COMMANDS, *(f"{g} {v}" for g, _, vs in REMOTE_VERBS for v in sorted(vs))])
    )
    return UsageError(
        f"`clawtui {command}` does not work with --connect: it would use this machine's "
        f"engine and state, not the service at {url}. Run it on the machine where "
        f"`clawtui serve` runs, or drop --connect (commands that work remotely: {remote})"
    )


_TUI_OPTIONS = ("--config", "--connect", "--token")


def _tui_only(words: Sequence[str]) -> bool:
    """Whether the command line is only the TUI's own options, spelt out in full (`clawtui
    --config FILE`): then the verb groups' modules are not imported to parse it."""
    i = 0
    while i < len(words):
        name, eq, _ = words[i].partition("=")
        if name not in _TUI_OPTIONS or (not eq and i + 1 >= len(words)):
            return False
        i += 1 if eq else 2
    return True


def main(argv: Sequence[str] | None = None) -> int:
    # Start-up allocates a few hundred thousand objects (imports, pydantic models, the first
    # screen) and none of them is garbage: the cyclic collector would only walk them again and
    # again (~10 % of the TUI's time to its first frame). Paused here; the TUI resumes it after
    # its first frame (`ClawApp`), every other command before it runs (`resume_gc`).
    gc.disable()
    # pydantic looks for plugins in every installed distribution's entry points when the first
    # model is built (5-8 ms of start-up here); clawtui uses none. An explicit setting, even an
    # empty one, is kept.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["attach"]:
        resume_gc()
        from clawtui.cli.attach import attach_fast

        code = attach_fast(words[1:], _add_config)
        if code is not None:
            return code
    from clawtui.cli.run import cmd_config_check, cmd_serve, cmd_tui, settings_for
    from clawtui.config import ConfigError

    parser = build_parser(verbs=not _tui_only(words))
    args = parser.parse_args(words)
    group = getattr(args, "group", None)
    if args.connect and group is not None and not works_remotely(group, args):
        return report(refuse_connect(group, args.connect))
    try:
        if args.command == "serve":
            resume_gc()
            return cmd_serve(args)
        if args.command == "config":
            resume_gc()
            return cmd_config_check(args)
        handler = getattr(args, "handler", None)
        if handler is not None:
            resume_gc()
            settings = settings_for(args)
            for warning in settings.warnings:  # e.g. a broken settings.toml: ignored, said
                error(f"warning: {warning} (ignored; see `clawtui config check`)")
            return int(handler(args, settings))
        return cmd_tui(args)
    except ConfigError as exc:
        error(f"the configuration has problems:\n{exc}")
        print("fix them, then run `clawtui config check` to confirm", file=sys.stderr)
        return EXIT_USAGE
    except CommandError as exc:
        return report(exc)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
