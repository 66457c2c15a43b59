"""Helpers for the MCP tests: a config file on disk, and the SDK's own stdio client talking to
`python -m clawtui mcp ...` spawned as a subprocess (the way Claude Code runs a tool server)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import tomli_w
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from clawtui.config import Settings

REPO = Path(__file__).resolve().parents[2]


def write_config(settings: Settings, path: Path) -> Path:
    """`settings` as a config.toml the CLI loads back to the same settings."""
    data = settings.model_dump(mode="json", exclude_none=True, by_alias=True)
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


@asynccontextmanager
async def mcp_session(*args: str, errlog: Path | None = None) -> AsyncIterator[ClientSession]:
    """An initialized MCP client session with `clawtui mcp ARGS` over stdio."""
    env = {"PYTHONPATH": str(REPO), "CLAWTUI_LOG": "WARNING"}
    if "DOCKER_HOST" in os.environ:
        env["DOCKER_HOST"] = os.environ["DOCKER_HOST"]
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "clawtui", "mcp", *args], env=env, cwd=str(REPO)
    )
    with Path(errlog or os.devnull).open("a", encoding="utf-8") as log:  # noqa: ASYNC230
        async with (
            stdio_client(params, errlog=log) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


async def call(session: ClientSession, tool: str, **arguments: Any) -> Any:
    """The tool's structured result; AssertionError with the message if it was a tool error."""
    result = await session.call_tool(tool, arguments)
    text = " ".join(getattr(c, "text", "") for c in result.content)
    assert not result.is_error, f"{tool} failed: {text}"
    assert result.structured_content is not None, text
    return result.structured_content


async def refused(session: ClientSession, tool: str, **arguments: Any) -> str:
    """The message of a tool error (AssertionError if the call succeeded)."""
    result = await session.call_tool(tool, arguments)
    text = " ".join(getattr(c, "text", "") for c in result.content)
    assert result.is_error, f"{tool} was not refused: {json.dumps(result.structured_content)}"
    assert "Traceback" not in text
    return text
