"""A memory batch over two real Docker engines is one all-or-nothing batch per host (issue 18).

The system dockerd (`local`) and `alpha`, an extra dockerd on this machine from the
`extra_engines` session fixture (tests/integration/engines.py: its own socket, data root, exec
root, pidfile and bridge). Limits are checked afterwards with a real `docker inspect` on each
engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import docker
import pytest
from docker.errors import NotFound

from clawtui.cli import main
from clawtui.config import EngineConfig, HostConfig, Settings
from clawtui.engine.api.memory import BatchState, MemoryPlan, Outcome, PlanErrorCode
from clawtui.engine.core import Engine
from clawtui.service.runner import ServiceRunner
from tests.integration.engine_helpers import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

MIB = 1024 * 1024
DEVBOX = {"clawtui.role": "devbox"}
TOKEN = "t0ken-for-memory-many-hosts-0123456789"


def limits(api: docker.APIClient, cid: str) -> tuple[int, int]:
    hc = api.inspect_container(cid)["HostConfig"]
    return hc["Memory"], hc["MemorySwap"]


@pytest.fixture
def alpha_api(extra_engines: tuple[Any, Any]) -> Iterator[docker.APIClient]:
    api = extra_engines[0].api()
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def on_alpha(
    alpha_api: docker.APIClient, busybox_image: str, test_labels: dict[str, str]
) -> Iterator[Any]:
    """Make 256 MiB devbox containers on alpha; removed at the end."""
    made: list[str] = []

    def make(suffix: str) -> str:
        cid: str = alpha_api.create_container(
            busybox_image,
            command=["sleep", "3600"],
            name=f"clawtui-t-mh-{uuid.uuid4().hex[:6]}-{suffix}",
            labels={**DEVBOX, **test_labels},
            host_config=alpha_api.create_host_config(mem_limit="256m", memswap_limit="256m"),
        )["Id"]
        made.append(cid)
        alpha_api.start(cid)
        return cid

    yield make
    for cid in made:
        with contextlib.suppress(NotFound):
            alpha_api.remove_container(cid, force=True, v=True)


async def _engine(tmp_path: Path, alpha_url: str, alpha_reserve: int = 0) -> Engine:
    settings = Settings(
        engine=EngineConfig(
            state_dir=tmp_path / "state", stats_interval=0.5, reconnect_max_backoff=0.5
        ),
        hosts=[
            HostConfig(name="local", cgroup_root="/sys/fs/cgroup"),
            HostConfig(name="alpha", url=alpha_url, cgroup_root=None, memory_reserve=alpha_reserve),
        ],
    )
    engine = Engine(settings)
    await engine.start()
    assert await engine.wait_online(60), [(h.name, h.state, h.error) for h in engine.hosts()]
    return engine


@pytest.fixture
async def engine(tmp_path: Path, extra_engines: tuple[Any, Any]) -> AsyncIterator[Engine]:
    e = await _engine(tmp_path, extra_engines[0].url)
    try:
        yield e
    finally:
        await e.stop()


@pytest.fixture
async def budgetless(
    tmp_path: Path,
    extra_engines: tuple[Any, Any],
    make_container: Any,
    alpha_api: docker.APIClient,
    on_alpha: Any,
) -> AsyncIterator[tuple[Engine, str, str]]:
    """An engine whose alpha has no budget left (`memory_reserve` = its RAM), a 256 MiB devbox
    on each host: (engine, local's id, alpha's id)."""
    total = int(alpha_api.info()["MemTotal"])
    engine = await _engine(tmp_path, extra_engines[0].url, alpha_reserve=total)
    try:
        local = make_container("mh-budget", mem_limit="256m", memswap_limit="256m", labels=DEVBOX)
        a = on_alpha("budget")
        await _seen(engine, f"local/{local['Id']}", f"alpha/{a}")
        yield engine, local["Id"], a
    finally:
        await engine.stop()


async def _seen(engine: Engine, *keys: str) -> None:
    await wait_until(lambda: all(engine.container(k) for k in keys), 10, "containers listed")


async def test_batch_over_two_hosts_applies_on_one_and_rolls_back_on_the_other(
    engine: Engine,
    make_container: Any,
    docker_api: docker.APIClient,
    alpha_api: docker.APIClient,
    on_alpha: Any,
) -> None:
    """A container on alpha is removed between validation and update: alpha's part fails and
    its other, already applied update is put back; local's part is applied all the same."""
    local = make_container("mh-local", mem_limit="256m", memswap_limit="256m", labels=DEVBOX)
    a_kept, a_gone = on_alpha("kept"), on_alpha("gone")
    keys = [f"local/{local['Id']}", f"alpha/{a_kept}", f"alpha/{a_gone}"]
    await _seen(engine, *keys)

    hooked: list[str] = []

    async def remove_on_alpha(plan: MemoryPlan) -> None:
        hosts = {c.host for c in plan.checks}
        hooked.extend(sorted(hosts))
        if hosts == {"alpha"}:
            await asyncio.to_thread(alpha_api.remove_container, a_gone, force=True)

    engine.memory.on_validated = remove_on_alpha
    result = await engine.memory.apply(dict.fromkeys(keys, 320 * MIB), who="test")

    assert sorted(hooked) == ["alpha", "local"]  # validated apart, one part per host
    assert result.state is BatchState.MIXED, result.summary()
    by_host = {h.host: h for h in result.hosts}
    assert by_host["local"].state is BatchState.APPLIED and by_host["local"].reason is None
    assert by_host["alpha"].state is BatchState.ROLLED_BACK
    assert "no longer exists" in (by_host["alpha"].reason or "")
    assert (by_host["local"].containers, by_host["alpha"].containers) == (1, 2)
    outcomes = {o.check.key: o.outcome for o in result.outcomes}
    assert outcomes == {
        keys[0]: Outcome.APPLIED,
        keys[1]: Outcome.ROLLED_BACK,
        keys[2]: Outcome.FAILED,
    }
    # What the engines really have now.
    assert limits(docker_api, local["Id"]) == (320 * MIB, 320 * MIB)
    assert limits(alpha_api, a_kept) == (256 * MIB, 256 * MIB)
    rows = await engine.memory.history(10)
    assert sorted((r.host, r.outcome.value) for r in rows) == [
        ("alpha", "failed"),
        ("alpha", "rolled_back"),
        ("local", "applied"),
    ]
    assert len({r.batch_id for r in rows}) == 1


