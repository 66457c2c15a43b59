"""Live memory rebalancing against the real Docker engine (cgroup v1 here): batches applied and
verified by inspect and cgroup files, rollback, the kernel's EBUSY, budget, labels, swap,
the per-host guard, history, events; then the API routes and `clawtui mem`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import docker
import pytest

from clawtui.cli import main
from clawtui.engine.api.memory import (
    DEFAULT_ADJUSTABLE_LABELS,
    BatchState,
    MemoryPlan,
    Outcome,
    PlanErrorCode,
    Verdict,
)
from clawtui.engine.api.models import EventKind
from clawtui.engine.core import Engine
from clawtui.service.runner import ServiceRunner
from tests.integration.engine_helpers import make_settings, wait_for_event, wait_until

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
GIB = 1024 * MIB
DEVBOX = {"clawtui.role": "devbox"}
HOLD_320M = ["sh", "-c", "(head -c 320m /dev/zero; sleep 3600) | tail"]
TOKEN = "t0ken-for-memory-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MakeContainer = Callable[..., dict[str, Any]]


def limits(api: docker.APIClient, cid: str) -> tuple[int, int]:
    hc = api.inspect_container(cid)["HostConfig"]
    return hc["Memory"], hc["MemorySwap"]


def cgroup(cid: str, name: str) -> int:
    return int(Path(f"/sys/fs/cgroup/memory/docker/{cid}/{name}").read_text())


def used(cid: str) -> int:
    """usage - total_cache, the figure the engine validates against."""
    stat = Path(f"/sys/fs/cgroup/memory/docker/{cid}/memory.stat").read_text().split("\n")
    cache = next(int(line.split()[1]) for line in stat if line.startswith("total_cache "))
    return cgroup(cid, "memory.usage_in_bytes") - cache


def wait_used(cid: str, at_least: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while used(cid) < at_least:
        assert time.monotonic() < deadline, f"container never used {at_least} bytes"
        time.sleep(0.05)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    e = Engine(make_settings(tmp_path))
    await e.start()
    assert await e.wait_online(10)
    try:
        yield e
    finally:
        await e.stop()


async def seen(engine: Engine, *infos: dict[str, Any]) -> list[str]:
    """Wait until the engine's model has the containers; their keys."""
    keys = [f"local/{i['Id']}" for i in infos]
    await wait_until(lambda: all(engine.container(k) for k in keys), 5, "containers listed")
    return keys


def name(info: dict[str, Any]) -> str:
    return str(info["Name"]).lstrip("/")


# -- batches ----------------------------------------------------------------------------------
async def test_batch_of_three_applied(
    engine: Engine, make_container: MakeContainer, docker_api: docker.APIClient
) -> None:
    a = make_container("a", mem_limit="512m", labels=DEVBOX)  # swap = 2x: 1 GiB
    b = make_container("b", mem_limit="512m", memswap_limit=-1, labels=DEVBOX)
    c = make_container("c", mem_limit="1g", memswap_limit="1g", labels={"clawtui.role": "pool"})
    assert limits(docker_api, a["Id"]) == (512 * MIB, GIB)
    keys = await seen(engine, a, b, c)
    sub = engine.subscribe([EventKind.MEMORY])
    # a is raised past its old MemorySwap (1 GiB): works because both are sent.
    changes = {name(a): 1536 * MIB, b["Id"][:12]: 768 * MIB, keys[2]: 512 * MIB}
    result = await engine.memory.apply(changes, who="tui")
    assert result.state is BatchState.APPLIED, result.summary()
    assert [o.outcome for o in result.outcomes] == [Outcome.APPLIED] * 3
    assert limits(docker_api, a["Id"]) == (1536 * MIB, 1536 * MIB)
    assert limits(docker_api, b["Id"]) == (768 * MIB, -1)  # unlimited swap kept
    assert limits(docker_api, c["Id"]) == (512 * MIB, 512 * MIB)
    assert cgroup(a["Id"], "memory.limit_in_bytes") == 1536 * MIB
    assert cgroup(a["Id"], "memory.memsw.limit_in_bytes") == 1536 * MIB
    assert cgroup(c["Id"], "memory.memsw.limit_in_bytes") == 512 * MIB
    by_name = {o.check.name: o.check for o in result.outcomes}
    assert by_name[name(a)].old_swap == GIB and by_name[name(a)].usage is not None
    assert by_name[name(a)].usage_source == "cgroup"

    event = await wait_for_event(sub, lambda e: e.kind is EventKind.MEMORY, 2)
    assert event.data["result"].batch_id == result.batch_id
    sub.close()
    rows = await engine.memory.history(10)
    assert {(r.name, r.new_limit, r.outcome, r.who) for r in rows} == {
        (name(a), 1536 * MIB, Outcome.APPLIED, "tui"),
        (name(b), 768 * MIB, Outcome.APPLIED, "tui"),
        (name(c), 512 * MIB, Outcome.APPLIED, "tui"),
    }
    assert {r.batch_id for r in rows} == {result.batch_id}
    activity = await engine.activity(50)
    assert any(
        f"Memory rebalanced: {name(a)} 512 MiB → 1.5 GiB (by tui)" in e.message for e in activity
    )
    await wait_until(
        lambda: (c_ := engine.container(keys[0])) is not None and c_.memory_limit == 1536 * MIB,
        5,
        "the model to follow Docker's update event",
    )
    assert engine.notifier.stats["log"].sent >= 1


