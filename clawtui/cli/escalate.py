"""`clawtui escalate`, `clawtui escalations`, `clawtui incidents`, `clawtui brief`.

    clawtui escalate --agent A --doing TEXT [--tried TEXT ...] --need TEXT [--fix TEXT]
                     [--thread N] [--severity low|medium|high|critical] [--detail TEXT]
                     [--dedupe-key K] [--json]
    clawtui escalations list [--status S] [--json]
    clawtui escalations decide ID approve|skip|modify [--text TEXT] [--by NAME] [--why TEXT]
        [--json]
    clawtui escalations resolve ID [--note TEXT]
    clawtui incidents [--open] [--json]
    clawtui incidents pr-ready|restarting|hand-off ID ...   (see incidents.py)
    clawtui brief [--date YYYY-MM-DD] [--preview] [--json]

With `clawtui --connect URL [--token T]` the commands talk to a running `clawtui serve` over its
API (what agents in containers use); without it they open the engine's store in this process
(same rules; a running TUI or service sees the change on its next read, not as an event).

Exit codes: 0 ok; 1 refused or failed (e.g. a decision on an escalation no longer pending, the
service unreachable); 2 bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from clawtui.cli._common import (
    EXIT_FAIL,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    UsageError,
    print_json,
    print_rows,
    printable,
)

if TYPE_CHECKING:
    from clawtui.config import Settings
    from clawtui.engine.core import Engine


def register(sub: Any, add_config: Callable[[argparse.ArgumentParser], None]) -> None:
    esc = sub.add_parser(
        "escalate",
        help="raise an escalation: an agent needs a human decision",
        description="Raise an escalation (seed stuck protocol: doing / tried / need).",
    )
    add_config(esc)
    esc.add_argument("--agent", required=True, help="the agent raising it")
    esc.add_argument("--doing", required=True, help="what the agent was doing")
    esc.add_argument("--tried", action="append", default=[], help="what it tried (repeat for each)")
    esc.add_argument("--need", required=True, help="what it needs from a human")
    esc.add_argument("--fix", dest="proposed_fix", help="the proposed fix to approve")
    esc.add_argument("--thread", type=int, dest="thread_id", help="TinyClaw thread id")
    esc.add_argument("--severity", choices=["low", "medium", "high", "critical"], default="medium")
    esc.add_argument("--detail", help="raw evidence (stack trace, log excerpt)")
    esc.add_argument("--dedupe-key", help="while one with this key is pending, reuse it")
    esc.add_argument("--json", action="store_true", help="print the escalation as JSON")
    esc.set_defaults(handler=cmd_escalate)

    group = sub.add_parser("escalations", help="list and decide escalations")
    add_config(group)
    actions = group.add_subparsers(dest="escalations_command", metavar="ACTION", required=True)
    lst = actions.add_parser("list", help="pending first, oldest first")
    add_config(lst)
    lst.add_argument("--status", choices=["pending", "approved", "skipped", "modified", "resolved"])
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=cmd_list)
    dec = actions.add_parser("decide", help="approve, skip or modify a pending escalation")
    add_config(dec)
    dec.add_argument("id", type=int)
    dec.add_argument("action", choices=["approve", "skip", "modify"])
    dec.add_argument("--text", help="modify: the fix to apply instead; else a note")
    dec.add_argument("--by", default="cli", help="who decides (default: cli)")
    dec.add_argument("--why", help="why (logged in the knowledge base's decisions.md)")
    dec.add_argument("--json", action="store_true")
    dec.set_defaults(handler=cmd_decide)
    res = actions.add_parser("resolve", help="mark an escalation resolved")
    add_config(res)
    res.add_argument("id", type=int)
    res.add_argument("--note")
    res.add_argument("--json", action="store_true")
    res.set_defaults(handler=cmd_resolve)

    inc = sub.add_parser("incidents", help="health incidents, open first")
    add_config(inc)
    inc.add_argument("--open", action="store_true", help="only the open ones")
    inc.add_argument("--json", action="store_true")
    inc.set_defaults(handler=cmd_incidents)
    from clawtui.cli.incidents import register_actions

    register_actions(inc, add_config)

    brief = sub.add_parser("brief", help="print the morning brief")
    add_config(brief)
    brief.add_argument("--date", help="the day, YYYY-MM-DD (default: the newest kept)")
    brief.add_argument(
        "--preview", action="store_true", help="build it now from current state (not sent)"
    )
    brief.add_argument("--json", action="store_true")
    brief.set_defaults(handler=cmd_brief)


# -- transport ---------------------------------------------------------------------------------
async def _http(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    import aiohttp

    token = getattr(args, "token", None) or os.environ.get("CLAWTUI_API_TOKEN", "")
    url = str(args.connect).rstrip("/") + path
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
            session.request(method, url, json=body, headers=headers) as resp,
        ):
            try:
                data = await resp.json(content_type=None)
            except ValueError:
                data = {"error": (await resp.text())[:300]}
            if resp.status >= 400:
                message = data.get("error") if isinstance(data, dict) else None
                code = EXIT_USAGE if resp.status in (400, 404, 413) else EXIT_FAIL
                text = f"{url}: HTTP {resp.status}: {message or resp.reason}"
                raise CommandError(text, code=code)
            return data
    except aiohttp.ClientError as exc:
        raise CommandError(f"{url}: {exc} (is `clawtui serve` running there?)") from exc


async def _local(settings: Settings, fn: Callable[[Engine], Any]) -> Any:
    from clawtui.engine.core import Engine

    engine = Engine(settings)
    await asyncio.to_thread(engine.store.open)
    try:
        return await fn(engine)
    finally:
        await engine.activity(limit=1)  # flush the activity log
        await engine.notifier.aclose()
        await asyncio.to_thread(engine.store.close)


def _clean(text: str) -> str:
    return printable(text, keep_newlines=True)


def _print_escalation(e: dict[str, Any]) -> None:
    print(f"#{e['id']} [{e['status']}] {e['severity']} {_clean(e['agent'])} ({e['source']})")
    print(f"  doing: {_clean(e['doing'])}")
    for t in e.get("tried") or []:
        print(f"  tried: {_clean(t)}")
    print(f"  need:  {_clean(e['need'])}")
    if e.get("proposed_fix"):
        print(f"  fix:   {_clean(e['proposed_fix'])}")
    if e.get("decision"):
        print(f"  decision: {_clean(e['decision'])} (by {e.get('decided_by')})")


# -- commands ----------------------------------------------------------------------------------
def cmd_escalate(args: argparse.Namespace, settings: Settings) -> int:
    from pydantic import ValidationError

    from clawtui.engine.api.escalations import NewEscalation

    fields = {
        "agent": args.agent,
        "doing": args.doing,
        "tried": args.tried,
        "need": args.need,
        "proposed_fix": args.proposed_fix,
        "thread_id": args.thread_id,
        "severity": args.severity,
        "detail": args.detail,
        "dedupe_key": args.dedupe_key,
    }
    fields = {k: v for k, v in fields.items() if v is not None}
    try:
        new = NewEscalation.model_validate(fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UsageError(f"--{err['loc'][0]}: {err['msg']}", prefix="clawtui escalate") from None

    async def go() -> Any:
        if getattr(args, "connect", None):
            return await _http(args, "POST", "/api/v1/escalations", new.model_dump(mode="json"))

        async def local(engine: Engine) -> Any:
            return (await engine.escalations.raise_(new)).model_dump(mode="json")

        return await _local(settings, local)

    data = asyncio.run(go())
    if args.json:
        print_json(data, ensure_ascii=False)
    else:
        print(f"escalation #{data['id']} raised ({data['status']})")
    return EXIT_OK


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    async def go() -> Any:
        if getattr(args, "connect", None):
            query = f"?status={args.status}" if args.status else ""
            return (await _http(args, "GET", f"/api/v1/escalations{query}"))["escalations"]

        async def local(engine: Engine) -> Any:
            from clawtui.engine.api.escalations import Status

            status = Status(args.status) if args.status else None
            rows = await engine.escalations.find(status=status)
            return [e.model_dump(mode="json") for e in rows]

        return await _local(settings, local)

    rows = asyncio.run(go())
    print_rows(rows, args.json, "no escalations", _print_escalation, ensure_ascii=False)
    return EXIT_OK


_DECIDE = "clawtui escalations decide"


def cmd_decide(args: argparse.Namespace, settings: Settings) -> int:
    from pydantic import ValidationError

    from clawtui.engine.api.escalations import Decision, EscalationError

    body = {"action": args.action, "by": args.by}
    if args.text:
        body["text"] = args.text
    if getattr(args, "why", None):
        body["why"] = args.why
    try:
        decision = Decision.model_validate(body)
    except ValidationError as exc:
        raise UsageError(exc.errors()[0]["msg"], prefix=_DECIDE) from None
    if decision.action.value == "modify" and not decision.text:
        raise UsageError("modify needs --text (the fix to apply instead)", prefix=_DECIDE)

    async def go() -> Any:
        if getattr(args, "connect", None):
            path = f"/api/v1/escalations/{args.id}/decision"
            return await _http(args, "POST", path, decision.model_dump(mode="json"))

        async def local(engine: Engine) -> Any:
            try:
                return (await engine.escalations.decide(args.id, decision)).model_dump(mode="json")
            except EscalationError as exc:
                raise CommandError(
                    exc, code=EXIT_USAGE if exc.status in (400, 404) else EXIT_FAIL
                ) from None

        return await _local(settings, local)

    data = asyncio.run(go())
    if args.json:
        print_json(data, ensure_ascii=False)
    else:
        where = (
            f"delivered to thread {data['thread_id']} as {data['delivered_message_id']}"
            if data.get("delivered_message_id")
            else "recorded (no thread to deliver to)"
        )
        print(f"escalation #{data['id']} {data['status']}: {where}")
    return EXIT_OK


def cmd_resolve(args: argparse.Namespace, settings: Settings) -> int:
    from clawtui.engine.api.escalations import EscalationError

    async def go() -> Any:
        if getattr(args, "connect", None):
            body = {"note": args.note} if args.note else {}
            return await _http(args, "POST", f"/api/v1/escalations/{args.id}/resolve", body)

        async def local(engine: Engine) -> Any:
            try:
                esc = await engine.escalations.resolve(args.id, note=args.note)
            except EscalationError as exc:
                code = EXIT_USAGE if exc.status == 404 else EXIT_FAIL
                raise CommandError(exc, code=code) from None
            return esc.model_dump(mode="json")

        return await _local(settings, local)

    data = asyncio.run(go())
    if args.json:
        print_json(data)
    else:
        print(f"escalation #{data['id']} resolved")
    return EXIT_OK


def cmd_incidents(args: argparse.Namespace, settings: Settings) -> int:
    async def go() -> Any:
        if getattr(args, "connect", None):
            query = "?open=1" if args.open else ""
            return (await _http(args, "GET", f"/api/v1/incidents{query}"))["incidents"]

        async def local(engine: Engine) -> Any:
            rows = await engine.incidents.find(open_only=args.open)
            return [i.model_dump(mode="json") for i in rows]

        return await _local(settings, local)

    rows = asyncio.run(go())
    print_rows(rows, args.json, "no incidents", lambda i: print(
        f"#{i['id']} [{i['state']}] {i['monitor']} {_clean(i['summary'])}"),
        ensure_ascii=False)  # fmt: skip
    return EXIT_OK


def cmd_brief(args: argparse.Namespace, settings: Settings) -> int:
    if args.date is not None:
        try:
            date.fromisoformat(args.date)
        except ValueError:
            raise UsageError(
                f"--date must be YYYY-MM-DD, got {args.date!r}", prefix="clawtui brief"
            ) from None

    async def go() -> Any:
        if getattr(args, "connect", None):
            query = f"?date={args.date}" if args.date else ""
            if args.preview:
                return await _http(args, "POST", f"/api/v1/brief/preview{query}")
            return await _http(args, "GET", f"/api/v1/brief{query}")

        async def local(engine: Engine) -> Any:
            from clawtui.engine.api.escalations import Brief, brief_json

            brief: Brief | None
            if args.preview:
                brief = await engine.briefs.build(args.date)
            else:
                brief = await (
                    engine.briefs.get(args.date) if args.date else engine.briefs.latest()
                )
                if brief is None:
                    what = f"for {args.date}" if args.date else "yet"
                    raise CommandError(f"no brief kept {what} (try --preview)")
            return brief_json(brief)

        return await _local(settings, local)

    data = asyncio.run(go())
    if args.json:
        print_json(data, ensure_ascii=False)
    else:
        print(_clean(data["text"]), end="")
        if not data["needs_human"]:
            print("(nothing needs you: this brief is not sent)")
    return EXIT_OK
