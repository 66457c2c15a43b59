"""A pool placed across two real Docker engines, and its failover when one is killed (issue 18).

``alpha`` and ``beta`` are the extra dockerd of this machine (session fixture `extra_engines`,
tests/integration/engines.py), each on its own unix socket. Only beta, an extra engine started
by the fixture, is ever killed (SIGKILL) and started again, never the system dockerd, so this is
an ordinary integration test, like test_many_hosts.py.

The memory reserves are set so that beta has exactly 48 MiB more free budget than alpha: with
32 MiB containers the placement by free budget must be beta, beta, alpha (list order alone, or
equal budgets, would give alpha, beta, alpha). Then beta is killed: its claim becomes `lost`,
its warm containers are refilled on alpha, the tenant claims again and gets its state back from
the local sink; beta comes back and what was left on it is removed; a cold start then goes to
beta. The engine runs behind a real service, and a remote client checks what REST shows.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import docker
import pytest

from clawtui.client.engine import RemoteEngine
from clawtui.config import EngineConfig, HostConfig, Settings
from clawtui.config.pools import HealthcheckSpec, PoolConfig, ResourcesSpec, WorkloadConfig
from clawtui.engine.api.models import Event, EventKind, HostState
from clawtui.engine.api.pools import pools_of
from clawtui.engine.bus import Subscription
from clawtui.engine.core import Engine
from clawtui.engine.pools.spec import LABEL_POOL
from tests.integration.engine_helpers import wait_for_event
from tests.integration.pool_helpers import local_sync, sh, unique, wait_warm
from tests.integration.served import remote_over_service

pytestmark = pytest.mark.integration

MIB = 1024 * 1024


def _limits(api: docker.APIClient) -> int:
    """Sum of the memory limits of the engine's containers (what its budget already holds)."""
    total = 0
    for c in api.containers(all=True):
        total += max(0, int(api.inspect_container(c["Id"])["HostConfig"].get("Memory") or 0))
    return total


def _pool_names(api: docker.APIClient, pool: str) -> set[str]:
    listed = api.containers(all=True, filters={"label": f"{LABEL_POOL}={pool}"})
    return {str(c["Names"][0]).lstrip("/") for c in listed}


def _pool_event(action: str, **fields: Any) -> Any:
    def match(event: Event) -> bool:
        data = event.data
        return (
            event.kind is EventKind.POOL
            and data.get("action") == action
            and all((event.host if k == "host" else data.get(k)) == v for k, v in fields.items())
        )

    return match


async def test_pool_over_two_engines_placed_by_budget_fails_over_and_reconciles(
    tmp_path: Path,
    extra_engines: tuple[Any, Any],
    busybox_image: str,
    test_labels: dict[str, str],
) -> None:
    alpha, beta = extra_engines
    if not beta.ping():  # another test killed it and failed before starting it again
        await asyncio.to_thread(beta.start)
    a_api, b_api = alpha.api(), beta.api()
    # beta free - alpha free = 48 MiB, whatever the engines already hold.
    diff = 48 * MIB - (_limits(a_api) - _limits(b_api))
    reserve_a, reserve_b = (diff, 0) if diff >= 0 else (0, -diff)
    sink = tmp_path / "sink"
    wl = WorkloadConfig(
        name=unique("wlhosts"),
        image=busybox_image,
        command=["sleep", "86400"],
        healthcheck=HealthcheckSpec(command=["true"], interval=0.1, retries=2),
        resources=ResourcesSpec(memory=32 * MIB, cpus=0.2, pids=32),
        labels=dict(test_labels),
        sync=local_sync(sink),
    )
    pool = PoolConfig(
        name=unique("hosts"),
        workload=wl.name,
        hosts=["alpha", "beta"],
        min_warm=3,
        max=5,
        failover_after=0,
    )
    settings = Settings(
        engine=EngineConfig(
            state_dir=tmp_path / "state", stats_interval=5.0, reconnect_max_backoff=0.5
        ),
        hosts=[
            HostConfig(name="alpha", url=alpha.url, cgroup_root=None, memory_reserve=reserve_a),
            HostConfig(name="beta", url=beta.url, cgroup_root=None, memory_reserve=reserve_b),
        ],
        workloads=[wl],
        pools=[pool],
    )
    engine = Engine(settings)
    sub = engine.subscribe([EventKind.POOL])
    try:
        async with contextlib.aclosing(remote_over_service(engine, "t" * 32)) as served:
            async for remote in served:
                await _scenario(engine, remote, sub, pool, sink, a_api, b_api, beta)
    finally:
        sub.close()
        await engine.stop()
        for api in (a_api, b_api):
            if api is a_api or beta.ping():
                for c in api.containers(all=True, filters={"label": f"{LABEL_POOL}={pool.name}"}):
                    api.remove_container(c["Id"], force=True, v=True)
            api.close()