async def test_stopped_container_is_read_with_inspect(
    engine: Engine, make_container: MakeContainer, docker_api: docker.APIClient
) -> None:
    stopped = make_container("stopped", mem_limit="512m", labels=DEVBOX, start=False)
    await seen(engine, stopped)
    result = await engine.memory.apply({name(stopped): GIB}, who="test")
    assert result.state is BatchState.APPLIED, result.summary()
    check = result.outcomes[0].check
    assert check.state == "created" and check.usage is None and check.old_swap == GIB
    assert limits(docker_api, stopped["Id"]) == (GIB, GIB)


async def test_container_removed_after_validation_rolls_everything_back(
    engine: Engine, make_container: MakeContainer, docker_api: docker.APIClient
) -> None:
    a = make_container("a", mem_limit="512m", labels=DEVBOX)  # swap 1 GiB must come back
    b = make_container("b", mem_limit="768m", memswap_limit="768m", labels=DEVBOX)
    gone = make_container("gone", mem_limit="512m", labels=DEVBOX)
    await seen(engine, a, b, gone)

    async def remove_one(plan: MemoryPlan) -> None:
        assert plan.ok
        await asyncio.to_thread(docker_api.remove_container, gone["Id"], force=True)

    engine.memory.on_validated = remove_one
    sub = engine.subscribe([EventKind.MEMORY])
    result = await engine.memory.apply({name(a): GIB, name(b): GIB, name(gone): GIB}, who="api")
    assert result.state is BatchState.ROLLED_BACK, result.summary()
    outcomes = {o.check.name: o for o in result.outcomes}
    assert outcomes[name(gone)].outcome is Outcome.FAILED
    assert "no longer exists" in (outcomes[name(gone)].error or "")
    assert outcomes[name(a)].outcome is Outcome.ROLLED_BACK
    assert outcomes[name(b)].outcome is Outcome.ROLLED_BACK
    assert limits(docker_api, a["Id"]) == (512 * MIB, GIB)
    assert limits(docker_api, b["Id"]) == (768 * MIB, 768 * MIB)
    assert cgroup(a["Id"], "memory.memsw.limit_in_bytes") == GIB
    event = await wait_for_event(sub, lambda e: e.kind is EventKind.MEMORY, 2)
    assert event.data["result"].state is BatchState.ROLLED_BACK
    sub.close()
    rows = await engine.memory.history(10)
    assert sorted(r.outcome.value for r in rows) == ["failed", "rolled_back", "rolled_back"]


