"""`clawtui mcp`: the SDK's own MCP client over stdio against `python -m clawtui mcp`, spawned as
a subprocess, over a real engine (its own config and state dir) and over a real `clawtui serve`
(`--connect`; the service runner in front of a real engine). Pool containers are checked with
`docker inspect`; scopes with a scoped token per scope; the audit log in the engine's store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import docker
import pytest

from clawtui.config import Settings
from clawtui.config.pools import PoolConfig
from clawtui.engine.core import Engine
from clawtui.service.runner import ServiceRunner
from tests.integration.mcp_helpers import call, mcp_session, refused, write_config
from tests.integration.pool_helpers import pool_settings, unique, workload

pytestmark = pytest.mark.integration

ADMIN_TOKEN = "admin-token-for-the-mcp-tests-0123456789"
TOOLS = {
    "fleet_status", "container_status", "threads_list", "thread_status", "thread_send",
    "heartbeat_run", "escalate", "escalations_list", "escalation_decide", "brief_preview",
    "incidents_list", "pool_status", "pool_claim", "pool_release", "pool_sync", "memory_plan",
    "memory_apply", "devbox_list", "tmux_run", "tmux_send", "relay_send",
}  # fmt: skip


def _settings(tmp_path: Path, labels: dict[str, str]) -> tuple[Settings, str]:
    name = unique("mcp")
    settings = pool_settings(
        tmp_path / "state",
        [workload(name, labels)],
        [PoolConfig(name=name, workload=name, min_warm=1, max=2)],
    )
    return settings, name


async def _tokens(settings: Settings, *specs: tuple[str, list[str]]) -> dict[str, str]:
    """Create tokens in the engine's store (as `clawtui token create` does): name -> secret."""
    engine = Engine(settings)
    await asyncio.to_thread(engine.store.open)
    try:
        return {name: (await engine.tokens.create(name, scopes)).secret for name, scopes in specs}
    finally:
        await engine.activity(limit=1)
        await asyncio.to_thread(engine.store.close)


async def _audit(settings: Settings) -> list[tuple[str, str, str]]:
    engine = Engine(settings)
    await asyncio.to_thread(engine.store.open)
    try:
        return [(e.token, e.action, e.outcome) for e in await engine.tokens.audit()]
    finally:
        await asyncio.to_thread(engine.store.close)


def _container_id(api: docker.APIClient, name: str) -> str:
    return str(api.inspect_container(name)["Id"])


