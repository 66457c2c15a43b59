"""`clawtui pool ...`: warm pools and tenant claims from the command line.

    clawtui pool ls [--json]                          pools: warm / claimed / max, latency
    clawtui pool status [TENANT] [--json]             open claims, or one tenant's claim + syncs
    clawtui pool claim TENANT --pool P [--tenant-config JSON|@FILE]
                       [--secret NAME=FILE ...] [--json]
    clawtui pool release TENANT [--no-sync] [--force] [--json]
    clawtui pool sync TENANT [--direction upload|download|both] [--json]
    clawtui pool scale POOL MIN_WARM
    clawtui pool containers POOL [--json]             each container: state, tenant, health, age
    clawtui pool workers [POOL] [--json]              the same across pools (seed 003's workers)
    clawtui pool drain POOL [--timeout S] [--json]    refuse claims, wait for them, remove all

Each command runs a local engine for its duration on the same state database as `clawtui
serve` (claims are compare-and-swap transactions, so both can act at once). The command's engine
does not fill pools in the background: it reconciles once and acts; filling is the job of a
running `clawtui serve` or TUI. `containers`, `workers` and `drain` also work against a
running service: `clawtui --connect URL [--token T] pool drain POOL` (a drain by a one-shot
engine holds only while that command runs; drain the engine that fills the pool). Secret
values are read from files (never from the command line, where `ps` would show them) and
never printed.

Exit codes: 0 ok, 2 bad input (nothing touched), 1 failure (refused, sync failed, Docker down).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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

if TYPE_CHECKING:
    from clawtui.config import Settings
    from clawtui.engine.api.pools import PoolContainer, PoolsAPI
    from clawtui.engine.core import Engine

_PREFIX = "clawtui pool"
_MAX_FILE = 256 * 1024


def register(sub: Any, add_config: Callable[[argparse.ArgumentParser], None]) -> None:
    pool = sub.add_parser("pool", help="warm pools: claim, release, sync tenants' containers")
    add_config(pool)
    verbs = pool.add_subparsers(dest="pool_command", metavar="ACTION", required=True)

    def verb(name: str, handler: Callable[[argparse.Namespace, Settings], int], help: str) -> Any:
        parser = verbs.add_parser(name, help=help, description=help)
        add_config(parser)
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.set_defaults(handler=handler)
        return parser

    verb("ls", cmd_ls, "list pools with warm / claimed / max and claim latency")
    status = verb("status", cmd_status, "open claims, or one tenant's claim and last syncs")
    status.add_argument("tenant", nargs="?", metavar="TENANT")
    claim = verb("claim", cmd_claim, "give a tenant a container (warm, else cold)")
    claim.add_argument("tenant", metavar="TENANT")
    claim.add_argument("--pool", required=True, help="pool name")
    claim.add_argument(
        "--tenant-config", dest="tenant_config", help="tenant config: JSON text, or @FILE"
    )
    claim.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="a secret whose value is read from FILE (repeatable)",
    )
    release = verb("release", cmd_release, "save the tenant's state, destroy its container")
    release.add_argument("tenant", metavar="TENANT")
    release.add_argument("--no-sync", action="store_true", help="do not upload state")
    release.add_argument(
        "--force", action="store_true", help="release even when the upload fails (state lost)"
    )
    sync = verb("sync", cmd_sync, "sync a tenant's state now")
    sync.add_argument("tenant", metavar="TENANT")
    sync.add_argument("--direction", default="upload", choices=("upload", "download", "both"))
    scale = verb("scale", cmd_scale, "set a pool's warm target")
    scale.add_argument("pool", metavar="POOL")
    scale.add_argument("min_warm", type=int, metavar="MIN_WARM")
    containers = verb("containers", cmd_containers, "a pool's containers: state, tenant, health")
    containers.add_argument("pool", metavar="POOL")
    workers = verb("workers", cmd_workers, "pool workers (containers) of every pool, or of POOL")
    workers.add_argument("pool", nargs="?", metavar="POOL")
    drain = verb("drain", cmd_drain, "refuse claims, wait for them to end, remove the containers")
    drain.add_argument("pool", metavar="POOL")
    drain.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for claims (default 300)"
    )


def _read_file(path: str, what: str) -> str:
    try:
        data = Path(path).expanduser().read_bytes()[: _MAX_FILE + 1]
    except OSError as exc:
        raise UsageError(f"cannot read {what} file {path}: {exc.strerror}") from None
    if len(data) > _MAX_FILE:
        raise UsageError(f"{what} file {path} is larger than {_MAX_FILE // 1024} KiB")
    return data.decode("utf-8", "replace")


def _config(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    raw = _read_file(text[1:], "config") if text.startswith("@") else text
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise UsageError(f"--tenant-config is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UsageError("--tenant-config must be a JSON object")
    return value


def _secrets(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"--secret {name or item[:40]!r}: expected NAME=FILE")
        out[name] = _read_file(path, f"secret {name}").rstrip("\n")
    return out


def _run(settings: Settings, action: Callable[[Engine], Awaitable[int]]) -> int:
    from clawtui.engine.api.pools import PoolError, PoolInputError
    from clawtui.engine.core import Engine

    if not settings.pools:
        return report(
            "no pools are configured: add [[workloads]] and [[pools]] to config.toml",
            _PREFIX,
            code=EXIT_USAGE,
        )

    async def main() -> int:
        engine = Engine(settings)
        engine.pools.background = False
        await engine.start()
        try:
            await engine.wait_online(max(h.timeout for h in settings.hosts) + 2)
            await engine.pools.reconcile()
            return await action(engine)
        finally:
            await engine.stop()

    try:
        return asyncio.run(main())
    except (UsageError, PoolInputError) as exc:
        return report(exc, _PREFIX, code=EXIT_USAGE)
    except PoolError as exc:
        return report(exc, _PREFIX)
    except Exception as exc:  # Docker unreachable, disk full...: one line, never a traceback
        return report(f"{exc.__class__.__name__}: {exc}", _PREFIX)


def _ago(ts: float | None) -> str:
    if not ts:
        return "-"
    s = max(0, int(time.time() - ts))
    return f"{s}s ago" if s < 120 else f"{s // 60}m ago"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _print_claim(data: dict[str, Any]) -> None:
    print(f"tenant     {data['tenant']}")
    print(f"pool       {data['pool']} ({data['host']})")
    print(f"container  {data['container']}  [{data['state']}, {data['source']}]")
    if data.get("endpoints"):
        print(f"endpoints  {', '.join(data['endpoints'])}")
    print(f"claimed    {_ago(data['claimed_at'])}")
    if data.get("latency_ms") is not None:
        print(f"latency    {data['latency_ms']:.1f} ms")
    if data.get("state") == "lost" and data.get("released_at"):
        print(f"lost       {_ago(data['released_at'])} on {data['host']}")
    if data.get("error"):
        print(f"error      {data['error']}")
    for s in data.get("sync", []):
        extra = f"  {s['error']}" if s.get("error") else ""
        print(
            f"sync       {s['mapping']} {s['direction']} {s['status']} {s['bytes']} B "
            f"{s['duration']:.2f}s {_ago(s['last_run'])}{extra}"
        )


def cmd_ls(args: argparse.Namespace, settings: Settings) -> int:
    async def action(engine: Engine) -> int:
        rows = [s.model_dump(mode="json") for s in await engine.pools.status()]
        if args.json:
            print_json(rows)
            return EXIT_OK
        print(f"{'POOL':<20} {'HOST':<10} WARM/TARGET CLAIMED  MAX  WARM p50/p99 ms")
        for r in rows:
            hosts = ",".join(r.get("hosts") or [r["host"]])
            print(
                f"{r['name']:<20} {hosts:<10} {r['warm']:>4}/{r['target']:<6} "
                f"{r['claimed']:>7} {r['max']:>4}  {_ms(r['warm_p50_ms'])}/{_ms(r['warm_p99_ms'])}"
            )
        return EXIT_OK

    return _run(settings, action)


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    async def action(engine: Engine) -> int:
        if args.tenant:
            data = (await engine.pools.tenant(args.tenant)).model_dump(mode="json")
            print_json(data) if args.json else _print_claim(data)
            return EXIT_OK
        rows = [t.model_dump(mode="json") for t in await engine.pools.tenants()]
        if args.json:
            print_json(rows)
        elif not rows:
            print("no open claims")
        for r in rows if not args.json else []:
            state = r["state"]
            if state == "lost":
                state = f"lost on {r['host']} {_ago(r.get('released_at'))}"
            print(f"{r['tenant']:<24} {r['pool']:<16} {r['container']:<28} {state}")
        return EXIT_OK

    return _run(settings, action)


def cmd_claim(args: argparse.Namespace, settings: Settings) -> int:
    try:
        config, secrets = _config(args.tenant_config), _secrets(args.secret)
    except UsageError as exc:
        return report(exc, _PREFIX)

    async def action(engine: Engine) -> int:
        claim = await engine.pools.claim(args.tenant, args.pool, config, secrets)
        data = claim.model_dump(mode="json")
        print_json(data) if args.json else _print_claim(data)
        return EXIT_OK

    return _run(settings, action)


def cmd_release(args: argparse.Namespace, settings: Settings) -> int:
    async def action(engine: Engine) -> int:
        info = await engine.pools.release(args.tenant, sync=not args.no_sync, force=args.force)
        data = info.model_dump(mode="json")
        print_json(data) if args.json else _print_claim(data)
        return EXIT_OK

    return _run(settings, action)


def cmd_sync(args: argparse.Namespace, settings: Settings) -> int:
    async def action(engine: Engine) -> int:
        result = await engine.pools.sync(args.tenant, args.direction)
        if args.json:
            print_json(result.model_dump(mode="json"))
        for run in result.runs if not args.json else []:
            extra = f"  {run.error}" if run.error else ""
            print(f"{run.mapping:<16} {run.direction:<9} {run.status:<8} {run.bytes} B "
                  f"{run.duration:.2f}s{extra}")  # fmt: skip
        return EXIT_OK if result.ok else EXIT_FAIL

    return _run(settings, action)


def cmd_scale(args: argparse.Namespace, settings: Settings) -> int:
    async def action(engine: Engine) -> int:
        status = await engine.pools.scale(args.pool, args.min_warm)
        print(f"pool {status.name}: warm target {status.target} (max {status.max})")
        return EXIT_OK

    return _run(settings, action)


# -- operator views (local engine, or a remote one with --connect) ---------------------------
def _run_pools(
    args: argparse.Namespace, settings: Settings, action: Callable[[PoolsAPI], Awaitable[int]]
) -> int:
    """`action` on the pools of a local engine, or of `--connect URL`'s service."""
    connect = getattr(args, "connect", None)
    if not connect:
        return _run(settings, lambda engine: action(engine.pools))
    from clawtui.client.caps import RemoteError
    from clawtui.client.engine import RemoteEngine

    token = (
        getattr(args, "token", None)
        or os.environ.get("CLAWTUI_API_TOKEN")
        or settings.service.resolved_token()
    )
    if not token:
        return report("--connect needs a token: pass --token or set CLAWTUI_API_TOKEN", _PREFIX,
                      code=EXIT_USAGE)  # fmt: skip

    async def main() -> int:
        remote = RemoteEngine(connect, token)
        await remote.start()
        try:
            return await action(remote.pools)
        finally:
            await remote.stop()

    try:
        return asyncio.run(main())
    except RemoteError as exc:
        return report(exc, _PREFIX)