async def test_below_usage_refused_by_the_precheck(
    engine: Engine, make_container: MakeContainer, docker_api: docker.APIClient
) -> None:
    hog = make_container("hog", command=HOLD_320M, mem_limit="1g", labels=DEVBOX)
    await asyncio.to_thread(wait_used, hog["Id"], 316 * MIB)  # all 320 MiB held, or nearly
    await seen(engine, hog)
    plan = await engine.memory.plan({name(hog): 256 * MIB}, who="test")
    assert not plan.ok
    check = plan.checks[0]
    assert check.verdict is Verdict.REFUSED
    assert check.usage is not None and abs(check.usage - used(hog["Id"])) < 8 * MIB
    assert "in use" in check.reasons[0] and "EBUSY" in check.reasons[0]
    warn = await engine.memory.plan({name(hog): 384 * MIB}, who="test")  # < 1.25 x 320 MiB
    assert warn.ok and warn.checks[0].verdict is Verdict.WARNING
    result = await engine.memory.apply({name(hog): 256 * MIB}, who="test")
    assert result.state is BatchState.REFUSED
    assert [o.outcome for o in result.outcomes] == [Outcome.NOT_APPLIED]
    assert limits(docker_api, hog["Id"]) == (GIB, 2 * GIB)
    assert await engine.memory.history(10) == []


async def test_kernel_ebusy_is_surfaced_when_usage_grows_after_validation(
    engine: Engine, make_container: MakeContainer, docker_api: docker.APIClient
) -> None:
    """Bypass the pre-check the real way: memory use grows between validation and update."""
    x = make_container("x", mem_limit="1g", memswap_limit="1g", labels=DEVBOX)
    y = make_container("y", mem_limit="512m", memswap_limit="512m", labels=DEVBOX)
    await seen(engine, x, y)

    def grow() -> None:
        exec_id = docker_api.exec_create(x["Id"], HOLD_320M)["Id"]
        docker_api.exec_start(exec_id, detach=True)
        wait_used(x["Id"], 300 * MIB)

    async def hook(plan: MemoryPlan) -> None:
        assert plan.ok and plan.checks[0].usage is not None
        assert plan.checks[0].usage < 64 * MIB
        await asyncio.to_thread(grow)

    engine.memory.on_validated = hook
    result = await engine.memory.apply({name(x): 256 * MIB, name(y): 768 * MIB}, who="test")
    assert result.state is BatchState.ROLLED_BACK
    outcomes = {o.check.name: o for o in result.outcomes}
    error = outcomes[name(x)].error or ""
    assert outcomes[name(x)].outcome is Outcome.FAILED
    assert "EBUSY" in error and "unable to set memory limit to 268435456 (current usage:" in error
    assert outcomes[name(y)].outcome is Outcome.ROLLED_BACK
    assert limits(docker_api, x["Id"]) == (GIB, GIB)
    assert limits(docker_api, y["Id"]) == (512 * MIB, 512 * MIB)
    assert cgroup(y["Id"], "memory.limit_in_bytes") == 512 * MIB


async def test_budget_refuses_increase_allows_decrease(
    engine: Engine, make_container: MakeContainer, docker_api: docker.APIClient
) -> None:
    d = make_container("d", mem_limit="512m", memswap_limit="512m", labels=DEVBOX)
    await seen(engine, d)
    view = engine.memory.view("local")
    # Leave 1 GiB of budget: the reserve takes the rest of the host's RAM.
    engine.settings.hosts[0].memory_reserve = view.total - view.allocated - GIB
    over = await engine.memory.apply({name(d): 512 * MIB + 4 * GIB}, who="test")
    assert over.state is BatchState.REFUSED
    assert over.plan.errors[0].code is PlanErrorCode.BUDGET
    assert "over budget" in over.plan.checks[0].reasons[-1]
    assert limits(docker_api, d["Id"]) == (512 * MIB, 512 * MIB)
    down = await engine.memory.apply({name(d): 256 * MIB}, who="test")
    assert down.state is BatchState.APPLIED, down.summary()
    assert limits(docker_api, d["Id"]) == (256 * MIB, 256 * MIB)


