"""Bad input never gets a 5xx or a crash from the webhook or the relay (hypothesis).

The real service runs in a thread with its own loop; requests go over loopback with
http.client so headers and bodies can be anything: wrong, missing and non-ASCII secrets,
malformed JSON, wrong types, oversize bodies, duplicate keys, deep nesting, markup and ANSI in
names. After every request the service must still answer, and nothing but 2xx / 4xx comes
back.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clawtui.engine.core import Engine
from clawtui.service.runner import ServiceRunner
from tests.integration.ingress_helpers import (
    AGENT_SECRETS,
    WEBHOOK_SECRET,
    fixture,
    ingress_settings,
)

pytestmark = pytest.mark.integration
TOKEN = "t0ken-for-tests-0123456789abcdef"


class Served:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.engine: Engine | None = None
        self._stop: asyncio.Event | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        engine = Engine(ingress_settings(self.tmp, rate_limit=100_000))
        self.engine = engine
        await engine.start()
        runner = ServiceRunner(engine, engine.settings, token=TOKEN, listen=("127.0.0.1", 0))
        await runner.start()
        self.port = runner.port
        self.ready.set()
        await self._stop.wait()
        await runner.stop()
        await engine.stop()

    def stop(self) -> None:
        assert self._stop is not None
        self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(15)

    def request(self, path: str, body: bytes, headers: dict[str, bytes]) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.putrequest("POST", path)
            conn.putheader("Content-Type", "application/json")
            conn.putheader("Content-Length", str(len(body)))
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.endheaders(body)
            resp = conn.getresponse()
            raw = resp.read()
            try:
                return resp.status, json.loads(raw)
            except ValueError:  # aiohttp's own parser refusing a header: plain-text 400
                return resp.status, raw.decode("utf-8", "replace")
        finally:
            conn.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    srv = Served(tmp_path_factory.mktemp("ingress-fuzz"))
    srv.thread.start()
    assert srv.ready.wait(20)
    yield srv
    srv.stop()


NASTY = st.sampled_from(
    [
        "[bold red]x[/]",
        "\x1b[31mred\x1b[0m",
        "\x1b]8;;http://evil\x1b\\x",
        "‮evil",
        "\x00",
        "a" * 5000,
        "💥",
        "</script>",
        "${jndi:x}",
        "../../etc/passwd",
        "\ud800",
        "x\udfffy",
        "null",
        "",
    ]
)
TEXT = st.one_of(st.text(max_size=200), NASTY)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)


def _secret_values(good: str) -> st.SearchStrategy[bytes | None]:
    return st.one_of(
        st.none(),
        st.just(good.encode()),
        st.binary(min_size=1, max_size=64).filter(lambda b: b"\r" not in b and b"\n" not in b),
        st.text(min_size=1, max_size=40)
        .map(lambda t: t.encode("utf-8"))
        .filter(lambda b: b"\r" not in b and b"\n" not in b and b"\x00" not in b),
        st.just("sécret-ünïcode".encode()),
        st.just(good.encode() + "é".encode()),
    )


def _build_payload(draw: st.DrawFn) -> bytes:
    base = fixture("build_complete_failed.json")
    kind = draw(st.sampled_from(["mutated", "random", "raw", "deep", "dupes", "names"]))
    if kind == "mutated":
        res = base["resource"]
        for key in draw(
            st.lists(
                st.sampled_from(
                    [
                        "id",
                        "buildNumber",
                        "result",
                        "sourceBranch",
                        "sourceVersion",
                        "definition",
                        "_links",
                        "requestedFor",
                        "status",
                    ]
                ),
                max_size=4,
            )
        ):
            res[key] = draw(JSONISH)
        if draw(st.booleans()):
            base[draw(st.sampled_from(["eventType", "resource", "id", "notificationId"]))] = draw(
                JSONISH
            )
        return json.dumps(base).encode()
    if kind == "random":
        return json.dumps(draw(JSONISH)).encode()
    if kind == "raw":
        return draw(st.binary(max_size=300))
    if kind == "deep":
        depth = draw(st.integers(60, 5000))
        return b'{"eventType": "build.complete", "resource": ' + b"[" * depth + b"]" * depth + b"}"
    if kind == "dupes":
        return b'{"eventType": "build.complete", "eventType": "x", "resource": {"id": 1, "id": 2}}'
    name = draw(NASTY)
    base["resource"]["definition"]["name"] = name
    base["resource"]["sourceBranch"] = "refs/heads/" + name
    base["notificationId"] = draw(st.integers(0, 10**9))
    return json.dumps(base).encode()


@st.composite
def webhook_requests(draw: st.DrawFn) -> tuple[bytes, dict[str, bytes]]:
    secret = draw(_secret_values(WEBHOOK_SECRET))
    headers = {} if secret is None else {"x-webhook-secret": secret}
    return _build_payload(draw), headers


@st.composite
def relay_requests(draw: st.DrawFn) -> tuple[bytes, dict[str, bytes]]:
    sender = draw(st.sampled_from(["ryan", "sam", "cody"]))
    secret = draw(_secret_values(AGENT_SECRETS[sender]))
    headers = {} if secret is None else {"X-Relay-Secret": secret}
    kind = draw(st.sampled_from(["good", "fields", "random", "raw"]))
    if kind == "raw":
        return draw(st.binary(max_size=300)), headers
    if kind == "random":
        return json.dumps(draw(JSONISH)).encode(), headers
    body: dict[str, Any] = {
        "from": sender,
        "to": draw(st.sampled_from(["ryan", "sam", "cody"])),
        "message": draw(TEXT),
    }
    if kind == "fields":
        for key in draw(
            st.lists(st.sampled_from(["from", "to", "message", "via", "id", "x"]), max_size=3)
        ):
            body[key] = draw(JSONISH)
    return json.dumps(body).encode(), headers


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
@given(req=webhook_requests())
def test_webhook_never_5xx(served: Served, req: tuple[bytes, dict[str, bytes]]) -> None:
    body, headers = req
    status, answer = served.request("/webhook/azure-devops", body, headers)
    assert 200 <= status < 500, (status, answer)
    # Our answers are JSON; only aiohttp's HTTP parser answers a malformed header in text.
    assert isinstance(answer, dict) or (status == 400 and "Invalid header" in answer), answer


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
@given(req=relay_requests())
def test_relay_never_5xx(served: Served, req: tuple[bytes, dict[str, bytes]]) -> None:
    body, headers = req
    status, answer = served.request("/relay", body, headers)
    assert 200 <= status < 500, (status, answer)
    # Our answers are JSON; only aiohttp's HTTP parser answers a malformed header in text.
    assert isinstance(answer, dict) or (status == 400 and "Invalid header" in answer), answer


def test_oversize_bodies_are_413_not_5xx(served: Served) -> None:
    good = {"x-webhook-secret": WEBHOOK_SECRET.encode()}
    status, answer = served.request("/webhook/azure-devops", b"{" + b" " * (4 << 20) + b"}", good)
    assert status == 413, answer
    relay = {"X-Relay-Secret": AGENT_SECRETS["ryan"].encode()}
    status, answer = served.request("/relay", b'{"message": "' + b"m" * 200_000 + b'"}', relay)
    assert status == 413, answer


def test_the_service_is_still_whole_afterwards(served: Served) -> None:
    """After the fuzzing, a good request still goes through and the markup names are stored
    as plain text (the TUI renders them without markup)."""
    status, answer = served.request(
        "/relay",
        json.dumps({"from": "ryan", "to": "cody", "message": "still here"}).encode(),
        {"X-Relay-Secret": AGENT_SECRETS["ryan"].encode()},
    )
    assert status == 202, answer
    assert served.engine is not None
    assert all(r.status < 500 for r in served.engine.ingress.recent)