async def _scenario(
    engine: Engine,
    remote: RemoteEngine,
    sub: Subscription,
    pool: PoolConfig,
    sink: Path,
    a_api: docker.APIClient,
    b_api: docker.APIClient,
    beta: Any,
) -> None:
    """The steps, with the engine behind a real service and a remote client beside it."""
    rpools = pools_of(remote)
    assert rpools is not None
    await wait_warm(engine, pool.name, 3)

    # 1. Placement by free budget, and where each went is said.
    rows = await engine.pools.containers(pool.name)
    placed = sorted(rows, key=lambda r: (r.created_at, r.host != "beta"))
    assert [r.host for r in placed] == ["beta", "beta", "alpha"], placed
    assert _pool_names(b_api, pool.name) == {r.name for r in rows if r.host == "beta"}
    assert _pool_names(a_api, pool.name) == {r.name for r in rows if r.host == "alpha"}
    warm_hosts: dict[str, str | None] = {}  # the warm event of each names its host
    while len(warm_hosts) < len(rows):
        event = await wait_for_event(sub, _pool_event("warm"), 30)
        warm_hosts[str(event.data["container"])] = event.host
    assert warm_hosts == {r.name: r.host for r in rows}
    lines = [e.message for e in await engine.activity(200)]
    for r in rows:
        assert any(f"placing warm {r.name} on {r.host}" in m for m in lines), lines
    status = {s.name: s for s in await engine.pools.status()}[pool.name]
    assert status.hosts == ["alpha", "beta"] and status.host == "alpha"
    # the same over REST (GET /api/v1/pools, GET /api/v1/pools/{pool}/containers)
    assert [s.hosts for s in await rpools.status()] == [["alpha", "beta"]]
    over_rest = {c.name: c.host for c in await rpools.containers(pool.name)}
    assert over_rest == {r.name: r.host for r in rows}

    # 2. A tenant on beta saves some state to the sink.
    first = await engine.pools.claim("t-hosts", pool.name)
    assert first.host == "beta" and first.source == "warm"
    await asyncio.to_thread(
        sh, b_api, first.container, "mkdir -p /state/data && echo kept > /state/data/note"
    )
    saved = await engine.pools.sync("t-hosts", "upload")
    assert saved.ok and (sink / "tenants" / "t-hosts" / "data" / "note").is_file()
    await wait_warm(engine, pool.name, 3)
    before = {r.name: r.host for r in await engine.pools.containers(pool.name)}
    on_beta = {n for n, h in before.items() if h == "beta"}
    assert first.container in on_beta

    # 3. beta dies: its claim is lost, its warm containers are refilled on alpha.
    await asyncio.to_thread(beta.kill)
    await wait_for_event(sub, _pool_event("lost", tenant="t-hosts", host="beta"), 30)
    lost = await engine.pools.tenant("t-hosts")
    assert (lost.state, lost.host, lost.container) == ("lost", "beta", first.container)
    assert lost.released_at is not None and lost.error and "beta" in lost.error
    listed = [t for t in await rpools.tenants() if t.tenant == "t-hosts"]  # over REST
    assert [(t.state, t.host, t.released_at) for t in listed] == [
        ("lost", "beta", lost.released_at)
    ]
    assert engine.monitors["beta"].info.state is HostState.OFFLINE
    await wait_warm(engine, pool.name, 3)
    live = [r for r in await engine.pools.containers(pool.name) if r.host == "alpha"]
    assert sum(1 for r in live if r.state == "warm") == 3
    assert len(live) <= pool.max
    assert _pool_names(a_api, pool.name) == {r.name for r in live}
    lines = [e.message for e in await engine.activity(200)]
    assert any("claim of t-hosts lost" in m and "beta" in m for m in lines)
    assert any("beta is offline" in m and "refilling on alpha" in m for m in lines)
    assert await engine.pools.invariants() == []

    # 4. The tenant claims again: a container on alpha, its state back from the sink.
    again = await engine.pools.claim("t-hosts", pool.name)
    assert again.host == "alpha" and again.container != first.container
    assert [s.status for s in again.sync] == ["ok"]
    note = await asyncio.to_thread(sh, a_api, again.container, "cat /state/data/note")
    assert note.strip() == "kept"

    # 5. beta is back: what was left there is removed, the tenant keeps one claim.
    await asyncio.to_thread(beta.start)
    await wait_for_event(sub, _pool_event("reconciled", host="beta"), 60)
    assert _pool_names(b_api, pool.name) == set()
    after = await engine.pools.containers(pool.name)
    assert {r.host for r in after} == {"alpha"}
    assert not on_beta & {r.name for r in after}
    holders = [r for r in after if r.tenant == "t-hosts"]
    assert [r.name for r in holders] == [again.container]
    assert [c.tenant for c in await engine.pools.tenants()] == ["t-hosts"]
    assert await engine.pools.invariants() == []
    assert await engine.pools.reconcile() == []
    assert [(t.tenant, t.state) for t in await rpools.tenants()] == [("t-hosts", "active")]

    # 6. beta is back in service: with no warm container left, a cold start goes to the host
    # with the most free budget (beta: alpha still holds the tenant's container).
    await engine.pools.scale(pool.name, 0)
    cold = await engine.pools.claim("t-cold", pool.name)
    assert (cold.source, cold.host) == ("cold", "beta")
    assert _pool_names(b_api, pool.name) == {cold.container}
    lines = [e.message for e in await engine.activity(200)]
    assert any(f"placing cold {cold.container} on beta" in m for m in lines)
