"""Benchmark: MCP tool-call round trip against the same call through the REST API, same run.

    PYTHONPATH=. .venv/bin/python benchmarks/mcp.py [--quick] [--calls N]

Starts `clawtui serve` as a subprocess (its own state dir in a temp folder, the local Docker
host) and `clawtui mcp` twice, each driven by the MCP SDK's own stdio client from this process:
`clawtui mcp --config` (its own engine, its own state dir) and `clawtui mcp --connect` (through
the serve). Each round trip is measured from the call to its answer, one call at a time:

  read      MCP `escalations_list`   vs  GET  /api/v1/escalations  (aiohttp, keep-alive)
  escalate  MCP `escalate`           vs  POST /api/v1/escalations

`sdk_floor` is a do-nothing tool of the SDK over the same stdio transport: what any MCP
server costs per call before it does anything (on the 2-core test machine about 1.2-1.5 ms,
already 2-3x a REST read there). All with the admin token; every escalate (either way) is
recorded in the audit log, as are the MCP reads. Every read runs before any escalation, so all
read the same (empty) list. Targets: local MCP p50 within 1.5x of REST (`*_p50_vs_rest`) and
p50 <= 20 ms. The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

# This file is benchmarks/mcp.py: run as a script, its folder comes first on sys.path and
# would shadow the MCP SDK's `mcp` package. Drop it; the repo root gives `benchmarks._common`.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import aiohttp  # noqa: E402
import tomli_w  # noqa: E402
from mcp.client.session import ClientSession  # noqa: E402
from mcp.client.stdio import StdioServerParameters, stdio_client  # noqa: E402

from benchmarks._common import emit_result, progress, rnd, summarize_ms  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-mcp-admin-token-0123456789abcdef"
ESCALATION = {"agent": "bench", "doing": "measuring", "tried": ["once"], "need": "nothing"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(tmp: Path, name: str) -> Path:
    data = {
        "engine": {"state_dir": str(tmp / name)},
        "brief": {"enabled": False},
        "escalations": {"stuck_detector": False},
        "hosts": [{"name": "local"}],
    }
    path = tmp / f"{name}.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def _env() -> dict[str, str]:
    return {"PYTHONPATH": str(ROOT), "CLAWTUI_LOG": "WARNING", "PATH": os.environ["PATH"]}


async def _start_serve(config: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(  # noqa: ASYNC220 (returns at once; the loop has nothing else to do)
        [sys.executable, "-m", "clawtui", "serve", "--config", str(config),
         "--listen", f"127.0.0.1:{port}"],
        env={**_env(), "CLAWTUI_API_TOKEN": TOKEN}, cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as s:
        while True:
            try:
                async with s.get(f"http://127.0.0.1:{port}/healthz") as r:
                    if r.status == 200:
                        return proc
            except aiohttp.ClientError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("clawtui serve did not start")
            await asyncio.sleep(0.1)


async def _measure(n: int, warmup: int, fn: Callable[[], Awaitable[None]]) -> list[float]:
    for _ in range(warmup):
        await fn()
    out: list[float] = []
    for _ in range(n):
        t0 = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - t0)
    return out


FLOOR_SERVER = """
from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel
class Pong(BaseModel):
    ok: bool
server = MCPServer("floor")
@server.tool()
async def ping() -> Pong:
    return Pong(ok=True)
server.run()
"""
"""The SDK's floor: a server whose one tool does nothing, on the same stdio transport."""


