"""`clawtui incidents ACTION`: move a health incident along its loop (seed 002 §12).

    clawtui incidents pr-ready ID [--pr-url URL] [--json]    the dev agent opened a PR
    clawtui incidents restarting ID [--note TEXT] [--json]   the fix did not hold
    clawtui incidents hand-off ID [--thread N] [--json]      the report to a dev agent's thread

(`clawtui incidents [--open] [--json]` without an action lists them, see escalate.py.) With
`clawtui --connect URL` they go through a running `clawtui serve`; without, through the
engine's store in this process. Each transition is notified once. Exit codes: 0 ok; 1 refused
(e.g. an incident not in a state that allows it); 2 bad input or no such incident.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from clawtui.cli._common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, CommandError, print_json

if TYPE_CHECKING:
    from clawtui.config import Settings
    from clawtui.engine.core import Engine


def register_actions(
    inc: argparse.ArgumentParser, add_config: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Add the actions under the `incidents` parser (escalate.py owns the listing)."""
    actions = inc.add_subparsers(dest="incidents_command", metavar="ACTION", required=False)
    ready = actions.add_parser("pr-ready", help="a PR with the fix is open (notified once)")
    add_config(ready)
    ready.add_argument("id", type=int)
    ready.add_argument("--pr-url", help="link to the PR")
    ready.add_argument("--json", action="store_true")
    ready.set_defaults(handler=cmd_pr_ready)
    again = actions.add_parser(
        "restarting", help="the fix did not hold: restart the loop (notified once)"
    )
    add_config(again)
    again.add_argument("id", type=int)
    again.add_argument("--note", help="what failed (added to the report's evidence)")
    again.add_argument("--json", action="store_true")
    again.set_defaults(handler=cmd_restarting)
    hand = actions.add_parser("hand-off", help="put the report into a dev agent's thread queue")
    add_config(hand)
    hand.add_argument("id", type=int)
    hand.add_argument(
        "--thread", type=int, dest="thread_id", help="thread id (default: fix_thread_id)"
    )
    hand.add_argument("--json", action="store_true")
    hand.set_defaults(handler=cmd_hand_off)


async def _run(
    args: argparse.Namespace,
    settings: Settings,
    path: str,
    body: dict[str, Any],
    local: Callable[[Engine], Any],
) -> Any:
    from clawtui.cli.escalate import _http, _local
    from clawtui.engine.api.escalations import IncidentError

    if getattr(args, "connect", None):
        return await _http(args, "POST", f"/api/v1/incidents/{args.id}/{path}", body)

    async def guarded(engine: Engine) -> Any:
        try:
            return (await local(engine)).model_dump(mode="json")
        except IncidentError as exc:
            raise CommandError(exc, code=EXIT_USAGE if exc.status == 404 else EXIT_FAIL) from None

    return await _local(settings, guarded)


def _done(args: argparse.Namespace, data: dict[str, Any], text: str) -> int:
    if args.json:
        print_json(data, ensure_ascii=False)
    else:
        print(text)
    return EXIT_OK


def cmd_pr_ready(args: argparse.Namespace, settings: Settings) -> int:
    body = {"pr_url": args.pr_url} if args.pr_url else {}
    data = asyncio.run(
        _run(args, settings, "pr_ready", body,
             lambda e: e.incidents.mark_pr_ready(args.id, args.pr_url))
    )  # fmt: skip
    return _done(args, data, f"incident #{data['id']} {data['state']}")


def cmd_restarting(args: argparse.Namespace, settings: Settings) -> int:
    body = {"note": args.note} if args.note else {}
    data = asyncio.run(
        _run(args, settings, "restarting", body,
             lambda e: e.incidents.mark_restarting(args.id, args.note))
    )  # fmt: skip
    return _done(args, data, f"incident #{data['id']} {data['state']}")


def cmd_hand_off(args: argparse.Namespace, settings: Settings) -> int:
    body = {"thread_id": args.thread_id} if args.thread_id is not None else {}
    data = asyncio.run(
        _run(args, settings, "hand_off", body,
             lambda e: e.incidents.hand_off(args.id, args.thread_id))
    )  # fmt: skip
    return _done(
        args,
        data,
        f"incident #{data['incident_id']} handed to thread {data['thread_id']} "
        f"({data['message_id']})",
    )
