"""The `clawtui` command: the TUI by default, `serve` for the headless service, `config check`.

    clawtui [--config FILE] [--connect URL [--token T]]
    clawtui serve [--config FILE] [--listen HOST:PORT]
    clawtui config check [--config FILE]

Exit codes: 0 ok, 1 runtime failure, 2 bad configuration or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

from clawtui import __version__

if TYPE_CHECKING:
    from clawtui.config import Settings

EXIT_OK, EXIT_FAIL, EXIT_CONFIG = 0, 1, 2
log = logging.getLogger("clawtui")

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
)


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        metavar="FILE",
        help="config.toml to use (else $CLAWTUI_CONFIG, ./config.toml, "
        "~/.config/clawtui/config.toml)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clawtui", description="The control room for fleets of AI-agent containers."
    )
    parser.add_argument("--version", action="version", version=f"clawtui {__version__}")
    _add_config(parser)
    parser.add_argument(
        "--connect", metavar="URL", help="run the TUI against a remote `clawtui serve`"
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
    for group in _COMMAND_GROUPS:
        import_module(f"clawtui.cli.{group}").register(sub, _add_config)
    return parser


def _load(args: argparse.Namespace) -> Settings:
    from clawtui.config import find_config, load_settings

    path = find_config(getattr(args, "config", None))
    if args.command == "attach":  # keyed on the files as they are before loading them
        from clawtui.terminal.profile import profile_key

        args.profile_key = profile_key(path)
    return load_settings(path)


def _parse_listen(text: str) -> tuple[str, int]:
    from clawtui.config import split_listen

    try:
        return split_listen(text)
    except ValueError as exc:
        raise UsageError(f"--listen {text!r}: {exc}") from None


class UsageError(Exception):
    """A command-line argument is wrong; the message says which and why."""


def _setup_logging(*, to_file: Path | None) -> None:
    level = os.environ.get("CLAWTUI_LOG", "INFO").upper()
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    if to_file is not None:
        to_file.parent.mkdir(parents=True, exist_ok=True)
        logging.basicConfig(filename=to_file, level=level, format=fmt)
    else:
        logging.basicConfig(stream=sys.stderr, level=level, format=fmt)
    logging.getLogger("docker").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)


# -- config check -----------------------------------------------------------------------------
def cmd_config_check(args: argparse.Namespace) -> int:
    from clawtui.config import ConfigError, check_config, find_config

    try:
        path = find_config(getattr(args, "config", None))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    issues = check_config(path)
    label = str(path) if path else "(no config.toml found: built-in defaults)"
    if not issues:
        print(f"{label}: ok")
        return EXIT_OK
    for issue in issues:
        print(issue, file=sys.stderr)
    print(f"{len(issues)} problem(s) found", file=sys.stderr)
    return EXIT_CONFIG


# -- serve ------------------------------------------------------------------------------------
async def _serve(settings: Settings, listen: tuple[str, int] | None) -> int:
    from clawtui.engine.core import Engine
    from clawtui.service.runner import ServiceRunner, resolve_token

    token, source = resolve_token(settings)
    engine = Engine(settings)
    await engine.start()
    runner = ServiceRunner(engine, settings, token=token, listen=listen)
    try:
        await runner.start()
    except OSError as exc:
        await engine.stop()
        print(f"clawtui serve: {exc}", file=sys.stderr)
        return EXIT_FAIL
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"clawtui serve: listening on {runner.url} (API token from {source})", flush=True)
    await stop.wait()
    print("clawtui serve: shutting down", flush=True)
    await runner.stop()
    await engine.stop()
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _load(args)
    listen = _parse_listen(args.listen) if args.listen else None
    _setup_logging(to_file=None)
    for warning in settings.warnings:
        log.warning("%s", warning)
    return asyncio.run(_serve(settings, listen))


# -- the TUI ----------------------------------------------------------------------------------
def cmd_tui(args: argparse.Namespace) -> int:
    from clawtui.tui.app import ClawApp

    settings = _load(args)
    _setup_logging(to_file=settings.engine.resolved_state_dir / "clawtui.log")
    on_start = on_stop = None
    if args.connect:
        from clawtui.client.engine import RemoteEngine

        token = (
            args.token or os.environ.get("CLAWTUI_API_TOKEN") or settings.service.resolved_token()
        )
        if not token:
            print(
                "clawtui: --connect needs a token: pass --token or set CLAWTUI_API_TOKEN",
                file=sys.stderr,
            )
            return EXIT_CONFIG
        engine: object = RemoteEngine(args.connect, token)
    else:
        from clawtui.engine.core import Engine

        engine = Engine(settings)
        if settings.service.serve_in_tui:
            from clawtui.service.runner import ServiceRunner, resolve_token

            runner = ServiceRunner(engine, settings, token=resolve_token(settings)[0])
            on_start, on_stop = runner.start, runner.stop
    app = ClawApp(engine, settings, on_start=on_start, on_stop=on_stop)  # type: ignore[arg-type]
    app.run(mouse=settings.tui.mouse)
    return EXIT_OK if app.return_code in (None, 0) else EXIT_FAIL


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["attach"]:
        from clawtui.cli.attach import attach_fast

        code = attach_fast(words[1:], _add_config)
        if code is not None:
            return code
    from clawtui.config import ConfigError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            return cmd_serve(args)
        if args.command == "config":
            return cmd_config_check(args)
        handler = getattr(args, "handler", None)
        if handler is not None:
            return int(handler(args, _load(args)))
        return cmd_tui(args)
    except ConfigError as exc:
        print(f"clawtui: the configuration has problems:\n{exc}", file=sys.stderr)
        print("fix them, then run `clawtui config check` to confirm", file=sys.stderr)
        return EXIT_CONFIG
    except UsageError as exc:
        print(f"clawtui: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