async def _warm(session, pool: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 90
    while True:
        pools = {p["name"]: p for p in (await call(session, "pool_status"))["pools"]}
        if pools[pool]["warm"] >= 1:
            return
        assert time.monotonic() < deadline, f"pool {pool} never had a warm container"
        await asyncio.sleep(0.2)


async def _claim_release(session, api: docker.APIClient, pool: str, tenant: str) -> str:  # type: ignore[no-untyped-def]
    """Claim a container for `tenant` and release it; docker inspect says both happened."""
    await _warm(session, pool)
    claim = await call(session, "pool_claim", tenant=tenant, pool=pool)
    state = api.inspect_container(claim["container"])
    assert state["State"]["Running"] and state["Config"]["Labels"]["clawtui.pool"] == pool
    key = f"{claim['host']}/{state['Id']}"
    released = await call(session, "pool_release", tenant=tenant, sync=False)
    assert released["state"] == "released"
    deadline = time.monotonic() + 30
    while True:  # the engine removes the container after the release
        try:
            api.inspect_container(claim["container"])
        except docker.errors.NotFound:
            break
        assert time.monotonic() < deadline, "the released container was not removed"
        await asyncio.sleep(0.1)
    return key


async def _escalate_and_decide(session) -> None:  # type: ignore[no-untyped-def]
    esc = await call(
        session, "escalate", agent="bob", doing="deploying", tried=["retry"],
        need="a token", proposed_fix="rotate it",
    )  # fmt: skip
    assert esc["status"] == "pending" and esc["tried"] == ["retry"]
    decided = await call(
        session, "escalation_decide", escalation_id=esc["id"], action="approve", by="lead"
    )
    assert decided["status"] == "approved" and decided["decided_by"] == "lead"
    again = await refused(session, "escalation_decide", escalation_id=esc["id"], action="skip")
    assert "already approved" in again  # the engine's own message (409)


async def test_mcp_over_a_local_engine(
    tmp_path: Path, docker_api: docker.APIClient, test_labels: dict[str, str], pool_image: str
) -> None:
    settings, pool = _settings(tmp_path, test_labels)
    config = write_config(settings, tmp_path / "config.toml")
    secrets = await _tokens(settings, ("reader", ["read"]))
    log = tmp_path / "mcp.log"
    try:
        async with mcp_session("--config", str(config), errlog=log) as session:
            listed = (await session.list_tools()).tools
            assert {t.name for t in listed} == TOOLS
            assert all(t.input_schema and t.output_schema for t in listed)
            resources = {str(r.uri) for r in (await session.list_resources()).resources}
            assert {"kb://context.md", "kb://decisions.md", "kb://active-projects.md",
                    "brief://latest"} <= resources  # fmt: skip
            await _escalate_and_decide(session)
            key = await _claim_release(session, docker_api, pool, "ann")
            await _warm(session, pool)
            warm = next(c for c in (await call(session, "fleet_status"))["containers"]
                        if c["role"] == "pool")  # fmt: skip
            plan = await call(session, "memory_plan", changes={warm["key"]: 1024 * 1024})
            assert plan["ok"] is False and plan["checks"][0]["verdict"] == "refused"
            assert plan["checks"][0]["reasons"]
            missing = await refused(session, "container_status", key=key)
            assert "no container" in missing
        async with mcp_session("--config", str(config), "--token", secrets["reader"]) as session:
            assert (await call(session, "fleet_status"))["hosts"][0]["name"] == "local"
            denied = await refused(session, "escalation_decide", escalation_id=1, action="skip")
            assert "needs scope admin" in denied
            assert "needs scope pools" in await refused(
                session, "pool_claim", tenant="x", pool=pool
            )
            engine = Engine(settings)  # another process's revocation: refused at the next call
            await asyncio.to_thread(engine.store.open)
            await engine.tokens.revoke("reader")
            await asyncio.to_thread(engine.store.close)
            assert "revoked" in await refused(session, "fleet_status")
    finally:
        for c in docker_api.containers(all=True, filters={"label": f"clawtui.pool={pool}"}):
            docker_api.remove_container(c["Id"], force=True, v=True)
    audit = await _audit(settings)
    assert ("admin", "mcp:escalate", "ok") in audit
    assert ("admin", "mcp:pool_claim", "ok") in audit
    assert any(t == "reader" and a == "mcp:escalation_decide" and o.startswith("denied")
               for t, a, o in audit)  # fmt: skip
    assert not log.read_text().count("Traceback")


@pytest.fixture
async def served(
    tmp_path: Path, docker_api: docker.APIClient, test_labels: dict[str, str], pool_image: str
) -> AsyncIterator[tuple[Engine, str, str]]:
    settings, pool = _settings(tmp_path, test_labels)
    engine = Engine(settings)
    await engine.start()
    runner = ServiceRunner(engine, settings, token=ADMIN_TOKEN, listen=("127.0.0.1", 0))
    await runner.start()
    try:
        yield engine, runner.url, pool
    finally:
        await runner.stop()
        await engine.stop()
        for c in docker_api.containers(all=True, filters={"label": f"clawtui.pool={pool}"}):
            docker_api.remove_container(c["Id"], force=True, v=True)


async def test_mcp_connect_enforces_each_scope(
    served: tuple[Engine, str, str], docker_api: docker.APIClient
) -> None:
    engine, url, pool = served
    secrets = {}
    for name, scopes in (("reader", ["read"]), ("pooler", ["pools"]), ("bob", ["agent:bob"])):
        secrets[name] = (await engine.tokens.create(name, scopes)).secret

    async with mcp_session("--connect", url, "--token", ADMIN_TOKEN) as session:
        assert {t.name for t in (await session.list_tools()).tools} == TOOLS
        await _escalate_and_decide(session)
        plan = await call(session, "memory_plan", changes={"local/nope": 1})
        assert plan["ok"] is False and plan["errors"][0]["code"] == "unknown_container"

    async with mcp_session("--connect", url, "--token", secrets["reader"]) as session:
        assert (await call(session, "escalations_list"))["escalations"]
        assert "needs scope admin" in await refused(
            session, "escalation_decide", escalation_id=1, action="skip"
        )
        assert "needs scope pools" in await refused(session, "pool_claim", tenant="x", pool=pool)
        assert "needs scope agent:" in await refused(
            session, "escalate", agent="bob", doing="d", need="n"
        )

    async with mcp_session("--connect", url, "--token", secrets["pooler"]) as session:
        await _claim_release(session, docker_api, pool, "cal")
        assert "needs scope read" in await refused(session, "escalations_list")

    async with mcp_session("--connect", url, "--token", secrets["bob"]) as session:
        mine = await call(session, "escalate", agent="bob", doing="d", need="n")
        assert mine["agent"] == "bob"
        assert "needs scope agent:alice" in await refused(
            session, "escalate", agent="alice", doing="d", need="n"
        )
        assert "needs scope admin" in await refused(
            session, "escalation_decide", escalation_id=mine["id"], action="approve"
        )
        assert "needs scope pools" in await refused(session, "pool_release", tenant="cal")

    audit = [(e.token, e.action, e.outcome) for e in await engine.tokens.audit(limit=2000)]
    assert any(t == "bob" and a.startswith("mcp:escalate") and o == "ok 201"
               for t, a, o in audit)  # fmt: skip
    assert any(t == "reader" and a.startswith("mcp:escalation_decide") and o.startswith("denied")
               for t, a, o in audit)  # fmt: skip
    assert any(t == "pooler" and a.startswith("mcp:pool_claim") for t, a, _ in audit)