async def test_one_host_over_its_budget_is_refused_the_other_applies(
    budgetless: tuple[Engine, str, str],
    docker_api: docker.APIClient,
    alpha_api: docker.APIClient,
) -> None:
    """alpha's `memory_reserve` leaves it no budget for an increase: its part is refused with
    the budget reason naming alpha, nothing is sent there, and local's part is applied."""
    engine, local, a = budgetless
    result = await engine.memory.apply({f"local/{local}": 320 * MIB, f"alpha/{a}": 320 * MIB},
                                       who="test")  # fmt: skip
    assert result.state is BatchState.MIXED, result.summary()
    by_host = {h.host: h for h in result.hosts}
    assert by_host["local"].state is BatchState.APPLIED
    assert by_host["alpha"].state is BatchState.REFUSED
    assert "host alpha: the batch would allocate" in (by_host["alpha"].reason or "")
    assert [e.code for e in result.plan.errors] == [PlanErrorCode.BUDGET]
    assert limits(docker_api, local) == (320 * MIB, 320 * MIB)
    assert limits(alpha_api, a) == (256 * MIB, 256 * MIB)


async def test_api_apply_over_two_hosts_answers_409_with_each_hosts_part(
    budgetless: tuple[Engine, str, str],
    docker_api: docker.APIClient,
    alpha_api: docker.APIClient,
) -> None:
    """The REST contract: the same route and body; a mixed batch is a 409 whose JSON has
    `state` = mixed and `hosts` (each host's state and reason)."""
    engine, local, a = budgetless
    runner = ServiceRunner(engine, engine.settings, token=TOKEN, listen=("127.0.0.1", 0))
    await runner.start()
    try:
        changes = {f"local/{local}": "320m", f"alpha/{a}": "320m"}
        async with (
            aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as s,
            s.post(runner.url + "/api/v1/memory/apply", json={"changes": changes}) as r,
        ):
            assert r.status == 409
            body = await r.json()
    finally:
        await runner.stop()
    assert body["state"] == "mixed"
    assert [(h["host"], h["state"]) for h in body["hosts"]] == [
        ("local", "applied"),
        ("alpha", "refused"),
    ]
    assert "budget" in body["hosts"][1]["reason"]
    assert limits(docker_api, local) == (320 * MIB, 320 * MIB)
    assert limits(alpha_api, a) == (256 * MIB, 256 * MIB)


def test_cli_mem_set_over_two_hosts_says_each_host_and_exits_1(
    tmp_path: Path,
    extra_engines: tuple[Any, Any],
    make_container: Any,
    docker_api: docker.APIClient,
    alpha_api: docker.APIClient,
    on_alpha: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    total = int(alpha_api.info()["MemTotal"])
    config = tmp_path / "config.toml"
    config.write_text(
        f'[engine]\nstate_dir = "{tmp_path / "state"}"\n\n'
        '[[hosts]]\nname = "local"\n\n'
        f'[[hosts]]\nname = "alpha"\nurl = "{extra_engines[0].url}"\n'
        f"memory_reserve = {total}\n"
    )
    local = make_container("mh-cli", mem_limit="256m", memswap_limit="256m", labels=DEVBOX)
    a = on_alpha("cli")
    cfg = ["--config", str(config)]
    assert main(["mem", "set", *cfg, f"local/{local['Id']}", "320m", f"alpha/{a}", "320m"]) == 1
    out = capsys.readouterr().out
    assert "host local: applied" in out
    assert "host alpha: refused: host alpha: the batch would allocate" in out
    assert limits(docker_api, local["Id"]) == (320 * MIB, 320 * MIB)
    assert limits(alpha_api, a) == (256 * MIB, 256 * MIB)
