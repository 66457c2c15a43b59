"""The commands that run clawtui itself: the TUI, `clawtui serve`, `clawtui config check`;
and loading the settings every command runs with.

    clawtui [--config FILE] [--connect URL [--token T]]
    clawtui serve [--config FILE] [--listen HOST:PORT]
    clawtui config check [--config FILE]

Exit codes: 0 ok, 1 runtime failure, 2 bad configuration or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from clawtui.cli._common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, UsageError, error, resume_gc
from clawtui.config import ConfigIssue
from clawtui.fsutil import make_private_dir

if TYPE_CHECKING:
    from clawtui.config import Settings
    from clawtui.engine.api.protocols import EngineAPI
    from clawtui.service.runner import ServiceRunner

log = logging.getLogger("clawtui")


def settings_for(args: argparse.Namespace) -> Settings:
    """The settings of `--config` (else the usual places), loaded for the command in `args`."""
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


def _setup_logging(*, to_file: Path | None) -> None:
    level = os.environ.get("CLAWTUI_LOG", "INFO").upper()
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    if to_file is not None:
        make_private_dir(to_file.parent)
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
        return EXIT_USAGE
    issues = check_config(path)
    label = str(path) if path else "(no config.toml found: built-in defaults)"
    # What needs the loaded settings: the TUI's own (key map, theme), which only it can check,
    # and the webhook and relay secrets; whenever config.toml loads, whatever the runtime
    # settings file has (its problems are in `issues` already). Reported with the rest, at once.
    from clawtui.config import load_settings
    from clawtui.config.ingress import secret_problems
    from clawtui.config.interop import interop_warnings
    from clawtui.tui.config_check import tui_issues

    try:
        settings = load_settings(path)
    except ConfigError:
        settings = None
    if settings is not None:
        issues += tui_issues(settings)
        issues += [
            ConfigIssue(label, key, problem)
            for key, problem in secret_problems(settings.webhook, settings.relay)
        ]
    if not issues:
        warnings = interop_warnings(settings) if settings is not None else []
        for warning in warnings:
            print(f"warning: {warning}")
        print(f"{label}: ok" + (f" ({len(warnings)} warning(s))" if warnings else ""))
        return EXIT_OK
    for issue in issues:
        print(issue, file=sys.stderr)
    print(f"{len(issues)} problem(s) found", file=sys.stderr)
    return EXIT_USAGE


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
        error(exc, "clawtui serve")
        return EXIT_FAIL
    freezing = asyncio.create_task(freeze_start_up(engine), name="serve:gc-freeze")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"clawtui serve: listening on {runner.url} (API token from {source})", flush=True)
    await stop.wait()
    print("clawtui serve: shutting down", flush=True)
    freezing.cancel()
    await runner.stop()
    await engine.stop()
    return EXIT_OK


async def freeze_start_up(engine: EngineAPI, *, cap: float = 60.0) -> None:
    """Keep what starting the engine and the service made (modules, models, routes, the Docker
    SDK's transports imported on the first connection: tens of thousands of objects, none of it
    garbage) out of later full collections, which would otherwise walk all of it with the event
    loop stopped (20-40 ms, every few seconds under request load). Waits until no host is
    still connecting (at most `cap` seconds). `resume_gc` froze what existed before the
    engine's modules were imported."""
    from clawtui.engine.api.models import EventKind, HostState

    deadline = time.monotonic() + cap
    with engine.subscribe([EventKind.HOST]) as changes:
        while any(h.state is HostState.CONNECTING for h in engine.hosts()):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changes.get(), left)
    gc.collect()
    gc.freeze()


def cmd_serve(args: argparse.Namespace) -> int:
    settings = settings_for(args)
    listen = _parse_listen(args.listen) if args.listen else None
    _setup_logging(to_file=None)
    for warning in settings.warnings:
        log.warning("%s", warning)
    return asyncio.run(_serve(settings, listen))


# -- the TUI ---------------------------------------------------------------------------------
def _engine_imports(settings: Settings) -> None:
    """The modules `cmd_tui`'s engine factory needs (the app imports them in a thread)."""
    import clawtui.engine.core

    if settings.service.serve_in_tui:
        import clawtui.service.runner  # noqa: F401


def cmd_tui(args: argparse.Namespace) -> int:
    settings = settings_for(args)
    first = None
    if not args.connect:
        # The local hosts' containers, read while the modules below load and the first frame
        # is drawn (a thread; no Docker SDK): the fleet view shows them until the engine,
        # built after the first frame, has reached those hosts.
        from clawtui.engine.fleet.first_snapshot import FirstSnapshot

        first = FirstSnapshot.start(settings.hosts)
    from clawtui.tui.app import ClawApp

    _setup_logging(to_file=settings.engine.resolved_state_dir / "clawtui.log")
    on_start = on_stop = None
    if args.connect:
        from clawtui.client.engine import RemoteEngine

        token = (
            args.token or os.environ.get("CLAWTUI_API_TOKEN") or settings.service.resolved_token()
        )
        if not token:
            raise UsageError("--connect needs a token: pass --token or set CLAWTUI_API_TOKEN")
        app = ClawApp(RemoteEngine(args.connect, token), settings, after_first_frame=resume_gc)
    else:
        # The local engine (and with it every capability's code) is built by the app after its
        # first frame: the fleet view is drawn before any of it is imported.
        runner: list[ServiceRunner] = []

        def build_engine() -> EngineAPI:
            from clawtui.engine.core import Engine

            engine = Engine(settings)
            if settings.service.serve_in_tui:
                from clawtui.service.runner import ServiceRunner, resolve_token

                token = resolve_token(settings)[0]
                runner.append(ServiceRunner(engine, settings, token=token))
            return engine

        async def start_service() -> None:
            for service in runner:
                await service.start()

        async def stop_service() -> None:
            for service in runner:
                await service.stop()

        if settings.service.serve_in_tui:
            on_start, on_stop = start_service, stop_service
        app = ClawApp(
            build_engine,
            settings,
            on_start=on_start,
            on_stop=on_stop,
            first_snapshot=first.future if first is not None else None,
            engine_imports=lambda: _engine_imports(settings),
            after_first_frame=resume_gc,
        )
    app.run(mouse=settings.tui.mouse)
    return EXIT_OK if app.return_code in (None, 0) else EXIT_FAIL