@asynccontextmanager
async def _mcp(args: list[str]) -> AsyncIterator[Callable[[str, dict[str, Any]], Awaitable[None]]]:
    """A started `clawtui mcp ARGS` session (or, for `["-c", code]`, that Python server);
    yields `call(tool, arguments)`."""
    params = StdioServerParameters(
        command=sys.executable,
        args=args if args[:1] == ["-c"] else ["-m", "clawtui", "mcp", *args],
        env={**_env(), "CLAWTUI_API_TOKEN": TOKEN},
        cwd=ROOT,
    )
    with open(os.devnull, "w") as devnull:  # noqa: ASYNC230
        async with (
            stdio_client(params, errlog=devnull) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()

            async def call(tool: str, arguments: dict[str, Any]) -> None:
                result = await session.call_tool(tool, arguments)
                if result.is_error:
                    raise RuntimeError(f"{tool}: {result.content}")

            yield call


def _rest(s: aiohttp.ClientSession, url: str) -> dict[str, Callable[[], Awaitable[None]]]:
    async def get() -> None:
        async with s.get(f"{url}/api/v1/escalations") as r:
            assert r.status == 200, await r.text()
            await r.read()

    async def post() -> None:
        async with s.post(f"{url}/api/v1/escalations", json=ESCALATION) as r:
            assert r.status == 201, await r.text()
            await r.read()

    return {"read": get, "escalate": post}


def _ratio(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    return rnd(a["p50_ms"] / b["p50_ms"], 3) if a["p50_ms"] and b["p50_ms"] else None


async def run(args: argparse.Namespace) -> dict[str, Any]:
    n, warmup = args.calls, 50
    series: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="clawtui-bench-mcp-") as raw:
        tmp = Path(raw)
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        progress("starting clawtui serve and two clawtui mcp (--config, --connect)")
        proc = await _start_serve(_config(tmp, "serve"), port)
        try:
            async with (
                aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as s,
                _mcp(["--config", str(_config(tmp, "local"))]) as local,
                _mcp(["--connect", url, "--token", TOKEN]) as remote,
                _mcp(["-c", FLOOR_SERVER]) as floor,
            ):
                rest = _rest(s, url)
                ways: dict[str, dict[str, Callable[[], Awaitable[None]]]] = {
                    "rest": rest,
                    "mcp_local": {
                        "read": lambda: local("escalations_list", {}),
                        "escalate": lambda: local("escalate", ESCALATION),
                    },
                    "mcp_connect": {
                        "read": lambda: remote("escalations_list", {}),
                        "escalate": lambda: remote("escalate", ESCALATION),
                    },
                }
                progress(f"floor: a do-nothing tool of the MCP SDK over stdio, {n} calls")
                empty = await _measure(n, warmup, lambda: floor("ping", {}))
                # every read before any escalation: all of them read an empty list
                for kind in ("read", "escalate"):
                    for way, fns in ways.items():
                        progress(f"{kind}: {way}, {n} calls")
                        series.setdefault(kind, {})[way] = await _measure(n, warmup, fns[kind])
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
    out: dict[str, Any] = {"benchmark": "mcp", "calls": n, "sdk_floor": summarize_ms(empty)}
    ok = True
    for kind in ("read", "escalate"):
        r, lo, co = (summarize_ms(series[kind][w]) for w in ("rest", "mcp_local", "mcp_connect"))
        out[kind] = {"rest": r, "mcp_local": lo, "mcp_connect": co}
        out[f"{kind}_p50_vs_rest"] = _ratio(lo, r)
        out[f"{kind}_connect_p50_vs_rest"] = _ratio(co, r)
        ratio = out[f"{kind}_p50_vs_rest"]
        ok = ok and ratio is not None and ratio <= 1.5 and lo["p50_ms"] <= 20
    out["targets"] = {"p50_vs_rest": 1.5, "p50_ms": 20}
    out["meets_targets"] = ok
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls (well under 90 s)")
    parser.add_argument("--calls", type=int, default=None, help="calls per measured series")
    args = parser.parse_args()
    if args.calls is None:
        args.calls = 100 if args.quick else 500
    if not 1 <= args.calls <= 100_000:
        parser.error("--calls must be 1-100000")
    started = time.monotonic()
    result = asyncio.run(run(args))
    result["seconds"] = rnd(time.monotonic() - started, 1)
    emit_result(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