def _age(seconds: float) -> str:
    s = int(seconds)
    return f"{s}s" if s < 120 else f"{s // 60}m" if s < 7200 else f"{s // 3600}h"


def _print_containers(rows: list[PoolContainer]) -> None:
    if not rows:
        print("no containers")
        return
    table = [("CONTAINER", "POOL", "HOST", "STATE", "TENANT", "HEALTH", "AGE", "LAST SYNC")]
    table += [
        (
            c.name,
            c.pool,
            c.host,
            c.state,
            c.tenant or "-",
            c.health,
            _age(c.age),
            _ago(c.last_sync),
        )
        for c in rows
    ]
    print(format_table(table))


def _show_containers(args: argparse.Namespace, rows: list[PoolContainer]) -> int:
    """`pool containers` / `pool workers` output: JSON with --json, else a table."""
    if args.json:
        print_json([c.model_dump(mode="json") for c in rows])
    else:
        _print_containers(rows)
    return EXIT_OK


def cmd_containers(args: argparse.Namespace, settings: Settings) -> int:
    async def action(pools: PoolsAPI) -> int:
        return _show_containers(args, await pools.containers(args.pool))

    return _run_pools(args, settings, action)


def cmd_workers(args: argparse.Namespace, settings: Settings) -> int:
    async def action(pools: PoolsAPI) -> int:
        names = [args.pool] if args.pool else [s.name for s in await pools.status()]
        return _show_containers(args, [c for name in names for c in await pools.containers(name)])

    return _run_pools(args, settings, action)


def cmd_drain(args: argparse.Namespace, settings: Settings) -> int:
    async def action(pools: PoolsAPI) -> int:
        result = await pools.drain(args.pool, timeout=args.timeout)
        if args.json:
            print_json(result.model_dump(mode="json"))
        elif result.done:
            print(f"pool {result.pool} drained: {result.removed} container(s) removed; "
                  "it takes no claims until `clawtui pool scale`")  # fmt: skip
        else:
            print(f"pool {result.pool} draining: {result.removed} removed, "
                  f"{result.remaining} left, still claimed by "
                  f"{', '.join(result.open_claims) or 'nobody'}")  # fmt: skip
        return EXIT_OK if result.done else EXIT_FAIL

    return _run_pools(args, settings, action)