async def test_only_labelled_containers_are_adjustable(
    engine: Engine, make_container: MakeContainer, docker_api: docker.APIClient
) -> None:
    plain = make_container("plain", mem_limit="512m")
    infra = make_container("infra", mem_limit="512m", labels={"clawtui.role": "infra"})
    ok = make_container("ok", mem_limit="512m", labels=DEVBOX)
    await seen(engine, plain, infra, ok)
    result = await engine.memory.apply(
        {name(plain): GIB, name(infra): GIB, name(ok): GIB}, who="test"
    )
    assert result.state is BatchState.REFUSED
    verdicts = {o.check.name: o.check.verdict for o in result.outcomes}
    assert verdicts == {
        name(plain): Verdict.REFUSED, name(infra): Verdict.REFUSED, name(ok): Verdict.OK,
    }  # fmt: skip
    for info in (plain, infra, ok):  # all or nothing: not even the adjustable one changed
        assert limits(docker_api, info["Id"]) == (512 * MIB, GIB)
    view = engine.memory.view("local")
    rows = {c.name: c for c in view.containers}
    assert not rows[name(plain)].adjustable and "no clawtui.role" in (
        rows[name(plain)].why_not or ""
    )
    assert rows[name(ok)].adjustable and rows[name(ok)].floor == 256 * MIB


async def test_tinyclaw_dev_containers_are_adjustable_and_its_infrastructure_is_not(
    engine: Engine, make_container: MakeContainer, docker_api: docker.APIClient
) -> None:
    """TinyClaw labels its dev containers `tinyclaw.type=dev-container` (seed 000) and, since
    its rename, `borg.type=dev-container` (lucianHymer/tinyclaw b64de8c
    scripts/create-dev-container.sh); its broker, bot and dashboard are compose services."""
    tc = make_container("tc", mem_limit="512m", labels={"tinyclaw.type": "dev-container"})
    borg = make_container("borg", mem_limit="512m", labels={"borg.type": "dev-container"})
    broker = make_container(
        "broker", mem_limit="512m", labels={"com.docker.compose.service": "broker"}
    )
    await seen(engine, tc, borg, broker)
    result = await engine.memory.apply({name(tc): GIB, name(borg): 768 * MIB}, who="test")
    assert result.state is BatchState.APPLIED, result.summary()
    assert limits(docker_api, tc["Id"])[0] == GIB and limits(docker_api, borg["Id"])[0] == 768 * MIB
    refused = await engine.memory.apply({name(broker): GIB}, who="test")
    assert refused.state is BatchState.REFUSED
    assert limits(docker_api, broker["Id"])[0] == 512 * MIB
    # the set is configurable: without the tinyclaw label its containers are refused too
    engine.settings.memory.adjustable_labels = ["clawtui.role=devbox", "clawtui.role=pool"]
    try:
        again = await engine.memory.apply({name(tc): 768 * MIB}, who="test")
        assert again.state is BatchState.REFUSED
        assert "dev-container label" in again.outcomes[0].check.reasons[0]
    finally:
        engine.settings.memory.adjustable_labels = list(DEFAULT_ADJUSTABLE_LABELS)


async def test_references_and_plan_errors(engine: Engine, make_container: MakeContainer) -> None:
    a = make_container("ref", mem_limit="512m", labels=DEVBOX)
    await seen(engine, a)
    for ref in (name(a), a["Id"], a["Id"][:10], f"local/{a['Id']}", f"local/{name(a)}"):
        key, error = engine.memory.resolve(ref)
        assert error is None and key == f"local/{a['Id']}", ref
    plan = await engine.memory.plan(
        {"no-such-container": GIB, "elsewhere/x": GIB, name(a): GIB, a["Id"]: GIB}, who="test"
    )
    codes = [e.code for e in plan.errors]
    assert codes == [PlanErrorCode.UNKNOWN_CONTAINER, PlanErrorCode.UNKNOWN_HOST,
                     PlanErrorCode.DUPLICATE]  # fmt: skip
    assert not plan.ok
    with pytest.raises(ValueError, match="who"):
        await engine.memory.plan({name(a): GIB}, who="not a valid who!")


