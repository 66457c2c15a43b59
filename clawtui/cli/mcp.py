"""`clawtui mcp`: the engine as a Model Context Protocol server on stdio (clawtui/agent_tools).

    clawtui mcp [--config FILE] [--token T]          a local engine on this config
    clawtui mcp --connect URL --token T              a running `clawtui serve`

Locally, the token (`--token`, else $CLAWTUI_API_TOKEN) decides what the calls may do: the
admin API token or a scoped one from `clawtui token create`; without one the local user is
admin (they can run every other verb on this config too). The local engine starts its
components like `clawtui serve` does: do not run it beside a `serve` on the same state, use
--connect. Over --connect the service checks the token on every call and records it.
Logs go to stderr (stdout is the protocol).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from clawtui.cli._common import EXIT_FAIL, EXIT_OK, CommandError, UsageError, error

if TYPE_CHECKING:
    from clawtui.config import Settings
    from clawtui.engine.api.protocols import EngineAPI

_CONNECT_WAIT = 10.0


def register(sub: Any, add_config: Callable[[argparse.ArgumentParser], None]) -> None:
    mcp = sub.add_parser(
        "mcp",
        help="run an MCP server on stdio (tools for agents, checked against token scopes)",
        description="Run a Model Context Protocol server on stdio over this engine.",
    )
    add_config(mcp)
    mcp.add_argument(
        "--connect", default=argparse.SUPPRESS, metavar="URL", help="a running clawtui serve"
    )
    mcp.add_argument(
        "--token", default=argparse.SUPPRESS, help="API token (default: $CLAWTUI_API_TOKEN)"
    )
    mcp.set_defaults(handler=cmd_mcp)


async def _remote(url: str, token: str) -> EngineAPI:
    from clawtui.client.engine import RemoteEngine

    remote = RemoteEngine(url, token)
    await remote.start()
    deadline = time.monotonic() + _CONNECT_WAIT
    # A token without `read` cannot open the event stream: its tools still work over REST.
    while not remote.connected.is_set() and remote.last_error is None:
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    if remote.last_error and remote.last_error.startswith("cannot reach"):
        # No service there: an MCP client is better told at once than given tools that fail.
        await remote.stop()
        raise CommandError(f"{remote.last_error}; is `clawtui serve` running there?")
    if remote.last_error:
        print(f"clawtui mcp: event stream: {remote.last_error}", file=sys.stderr)
    return remote


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    from clawtui.agent_tools.guard import Guard
    from clawtui.agent_tools.server import build_server

    token = getattr(args, "token", None) or os.environ.get("CLAWTUI_API_TOKEN") or None
    connect = getattr(args, "connect", None)
    engine: EngineAPI
    if connect:
        if not token:
            raise UsageError("--connect needs a token: pass --token or set CLAWTUI_API_TOKEN")
        engine = await _remote(connect, token)
        guard = Guard(engine, token=token)
    else:
        from clawtui.engine.core import Engine
        from clawtui.service.runner import resolve_token

        local = Engine(settings)
        try:
            await local.start()
        except Exception as exc:
            await local.stop()
            error(exc, "clawtui mcp")
            return EXIT_FAIL
        engine = local
        admin = settings.service.resolved_token() or resolve_token(settings)[0]
        guard = Guard(engine, token=token, admin_token=admin)
    try:
        await build_server(engine, guard).run_stdio_async()
    finally:
        await engine.stop()
    return EXIT_OK


def cmd_mcp(args: argparse.Namespace, settings: Settings) -> int:
    from clawtui.cli.run import _setup_logging

    _setup_logging(to_file=None)  # stderr: stdout carries the protocol
    return asyncio.run(_run(args, settings))
