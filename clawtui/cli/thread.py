"""`clawtui thread`: the agents' threads from a shell.

    clawtui thread ls [--json]        id, name, cwd, repo state, queue depths, tiers, liveness
    clawtui thread send ID TEXT       put TEXT into thread ID's TinyClaw queue (source: user)
    clawtui thread beat ID            run one heartbeat of thread ID now (the configured runner)

Reads threads.json and HEARTBEAT.md files directly; no Docker host is contacted.
Exit codes: 0 ok; 1 failure; 2 bad input (unknown thread, empty text, bad config).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from clawtui.cli._common import EXIT_OK, CommandError, UsageError, print_json

if TYPE_CHECKING:
    from clawtui.config import Settings
    from clawtui.engine.api.threads import ThreadStatus
    from clawtui.engine.core import Engine


def register(sub: Any, add_config: Callable[[argparse.ArgumentParser], None]) -> None:
    thread = sub.add_parser("thread", help="agent threads: list, send a message, run a beat")
    add_config(thread)
    actions = thread.add_subparsers(dest="thread_command", metavar="ACTION", required=True)
    ls = actions.add_parser("ls", help="every thread with its repo, queue and heartbeat state")
    add_config(ls)
    ls.add_argument("--json", action="store_true", help="print a JSON array")
    ls.set_defaults(handler=cmd_ls)
    send = actions.add_parser("send", help="send a message to a thread (its TinyClaw queue)")
    add_config(send)
    send.add_argument("thread_id", type=int, metavar="ID")
    send.add_argument("text", metavar="TEXT")
    send.add_argument("--sender", default="cli", help="sender name (default cli)")
    send.set_defaults(handler=cmd_send)
    beat = actions.add_parser("beat", help="run one heartbeat of a thread now")
    add_config(beat)
    beat.add_argument("thread_id", type=int, metavar="ID")
    beat.set_defaults(handler=cmd_beat)


def _engine(settings: Settings) -> Engine:
    from clawtui.engine.core import Engine

    return Engine(settings)


def _age(ts: float | None, now: float) -> str:
    if ts is None:
        return "never"
    secs = max(0, int(now - ts))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def status_json(s: ThreadStatus) -> dict[str, Any]:
    data: dict[str, Any] = s.model_dump(mode="json")
    hb = data["heartbeat"]
    data["tiers"] = {t["tier"]: t for t in hb["tiers"]}
    return data


def cmd_ls(args: argparse.Namespace, settings: Settings) -> int:
    threads = _engine(settings).threads
    threads.scan()
    asyncio.run(threads.refresh_repos())
    rows = threads.statuses()
    if threads.registry_problem:
        print(f"warning: {threads.registry_problem}", file=sys.stderr)
    if args.json:
        print_json([status_json(s) for s in rows])
        return EXIT_OK
    if not rows:
        print(f"no threads: add [[threads.threads]] to config.toml or {threads.threads_json}")
        return EXIT_OK
    now = time.time()
    print(
        f"{'ID':>4}  {'NAME':<16} {'BRANCH':<14} {'DIRTY':>5} {'+/-':>7} {'IN/OUT':>7} "
        f"{'QUICK':>6} {'HOURLY':>6} {'DAILY':>6} {'LIVE':<9} CWD"
    )
    for s in rows:
        repo = s.repo
        branch = (repo.branch or "-") if repo and repo.is_repo else "-"
        ab = f"{repo.ahead}/{repo.behind}" if repo and repo.ahead is not None else "-"
        tiers = {t.tier: t for t in s.heartbeat.tiers}
        flags = "!" * bool(s.heartbeat.urgent_flags)
        print(
            f"{s.thread.id:>4}  {s.thread.name[:16]:<16} {branch[:14]:<14} "
            f"{repo.dirty if repo else 0:>5} {ab:>7} {s.queue_in:>3}/{s.queue_out:<3} "
            f"{_age(tiers['quick'].last, now):>6} {_age(tiers['hourly'].last, now):>6} "
            f"{_age(tiers['daily'].last, now):>6} {s.heartbeat.liveness + flags:<9} "
            f"{s.thread.cwd or '-'}"
        )
    return EXIT_OK


def cmd_send(args: argparse.Namespace, settings: Settings) -> int:
    from clawtui.engine.api.threads import QueueError, ThreadError

    threads = _engine(settings).threads
    try:
        msg = asyncio.run(threads.send(args.thread_id, args.text, sender=args.sender))
    except ThreadError as exc:
        raise UsageError(exc, prefix="error") from None
    except QueueError as exc:
        raise CommandError(exc, prefix="error") from None
    print(f"queued {msg.messageId} for thread {args.thread_id} in {threads.queue.queue}")
    return EXIT_OK


def cmd_beat(args: argparse.Namespace, settings: Settings) -> int:
    from clawtui.engine.api.threads import ThreadError

    threads = _engine(settings).threads
    threads.scan()
    try:
        threads.info(args.thread_id)
    except ThreadError as exc:
        raise UsageError(exc, prefix="error") from None
    asyncio.run(threads.run_beat(args.thread_id))
    status = threads.status(args.thread_id)
    print(status.heartbeat.last_reply or "(no reply)")
    return EXIT_OK