async def test_one_batch_per_host(
    engine: Engine, make_container: MakeContainer, docker_api: docker.APIClient
) -> None:
    a = make_container("guard", mem_limit="512m", memswap_limit="512m", labels=DEVBOX)
    await seen(engine, a)
    release = asyncio.Event()

    async def hold(plan: MemoryPlan) -> None:
        await release.wait()

    engine.memory.on_validated = hold
    first = asyncio.create_task(engine.memory.apply({name(a): 768 * MIB}, who="tui"))
    await asyncio.sleep(0.2)
    engine.settings.memory.batch_wait = 0.2
    busy = await engine.memory.apply({name(a): GIB}, who="api")
    assert busy.state is BatchState.REFUSED
    assert busy.plan.errors[0].code is PlanErrorCode.BUSY
    assert "in flight" in busy.plan.errors[0].message
    engine.settings.memory.batch_wait = 10
    engine.memory.on_validated = None
    second = asyncio.create_task(engine.memory.apply({name(a): GIB}, who="api"))
    await asyncio.sleep(0.2)
    assert not second.done()  # waits for the first
    release.set()
    r1, r2 = await first, await second
    assert r1.state is BatchState.APPLIED and r2.state is BatchState.APPLIED
    assert r2.plan.checks[0].old_limit == 768 * MIB  # validated after the first finished
    assert limits(docker_api, a["Id"]) == (GIB, GIB)


async def test_a_cancelled_caller_does_not_cut_a_batch_in_half(
    engine: Engine, make_container: MakeContainer, docker_api: docker.APIClient
) -> None:
    a = make_container("cancel", mem_limit="512m", memswap_limit="512m", labels=DEVBOX)
    await seen(engine, a)

    validated = asyncio.Event()
    go_on = asyncio.Event()

    async def slow(plan: MemoryPlan) -> None:
        validated.set()
        await go_on.wait()

    engine.memory.on_validated = slow
    caller = asyncio.create_task(engine.memory.apply({name(a): 768 * MIB}, who="tui"))
    await asyncio.wait_for(validated.wait(), 10)  # the batch is past validation: cancel now
    caller.cancel()
    await asyncio.sleep(0)
    go_on.set()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await engine.memory.wait_idle()
    assert limits(docker_api, a["Id"]) == (768 * MIB, 768 * MIB)
    assert len(await engine.memory.history(10)) == 1


# -- the API ----------------------------------------------------------------------------------
@pytest.fixture
async def served(engine: Engine) -> AsyncIterator[tuple[Engine, str]]:
    runner = ServiceRunner(engine, engine.settings, token=TOKEN, listen=("127.0.0.1", 0))
    await runner.start()
    try:
        yield engine, runner.url
    finally:
        await runner.stop()


