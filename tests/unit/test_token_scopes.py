"""The scope rules the REST API, its event stream and the MCP server share (engine.api.tokens)."""

from __future__ import annotations

import pytest

from clawtui.cli._common import UsageError
from clawtui.cli.token import parse_since
from clawtui.config.ingress import RelayRoute
from clawtui.engine.api.ingress import RelayAgentView, RelayRoutes
from clawtui.engine.api.tokens import (
    ADMIN,
    Principal,
    ScopeDenied,
    TokenError,
    parse_scopes,
    relay_aliases,
    require_admin,
    require_agent,
    require_escalate,
    require_pools,
    require_read,
    require_send,
)

READER = Principal(name="r", scopes=("read",))
POOLER = Principal(name="p", scopes=("pools",))
CODY = Principal(name="c", scopes=("agent:cody",))
BY_ID = Principal(name="i", scopes=("agent:7",))
RELAY = RelayRoutes(
    routes=[RelayRoute(sender="cody", to="ryan")],
    agents=[
        RelayAgentView(name="cody", thread_id=7, has_secret=True),
        RelayAgentView(name="ryan", thread_id=8, has_secret=True),
        RelayAgentView(name="zed", thread_id=9, has_secret=True),
    ],
)
THREADS = [(7, "cody-thread"), (8, "ryan-thread"), (9, "zed-thread")]


def _denied(fn, *args, **kwargs) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(ScopeDenied) as info:
        fn(*args, **kwargs)
    return str(info.value)


def test_admin_passes_every_rule() -> None:
    require_admin(ADMIN)
    require_read(ADMIN)
    require_pools(ADMIN)
    require_agent(ADMIN, "x", thread_id=1)
    require_send(ADMIN, "x", thread_id=9, threads=THREADS, relay=None)
    require_escalate(ADMIN, "x", agent="any", thread_id=None, thread_name=None)


def test_read_and_pools_scopes() -> None:
    require_read(READER)
    require_read(CODY)
    assert "needs scope read" in _denied(require_read, POOLER, "GET /api/v1/hosts")
    require_pools(POOLER)
    require_pools(READER, read=True)
    assert "needs scope pools" in _denied(require_pools, READER, "claim")
    assert "needs scope admin" in _denied(require_admin, POOLER, "decide")


def test_agent_scope_covers_its_own_thread_only() -> None:
    require_agent(BY_ID, "beat", thread_id=7)
    require_agent(CODY, "beat", thread_id=7, thread_name="cody")
    # agent:cody names the relay agent cody, whose thread is 7 ("cody-thread")
    aliases = relay_aliases(RELAY, 7)
    assert aliases == ["cody"]
    require_agent(CODY, "beat", thread_id=7, thread_name="cody-thread", aliases=aliases)
    require_escalate(CODY, "e", agent="x", thread_id=7, thread_name="cody-thread", aliases=aliases)
    assert "needs scope agent:ryan-thread" in _denied(
        require_agent, CODY, "beat", thread_id=8, thread_name="ryan-thread"
    )
    require_escalate(CODY, "e", agent="cody", thread_id=None, thread_name=None)
    require_escalate(BY_ID, "e", agent="whoever", thread_id=7, thread_name="cody-thread")
    assert "agent:alice" in _denied(
        require_escalate, CODY, "e", agent="alice", thread_id=None, thread_name=None
    )
    # an agent cannot escalate into another agent's thread by naming itself
    _denied(require_escalate, CODY, "e", agent="cody", thread_id=8, thread_name="ryan-thread")


def test_send_follows_the_relay_routes() -> None:
    require_send(CODY, "send", thread_id=8, threads=THREADS, relay=RELAY)
    require_send(BY_ID, "send", thread_id=8, threads=THREADS, relay=RELAY)
    assert "relay route to thread 9" in _denied(
        require_send, CODY, "send", thread_id=9, threads=THREADS, relay=RELAY
    )
    _denied(require_send, READER, "send", thread_id=8, threads=THREADS, relay=RELAY)
    _denied(require_send, CODY, "send", thread_id=8, threads=THREADS, relay=None)


def test_scopes_are_validated() -> None:
    assert parse_scopes(["read", "agent:bob", "read"]) == ["read", "agent:bob"]
    for bad in (["root"], ["agent:"], ["agent:a b"], []):
        with pytest.raises(TokenError):
            parse_scopes(bad)


def test_since_accepts_ages_epochs_and_dates() -> None:
    assert parse_since("2h", now=10_000.0) == 10_000.0 - 7200
    assert parse_since("1700000000") == 1_700_000_000.0
    assert parse_since("2023-11-14T22:13:20") == 1_700_000_000.0
    with pytest.raises(UsageError):
        parse_since("yesterday-ish")
