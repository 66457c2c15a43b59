"""`clawtui token` (scoped API tokens) and `clawtui audit` (what was done with them).

    clawtui token create NAME --scope SCOPE [--scope SCOPE ...] [--json]
    clawtui token ls [--json]
    clawtui token revoke NAME
    clawtui audit [--since WHEN] [--limit N] [--json]

Scopes: admin, read, pools, agent:<thread id or name> (see README). `create` prints the token
once; only its hash is kept. WHEN is epoch seconds, an ISO date-time (UTC if no zone) or an age
such as 30m, 2h, 7d. With `clawtui --connect URL --token T` (an admin token) they go through a
running `clawtui serve`; without, they open the engine's store here (a running service refuses
a revoked token at its next request; an open event stream within a second).

Exit codes: 0 ok; 1 refused or failed; 2 bad input (name, scope, --since).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from clawtui.cli._common import (
    EXIT_FAIL,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    UsageError,
    format_table,
    print_json,
    print_rows,
    printable,
)
from clawtui.cli.escalate import _http, _local

if TYPE_CHECKING:
    from clawtui.config import Settings
    from clawtui.engine.core import Engine

_AGE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def register(sub: Any, add_config: Callable[[argparse.ArgumentParser], None]) -> None:
    token = sub.add_parser("token", help="scoped API tokens for agents and tools")
    add_config(token)
    actions = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="make a token (printed once; only its hash kept)")
    add_config(create)
    create.add_argument("name")
    create.add_argument(
        "--scope", action="append", required=True, metavar="SCOPE",
        help="admin | read | pools | agent:<thread> (repeat for more)",
    )  # fmt: skip
    create.add_argument("--json", action="store_true")
    create.set_defaults(handler=cmd_create)
    ls = actions.add_parser("ls", help="every token (revoked ones too)")
    add_config(ls)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=cmd_ls)
    revoke = actions.add_parser("revoke", help="refuse a token from now on")
    add_config(revoke)
    revoke.add_argument("name")
    revoke.set_defaults(handler=cmd_revoke)

    audit = sub.add_parser("audit", help="recorded calls: time, token, action, target, outcome")
    add_config(audit)
    audit.add_argument("--since", help="epoch seconds, ISO date-time, or an age (30m, 2h, 7d)")
    audit.add_argument("--limit", type=int, default=500)
    audit.add_argument("--json", action="store_true")
    audit.set_defaults(handler=cmd_audit)


def parse_since(text: str, now: float | None = None) -> float:
    now = time.time() if now is None else now
    m = _AGE.fullmatch(text.strip())
    if m:
        return now - float(m.group(1)) * _UNIT[m.group(2)]
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--since {text[:40]!r}: give epoch seconds, an ISO date-time or an age like 2h",
            prefix="clawtui audit",
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _refused(exc: Exception) -> CommandError:
    status = getattr(exc, "status", 400)
    return CommandError(exc, code=EXIT_USAGE if status in (400, 404) else EXIT_FAIL)


def _remote(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "connect", None))


def cmd_create(args: argparse.Namespace, settings: Settings) -> int:
    from clawtui.engine.api.tokens import TokenError, check_name, parse_scopes

    try:
        check_name(args.name)
        scopes = parse_scopes(args.scope)
    except TokenError as exc:
        raise UsageError(exc, prefix="clawtui token create") from None

    async def go() -> Any:
        if _remote(args):
            body = {"name": args.name, "scopes": scopes}
            return await _http(args, "POST", "/api/v1/tokens", body)

        async def local(engine: Engine) -> Any:
            try:
                new = await engine.tokens.create(args.name, scopes)
            except TokenError as exc:
                raise _refused(exc) from None
            return {"token": new.secret, "info": new.info.model_dump(mode="json")}

        return await _local(settings, local)

    data = asyncio.run(go())
    if args.json:
        print_json(data)
    else:
        print(data["token"])
        print(
            f"token {args.name} created with scopes {', '.join(scopes)}: this is the only time "
            "it is shown"
        )
    return EXIT_OK


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def cmd_ls(args: argparse.Namespace, settings: Settings) -> int:
    async def go() -> Any:
        if _remote(args):
            return (await _http(args, "GET", "/api/v1/tokens"))["tokens"]

        async def local(engine: Engine) -> Any:
            return [t.model_dump(mode="json") for t in await engine.tokens.find()]

        return await _local(settings, local)

    rows = asyncio.run(go())
    if args.json or not rows:
        print_rows(rows, args.json, "no tokens", print)
        return EXIT_OK
    table = [["NAME", "SCOPES", "CREATED", "REVOKED"]]
    table += [
        [printable(r["name"]), ",".join(r["scopes"]), _when(r["created_at"]),
         _when(r["revoked_at"])]
        for r in rows
    ]  # fmt: skip
    print(format_table(table))
    return EXIT_OK


def cmd_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from clawtui.engine.api.tokens import TokenError

    async def go() -> Any:
        if _remote(args):
            return await _http(args, "DELETE", f"/api/v1/tokens/{quote(args.name, safe='')}")

        async def local(engine: Engine) -> Any:
            try:
                return (await engine.tokens.revoke(args.name)).model_dump(mode="json")
            except TokenError as exc:
                raise _refused(exc) from None

        return await _local(settings, local)

    asyncio.run(go())
    print(f"token {args.name} revoked")
    return EXIT_OK


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    since = parse_since(args.since) if args.since else None
    if not 1 <= args.limit <= 10_000:
        raise UsageError("--limit must be between 1 and 10000", prefix="clawtui audit")

    async def go() -> Any:
        if _remote(args):
            query = f"?limit={args.limit}" + (f"&since={since}" if since is not None else "")
            return (await _http(args, "GET", f"/api/v1/audit{query}"))["audit"]

        async def local(engine: Engine) -> Any:
            rows = await engine.tokens.audit(since=since, limit=args.limit)
            return [e.model_dump(mode="json") for e in rows]

        return await _local(settings, local)

    rows = asyncio.run(go())
    print_rows(rows, args.json, "no recorded calls", lambda e: print(
        f"{_when(e['ts'])}  {printable(e['token'])}  {printable(e['action'])}  "
        f"{printable(e['target'])}  {printable(e['outcome'])}"))  # fmt: skip
    return EXIT_OK
