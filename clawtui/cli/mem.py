"""`clawtui mem`: change containers' memory limits from a shell, and read the change history.

    clawtui mem set NAME SIZE [NAME SIZE ...] [--dry-run] [--yes-below-usage] [--json]
    clawtui mem history [--limit N] [--json]

`set` starts an engine in this process (the same rules, locks and history as the TUI and the
API; the host lock is a file lock, so it also waits for a `clawtui serve` applying a batch on
the same host), validates the whole batch against fresh state and applies it all or nothing
on each host (a batch over several hosts is one batch per host; the output says per host what
happened, and the exit code is 0 only when every host applied).
NAME is a container name, a unique id prefix or `host/id`; SIZE is bytes or text like '3g'.
Changes are recorded as made by "cli".

Exit codes: 0 applied (or, with --dry-run, would apply); 1 refused or failed (nothing is left
half-changed unless the table says rollback_failed); 2 bad input (arguments, unknown names).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from clawtui.cli._common import (
    EXIT_FAIL,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    UsageError,
    format_table,
    print_json,
    printable,
)
from clawtui.config import parse_size

if TYPE_CHECKING:
    from clawtui.config import Settings
    from clawtui.engine.api.memory import ApplyResult, MemoryPlan

WHO = "cli"
_INPUT_ERRORS = frozenset({"unknown_container", "ambiguous", "duplicate", "unknown_host", "empty"})


def register(sub: Any, add_config: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add `mem set` and `mem history` to the `clawtui` parser."""
    mem = sub.add_parser("mem", help="memory limits of devbox and pool containers")
    add_config(mem)
    actions = mem.add_subparsers(dest="mem_command", metavar="ACTION", required=True)

    set_ = actions.add_parser(
        "set",
        help="change memory limits, all or nothing",
        description="Change the memory limits of one or more containers in one batch: "
        "validated against fresh state, applied all or nothing.",
    )
    add_config(set_)
    set_.add_argument(
        "pairs",
        nargs="+",
        metavar="NAME SIZE",
        help="container (name, id prefix or host/id) and its new limit ('3g', '512m', bytes)",
    )
    set_.add_argument(
        "--dry-run", action="store_true", help="validate and show the plan, change nothing"
    )
    set_.add_argument(
        "--yes-below-usage",
        action="store_true",
        help="allow a limit below current use where the kernel would OOM-kill (cgroup v2)",
    )
    set_.add_argument("--json", action="store_true", help="print the result as JSON")
    set_.add_argument(
        "--wait",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how long to wait for the Docker hosts to answer (default 10)",
    )
    set_.set_defaults(handler=cmd_set)

    history = actions.add_parser("history", help="recorded memory limit changes, newest first")
    add_config(history)
    history.add_argument("--limit", type=int, default=20, help="how many rows (default 20)")
    history.add_argument("--json", action="store_true", help="print the rows as JSON")
    history.set_defaults(handler=cmd_history)


# -- input ------------------------------------------------------------------------------------
def parse_pairs(pairs: Sequence[str]) -> dict[str, int]:
    """["dev-a", "3g", "dev-b", "1g"] -> {"dev-a": 3 GiB, ...}; ValueError saying what is wrong."""
    if len(pairs) % 2:
        raise ValueError(
            f"expected NAME SIZE pairs, got {len(pairs)} word(s): {pairs[-1]!r} has no size"
        )
    out: dict[str, int] = {}
    for name, size in zip(pairs[::2], pairs[1::2], strict=True):
        if name in out:
            raise ValueError(f"{name!r} is named twice")
        try:
            out[name] = parse_size(size)
        except ValueError as exc:
            raise ValueError(f"size of {name!r}: {exc}") from None
    return out


def _quiet_logging() -> None:
    level = os.environ.get("CLAWTUI_LOG", "WARNING").upper()
    logging.basicConfig(stream=sys.stderr, level=level, format="%(levelname)s %(message)s")
    for name in ("docker", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)


# -- output -----------------------------------------------------------------------------------
def _size(value: int | None) -> str:
    from clawtui.engine.api.memory import format_bytes

    return format_bytes(value)


_clean = printable


