"""`clawtui relay` and `clawtui webhook`: the relay's routes and a test of the CI webhook.

    clawtui relay routes [--json]          the whitelist in effect, and the agents
    clawtui relay add FROM TO [--note T]   allow a path (written to the runtime settings file)
    clawtui relay rm FROM TO               refuse a path from now on
    clawtui webhook test [--url URL] [--result failed|succeeded|...]
                                           POST the seed's §10.8 test payload to the service

`add` / `rm` write the whole `relay.routes` list to the runtime settings file, like the TUI;
a running `clawtui serve` reads it at its next start (the TUI's Ingress panel changes a
running engine at once). `webhook test` sends with the first accepted secret of `[webhook]`
and a fresh notification id, so each test is a new delivery, and prints the answer.

Exit codes: 0 ok; 1 the service refused or could not be reached; 2 bad input or config.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from clawtui.cli._common import EXIT_FAIL, EXIT_OK, CommandError, UsageError, print_json

if TYPE_CHECKING:
    from clawtui.config import Settings

_RELAY, _WEBHOOK = "clawtui relay", "clawtui webhook"

TEST_PAYLOAD: dict[str, Any] = {
    "eventType": "build.complete",
    "resource": {
        "id": 99999,
        "buildNumber": "20260302.1",
        "result": "failed",
        "sourceBranch": "refs/heads/feature/test-webhook",
        "sourceVersion": "abc1234def5678",
        "definition": {"name": "Forma3D.Connect CI"},
        "_links": {
            "web": {"href": "https://dev.azure.com/devgem/forma-3d/_build/results?buildId=99999"}
        },
    },
}


def register(sub: Any, add_config: Callable[[argparse.ArgumentParser], None]) -> None:
    relay = sub.add_parser("relay", help="the inter-agent relay's routes")
    add_config(relay)
    actions = relay.add_subparsers(dest="relay_command", metavar="ACTION", required=True)
    routes = actions.add_parser("routes", help="list the allowed paths and the agents")
    add_config(routes)
    routes.add_argument("--json", action="store_true", help="print JSON")
    routes.set_defaults(handler=cmd_routes)
    add = actions.add_parser("add", help="allow a path FROM → TO")
    add_config(add)
    add.add_argument("sender", metavar="FROM")
    add.add_argument("to", metavar="TO")
    add.add_argument("--note", default="", help="what the path is used for")
    add.set_defaults(handler=cmd_add)
    rm = actions.add_parser("rm", help="refuse a path FROM → TO from now on")
    add_config(rm)
    rm.add_argument("sender", metavar="FROM")
    rm.add_argument("to", metavar="TO")
    rm.set_defaults(handler=cmd_rm)

    webhook = sub.add_parser("webhook", help="the Azure DevOps build webhook")
    add_config(webhook)
    wactions = webhook.add_subparsers(dest="webhook_command", metavar="ACTION", required=True)
    test = wactions.add_parser("test", help="send the seed's test payload to the service")
    add_config(test)
    test.add_argument("--url", help="service base URL (default: from [service] listen)")
    test.add_argument(
        "--result",
        default="failed",
        choices=["failed", "partiallySucceeded", "succeeded", "canceled"],
        help="build result to send (default failed)",
    )
    test.set_defaults(handler=cmd_test)


def cmd_routes(args: argparse.Namespace, settings: Settings) -> int:
    relay = settings.relay
    if args.json:
        print_json(
            {
                "routes": [r.as_toml() for r in relay.routes],
                "agents": [
                    {
                        "name": a.name,
                        "thread_id": a.thread_id,
                        "has_secret": a.resolved_secret() is not None,
                    }
                    for a in relay.agents
                ],
            }
        )
        return EXIT_OK
    if not relay.routes:
        print("no relay routes: every relay message is refused (add one with `clawtui relay add`)")
    for route in relay.routes:
        note = f"  ({route.note})" if route.note else ""
        print(f"{route.sender} → {route.to}{note}")
    for agent in relay.agents:
        secret = "secret set" if agent.resolved_secret() else "NO SECRET: cannot send"
        print(f"agent {agent.name}: thread {agent.thread_id}, {secret}")
    for problem in relay.route_problems():
        print(f"warning: {problem}", file=sys.stderr)
    return EXIT_OK


def _save(settings: Settings, routes: list[dict[str, str]]) -> int:
    from clawtui.config import ConfigError, save_runtime_settings

    try:
        path = save_runtime_settings({"relay": {"routes": routes}}, state_file=settings.state_file)
    except (ConfigError, OSError) as exc:
        raise UsageError(f"cannot save the routes: {exc}", prefix=_RELAY) from None
    print(f"saved in {path}; a running `clawtui serve` reads it at its next start")
    return EXIT_OK


def cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    names = {a.name for a in settings.relay.agents}
    for name in (args.sender, args.to):
        if name not in names:
            known = ", ".join(sorted(names)) or "none"
            raise UsageError(
                f"unknown agent {name!r} (known: {known}); add it under "
                "[[relay.agents]] in config.toml",
                prefix=_RELAY,
            )
    routes = [r.as_toml() for r in settings.relay.routes]
    if any(r["from"] == args.sender and r["to"] == args.to for r in routes):
        print(f"{args.sender} → {args.to} is already allowed")
        return EXIT_OK
    new = {"from": args.sender, "to": args.to}
    if args.note:
        new["note"] = args.note
    return _save(settings, [*routes, new])


def cmd_rm(args: argparse.Namespace, settings: Settings) -> int:
    routes = [r.as_toml() for r in settings.relay.routes]
    kept = [r for r in routes if not (r["from"] == args.sender and r["to"] == args.to)]
    if len(kept) == len(routes):
        raise UsageError(f"there is no route {args.sender} → {args.to}", prefix=_RELAY)
    return _save(settings, kept)


def cmd_test(args: argparse.Namespace, settings: Settings) -> int:
    secrets = settings.webhook.resolved_secrets()
    if not secrets:
        raise UsageError(
            "no secret configured: set [webhook] secrets_env or secret_files", prefix=_WEBHOOK
        )
    if args.url:
        base = args.url.rstrip("/")
    else:
        host, port = settings.service.host_port
        host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        base = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    payload = json.loads(json.dumps(TEST_PAYLOAD))
    payload["resource"]["result"] = args.result
    payload["notificationId"] = int(time.time() * 1000)
    request = urllib.request.Request(
        base + "/webhook/azure-devops",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "x-webhook-secret": secrets[0]},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as resp:
            status, body = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        raise CommandError(
            f"cannot reach {base}: {exc} (is `clawtui serve` running? pass --url)",
            prefix=_WEBHOOK,
        ) from None
    print(f"HTTP {status}: {body.decode('utf-8', 'replace')[:2000]}")
    return EXIT_OK if 200 <= status < 300 else EXIT_FAIL
