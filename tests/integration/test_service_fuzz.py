"""Seeded fuzzing of every body-taking route of the service (issue 20 item 10).

Every POST / PUT / PATCH / DELETE route is enumerated from the app's router (a new route is
fuzzed without editing this file), and each gets REQUESTS_PER_ROUTE requests mutated from a
valid body: bit flips, truncation, re-typed fields, odd unicode, huge numbers, deep nesting,
and odd path parameters. The generator is `random.Random` seeded per route, so a run is the
same on every machine and a failure names the seed, route and request number to replay it.

A real engine (ingress, one thread, its one Docker host offline) behind a real service over
loopback. No answer may be a 5xx, except a 503 that carries Retry-After.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tests.integration.body_helpers import ThreadedService, body_routes, secret_headers
from tests.integration.ingress_helpers import fixture

pytestmark = pytest.mark.integration

SEED = 20_10
REQUESTS_PER_ROUTE = 150

# A valid body per route (path parameters as "1"); routes not listed take `{}`.
VALID: dict[str, Any] = {
    "/api/v1/escalations": {
        "agent": "ryan",
        "thread_id": 1,
        "doing": "a build",
        "tried": ["retry"],
        "need": "a decision",
        "proposed_fix": "pin it",
        "detail": "trace",
        "severity": "high",
        "dedupe_key": "k",
    },
    "/api/v1/escalations/1/decision": {"action": "approve", "text": "ok", "by": "me"},
    "/api/v1/escalations/1/resolve": {"note": "done"},
    "/api/v1/incidents/1/pr_ready": {"pr_url": "https://example.invalid/pr/1"},
    "/api/v1/memory/plan": {"changes": {"web": "1g", "db": 536870912}},
    "/api/v1/memory/apply": {"changes": {"web": "1g"}, "confirm_below_usage": False},
    "/api/v1/threads/1/messages": {"text": "hello", "sender": "api"},
    "/api/v1/tenants/1/claim": {"pool": "p", "config": {"a": 1}, "secrets": {"s": "v"}},
    "/api/v1/tenants/1/release": {"sync": True, "force": False},
    "/api/v1/tenants/1/sync": {"direction": "upload"},
    "/api/v1/pools/1/scale": {"min_warm": 1},
    "/api/v1/devboxes": {
        "name": "box",
        "pubkey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDum x",
        "memory": "1g",
        "cpus": 1,
        "port": 2222,
        "host": "local",
        "sudo": False,
    },
    "/api/v1/devboxes/1/tmux/run": {"command": ["ls"], "session": "main", "cwd": "/"},
    "/api/v1/devboxes/1/tmux/send": {"text": "hi", "session": "main", "keys": False},
    "/api/v1/tmux/broadcast": {"containers": ["box"], "text": "hi"},
    "/api/v1/relay/routes": {"from": "ryan", "to": "sam", "note": "n"},
    "/relay": {"from": "ryan", "to": "cody", "message": "hello"},
}

ODD_TEXT = [
    "",
    " ",
    "\x00",
    "\ud800",
    "x\udfffy",
    "‮evil",
    "💥" * 100,
    "[bold]x[/]",
    "\x1b[31mred",
    "../../etc/passwd",
    "a" * 70_000,
    "null",
    "9" * 30,
]
HUGE = [2**63, -(2**63) - 1, 2**64, 10**30, -1, 0, 2**63 - 1, 1e308, -1e308, 1e-320]


def _retype(rnd: random.Random, depth: int = 0) -> Any:
    kind = rnd.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rnd.choice([True, False])
    if kind == 2:
        return rnd.choice(HUGE)
    if kind == 3:
        return rnd.choice(ODD_TEXT)
    if kind == 4:
        return rnd.randint(-5, 5)
    if kind == 5:
        return rnd.random() * 10
    if kind == 6:
        return [_retype(rnd, depth + 1) for _ in range(rnd.randrange(4))]
    if kind == 7:
        return {rnd.choice(ODD_TEXT)[:20]: _retype(rnd, depth + 1) for _ in range(rnd.randrange(3))}
    return {"x": _retype(rnd, depth + 1)}


def _nest(rnd: random.Random) -> Any:
    value: Any = rnd.choice([1, "x", None])
    for _ in range(rnd.randrange(60, 300)):
        value = [value] if rnd.random() < 0.5 else {"k": value}
    return value


def _dumps(data: Any) -> bytes:
    """JSON with \\u escapes (they carry lone surrogates through, as JSON allows)."""
    return json.dumps(data).encode()


def mutate(rnd: random.Random, valid: Any) -> bytes:
    """One mutated body from `valid`."""
    kind = rnd.randrange(9)
    data = json.loads(json.dumps(valid))
    if kind == 0:  # bit flips
        raw = bytearray(_dumps(data))
        for _ in range(rnd.randrange(1, 6)):
            if raw:
                raw[rnd.randrange(len(raw))] ^= 1 << rnd.randrange(8)
        return bytes(raw)
    if kind == 1:  # truncation
        raw = _dumps(data)
        return raw[: rnd.randrange(len(raw) + 1)]
    if kind in (2, 3) and isinstance(data, dict) and data:  # re-typed fields
        for key in rnd.sample(sorted(data), rnd.randrange(1, len(data) + 1)):
            data[key] = _retype(rnd)
        return _dumps(data)
    if kind == 4 and isinstance(data, dict):  # odd unicode everywhere a string is
        return _dumps(
            {k: rnd.choice(ODD_TEXT) if isinstance(v, str) else v for k, v in data.items()}
        )
    if kind == 5 and isinstance(data, dict):  # huge numbers
        key = rnd.choice(sorted(data) or ["x"])
        data[key] = rnd.choice(HUGE)
        raw = _dumps(data)
        if rnd.random() < 0.3:  # numbers JSON allows but no 64-bit type holds
            raw = raw.replace(b"1", b"1" + b"0" * rnd.randrange(20, 5000), 1)
        return raw
    if kind == 6:  # deep nesting, in a field or as the whole body
        if isinstance(data, dict) and data and rnd.random() < 0.7:
            data[rnd.choice(sorted(data))] = _nest(rnd)
            return _dumps(data)
        depth = rnd.randrange(60, 6000)
        return b"[" * depth + b"]" * depth
    if kind == 7:  # extra and unknown fields
        if isinstance(data, dict):
            data[rnd.choice(ODD_TEXT)[:30]] = _retype(rnd)
        return _dumps(data)
    return _dumps(_retype(rnd))  # anything at all


def mutate_path(rnd: random.Random, path: str, template: str) -> str:
    """Sometimes put an odd value into a path parameter."""
    if rnd.random() > 0.2:
        return path
    if "{" not in template:
        return path
    odd = rnd.choice(["0", "-1", str(2**63), "9" * 40, "\U0001f4a5", "a b", "..", "%00", "x" * 300])
    return re.sub(r"\{[^}]+\}", "1", re.sub(r"\{[^}]+\}", quote(odd, safe=""), template, count=1))


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedService]:
    srv = ThreadedService(tmp_path_factory.mktemp("service-fuzz"))
    srv.start()
    yield srv
    srv.stop()


def _templates(service: ThreadedService) -> dict[str, str]:
    assert service.app is not None
    found: dict[str, str] = {}
    for route in service.app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        template = str(info.get("path") or info.get("formatter") or "")
        found[re.sub(r"\{[^}]+\}", "1", template)] = template
    return found


def test_every_body_route_survives_seeded_fuzzing(service: ThreadedService) -> None:
    assert service.app is not None
    routes = body_routes(service.app)
    templates = _templates(service)
    assert len(routes) > 20, routes
    valid_bodies = {**VALID, "/webhook/azure-devops": fixture("build_complete_failed.json")}
    failures: list[str] = []
    for method, path in routes:
        rnd = random.Random(f"{SEED}:{method}:{path}")
        valid = valid_bodies.get(path, {})
        headers = secret_headers(path)
        for number in range(REQUESTS_PER_ROUTE):
            body = mutate(rnd, valid)
            target = mutate_path(rnd, path, templates.get(path, path))
            status, answer_headers, answer = service.request(method, target, body, headers)
            if status >= 500 and not (status == 503 and "Retry-After" in answer_headers):
                failures.append(
                    f"{method} {target} #{number} (seed {SEED}): {status} {answer[:200]!r} "
                    f"for {body[:120]!r}"
                )
    assert not failures, "\n".join(failures[:20]) + f"\n({len(failures)} in all)"
    # Still whole afterwards: a good request goes through.
    body = json.dumps(VALID["/api/v1/threads/1/messages"]).encode()
    status, _, answer = service.request(
        "POST", "/api/v1/threads/1/messages", body, secret_headers("/api/v1/threads/1/messages")
    )
    assert status == 201, answer


def test_the_fuzzer_is_deterministic() -> None:
    """The same seed gives the same requests (so CI runs are the same everywhere)."""
    first = [mutate(random.Random("s"), VALID["/api/v1/escalations"]) for _ in range(50)]
    again = [mutate(random.Random("s"), VALID["/api/v1/escalations"]) for _ in range(50)]
    assert first == again