async def test_api_routes(
    served: tuple[Engine, str], make_container: MakeContainer, docker_api: docker.APIClient
) -> None:
    engine, url = served
    dev = make_container("api", mem_limit="512m", memswap_limit="512m", labels=DEVBOX)
    plain = make_container("api-plain", mem_limit="512m")
    await seen(engine, dev, plain)
    async with aiohttp.ClientSession() as s:
        for method, path in (
            ("GET", "/api/v1/hosts/local/memory"),
            ("POST", "/api/v1/memory/plan"),
            ("POST", "/api/v1/memory/apply"),
            ("GET", "/api/v1/memory/history"),
        ):
            async with s.request(method, url + path, json={"changes": {name(dev): "1g"}}) as r:
                assert r.status == 401, path
        assert limits(docker_api, dev["Id"]) == (512 * MIB, 512 * MIB)

        async with s.get(url + "/api/v1/hosts/local/memory", headers=AUTH) as r:
            assert r.status == 200
            view = await r.json()
        rows = {c["name"]: c for c in view["containers"]}
        assert rows[name(dev)]["adjustable"] is True and rows[name(dev)]["limit"] == 512 * MIB
        assert rows[name(plain)]["adjustable"] is False and rows[name(plain)]["why_not"]
        assert view["budget"] == view["total"] - view["reserve"] and view["step"] == 64 * MIB
        async with s.get(url + "/api/v1/hosts/nope/memory", headers=AUTH) as r:
            assert r.status == 404

        bad: list[tuple[Any, str]] = [
            ("not json", "not valid JSON"),
            ([1, 2], "JSON object"),
            ({}, "'changes' is required"),
            ({"changes": {}}, "at least one container"),
            ({"changes": []}, "'changes' must be an object"),
            ({"changes": {name(dev): "3q"}}, f"changes[{name(dev)!r}]: invalid size '3q'"),
            ({"changes": {name(dev): 1.5}}, "whole number of bytes"),
            ({"changes": {name(dev): -5}}, "cannot be negative"),
            ({"changes": {name(dev): True}}, "expected a size"),
            ({"changes": {name(dev): "1g"}, "confirm_below_usage": "yes"}, "confirm_below_usage"),
            ({"changes": {name(dev): "1g"}, "dry": 1}, "unknown field 'dry'"),
        ]
        for path in ("/api/v1/memory/plan", "/api/v1/memory/apply"):
            for body, expected in bad:
                kwargs: dict[str, Any] = {"data": body} if isinstance(body, str) else {"json": body}
                async with s.post(url + path, headers=AUTH, **kwargs) as r:
                    assert r.status == 400, (path, body)
                    message = (await r.json())["error"]["message"]
                    assert expected in message, (body, message)
        assert limits(docker_api, dev["Id"]) == (512 * MIB, 512 * MIB)

        async with s.post(
            url + "/api/v1/memory/plan", headers=AUTH, json={"changes": {name(dev): "1g"}}
        ) as r:
            assert r.status == 200
            plan = await r.json()
        assert plan["ok"] is True and plan["checks"][0]["new_limit"] == GIB
        assert plan["who"] == "api"
        assert limits(docker_api, dev["Id"]) == (512 * MIB, 512 * MIB)

        refused = {"changes": {name(dev): "128m", name(plain): "1g", "nobody": "1g"}}
        async with s.post(url + "/api/v1/memory/apply", headers=AUTH, json=refused) as r:
            assert r.status == 409
            body = await r.json()
        assert body["state"] == "refused"
        assert [e["code"] for e in body["plan"]["errors"]] == ["unknown_container"]
        assert {c["verdict"] for c in body["plan"]["checks"]} == {"refused"}

        stream = await s.get(url + "/api/v1/events?kinds=memory", headers=AUTH)
        assert stream.status == 200
        good = {"changes": {f"local/{dev['Id']}": 1073741824}}
        async with s.post(url + "/api/v1/memory/apply", headers=AUTH, json=good) as r:
            assert r.status == 200
            body = await r.json()
        assert body["state"] == "applied" and body["outcomes"][0]["outcome"] == "applied"
        assert limits(docker_api, dev["Id"]) == (GIB, GIB)
        async with asyncio.timeout(5):  # the batch reached the event stream too
            async for line in stream.content:
                if line.startswith(b"data:") and body["batch_id"].encode() in line:
                    break
        stream.close()

        async with s.get(url + "/api/v1/memory/history?limit=5", headers=AUTH) as r:
            assert r.status == 200
            history = (await r.json())["history"]
        assert history[0]["who"] == "api" and history[0]["new_limit"] == GIB
        async with s.get(url + "/api/v1/memory/history?limit=0", headers=AUTH) as r:
            assert r.status == 400


# -- the CLI ----------------------------------------------------------------------------------
def test_cli_mem_set(
    tmp_path: Path,
    make_container: MakeContainer,
    docker_api: docker.APIClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[engine]\nstate_dir = "{tmp_path / "state"}"\n')
    dev = make_container("cli", mem_limit="512m", memswap_limit="512m", labels=DEVBOX)
    cfg = ["--config", str(config)]

    assert main(["mem", "set", *cfg, name(dev), "1g", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert name(dev) in out and "512 MiB" in out and "1.0 GiB" in out and "would apply" in out
    assert limits(docker_api, dev["Id"]) == (512 * MIB, 512 * MIB)

    assert main(["mem", "set", *cfg, name(dev), "1g"]) == 0
    out = capsys.readouterr().out
    assert "applied" in out
    assert limits(docker_api, dev["Id"]) == (GIB, GIB)

    assert main(["mem", "set", *cfg, name(dev), "128m"]) == 1  # below the floor
    assert "below the floor" in capsys.readouterr().out
    assert main(["mem", "set", *cfg, "no-such-container-xyz", "1g"]) == 2
    assert main(["mem", "set", *cfg, name(dev)]) == 2
    assert main(["mem", "set", *cfg, name(dev), "lots"]) == 2
    assert "invalid size 'lots'" in capsys.readouterr().err
    assert limits(docker_api, dev["Id"]) == (GIB, GIB)

    assert main(["mem", "history", *cfg]) == 0
    out = capsys.readouterr().out
    assert name(dev) in out and "cli" in out and "applied" in out