def format_plan(plan: MemoryPlan, result: ApplyResult | None = None) -> str:
    """The per-container table of a plan (and of what happened, when applied)."""
    outcome = {o.check.key: o for o in result.outcomes} if result else {}
    rows = [["CONTAINER", "HOST", "OLD", "NEW", "IN USE", "VERDICT", "RESULT", "REASON"]]
    for c in plan.checks:
        o = outcome.get(c.key)
        reasons = list(c.reasons)
        if o is not None and o.error:
            reasons.append(o.error)
        if o is not None and o.rollback_error:
            reasons.append(f"rollback: {o.rollback_error}")
        rows.append(
            [
                _clean(c.name),
                c.host,
                _size(c.old_limit),
                _size(c.new_limit),
                _size(c.usage),
                c.verdict.value,
                o.outcome.value if o is not None else "-",
                _clean("; ".join(reasons)),
            ]
        )
    lines = [format_table(rows)] if plan.checks else []
    for b in plan.budgets:
        left = b.budget - b.allocated_after
        rest = f"{_size(left)} left" if left > 0 else "none left"
        if left < 0:
            rest = f"{_size(-left)} too much"
        lines.append(
            f"host {b.host}: {_size(b.allocated_after)} of a {_size(b.budget)} budget allocated "
            f"after the batch ({rest})"
        )
    for e in plan.errors:
        lines.append(f"error: {_clean(e.message)}")
    if result is not None and len(result.hosts) > 1:
        for h in result.hosts:
            why = f": {_clean(h.reason)}" if h.reason else ""
            lines.append(f"host {h.host}: {h.state.value.replace('_', ' ')}{why}")
    return "\n".join(lines)


def _exit_code(plan: MemoryPlan, result: ApplyResult | None) -> int:
    if any(e.code.value in _INPUT_ERRORS for e in plan.errors):
        return EXIT_USAGE
    if result is not None:
        return EXIT_OK if result.ok else EXIT_FAIL
    return EXIT_OK if plan.ok else EXIT_FAIL


# -- commands ---------------------------------------------------------------------------------
async def _set(
    settings: Settings, changes: dict[str, int], *, dry_run: bool, confirm: bool, wait: float
) -> tuple[MemoryPlan, ApplyResult | None]:
    from clawtui.engine.core import Engine

    engine = Engine(settings)
    await engine.start()
    try:
        await engine.wait_online(wait)
        if dry_run:
            plan = await engine.memory.plan(changes, who=WHO, confirm_below_usage=confirm)
            return plan, None
        result = await engine.memory.apply(changes, who=WHO, confirm_below_usage=confirm)
        return result.plan, result
    finally:
        await engine.stop()


def cmd_set(args: argparse.Namespace, settings: Settings) -> int:
    try:
        changes = parse_pairs(args.pairs)
    except ValueError as exc:
        raise UsageError(exc, prefix="clawtui mem set") from None
    _quiet_logging()
    plan, result = asyncio.run(
        _set(
            settings,
            changes,
            dry_run=args.dry_run,
            confirm=args.yes_below_usage,
            wait=args.wait,
        )
    )
    if args.json:
        print_json((result or plan).model_dump(mode="json"), ensure_ascii=False)
    else:
        print(format_plan(plan, result))
        if result is None:
            print("dry run: would apply" if plan.ok else "dry run: would be refused")
        elif result.ok:
            print(f"applied (batch {result.batch_id})")
        else:
            print(f"{result.state.value.replace('_', ' ')}: {_clean(result.summary())}")
    return _exit_code(plan, result)


_HISTORY = "clawtui mem history"


def cmd_history(args: argparse.Namespace, settings: Settings) -> int:
    from clawtui.engine.core import Engine, StoreError, open_store

    if not 1 <= args.limit <= 10_000:
        raise UsageError("--limit must be 1-10000", prefix=_HISTORY)
    store = open_store(settings.engine.db_path)
    try:
        store.open()
        # The engine is not started: its memory capability only reads the opened store.
        rows = asyncio.run(Engine(settings, store=store).memory.history(args.limit))
    except StoreError as exc:
        raise CommandError(exc, prefix=_HISTORY) from None
    finally:
        store.close()
    if args.json:
        print_json([r.model_dump(mode="json") for r in rows], ensure_ascii=False)
        return EXIT_OK
    if not rows:
        print("no memory changes recorded yet")
        return EXIT_OK
    table = [["TIME", "BY", "HOST", "CONTAINER", "OLD", "NEW", "OUTCOME", "BATCH", "REASON"]]
    for r in rows:
        when = datetime.fromtimestamp(r.ts).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        table.append(
            [
                when,
                r.who,
                r.host,
                _clean(r.name),
                _size(r.old_limit),
                _size(r.new_limit),
                r.outcome.value,
                r.batch_id,
                _clean(r.reason or ""),
            ]
        )
    print(format_table(table))
    return EXIT_OK
