"""A hypothesis state machine over the real engine, dockerd and rclone: claims, releases, sink
failures, engine crashes (kill -9 at named points, in a child process), dockerd restarts and
reconciles, with invariants I1-I7 checked after every step (see clawtui/engine/pools/manager.py).

Deterministic about background work: the engine runs without its background loop and with the
machine's own clock (`pools.clock`), which moves STEP seconds per step and nowhere else. After
every step the test runs the background work itself (`pools.settle()`: fill, health, idle,
release retries, until a tick starts nothing), so retry and idle times, orphan ages and fill
backoff depend on the number of steps, never on how long a step took. (Docker's own `Created`
stamps are wall-clock and the machine's clock starts at the real time, so unknown containers are
never past their GC grace inside an example: that collection is tested in test_pools_lifecycle.)

Hypothesis is derandomized in CI (the `ci` profile, tests/conftest.py); CLAWTUI_HYPOTHESIS_LONG=1
runs a longer randomized search (not part of scripts/test).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import docker
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from clawtui.config import Settings
from clawtui.config.pools import PoolConfig
from clawtui.engine.api.pools import (
    PoolConflict,
    PoolNotFound,
    PoolSyncFailed,
    PoolUnavailable,
)
from clawtui.engine.core import Engine
from clawtui.engine.pools.crash import CRASH_ENV, CRASH_POINTS
from clawtui.engine.pools.spec import LABEL_POOL
from tests.integration.pool_crash_child import CLOCK_ENV
from tests.integration.pool_helpers import (
    local_sync,
    pool_settings,
    unique,
    workload,
)

ROOT = Path(__file__).resolve().parents[2]
TENANTS = ("t0", "t1", "t2")
STEP = 1.0
"""Seconds the machine's clock moves per step."""
LONG = os.environ.get("CLAWTUI_HYPOTHESIS_LONG") == "1"
STEPS: list[str] = []
"""Every example that ran its first step ("example") and every rule run (its name), so the test
can show it really exercised the machine."""


class PoolMachine(RuleBasedStateMachine):
    """One engine, one pool (min 2 warm, max 4, cold when empty), a local sink."""

    tmp: Path
    labels: dict[str, str]
    api: docker.APIClient
    restart_dockerd: Any = None

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.name = unique("sm")
        self.dir = self.tmp / self.name
        self.sink = self.dir / "sink"
        self.sink.mkdir(parents=True)
        self.settings: Settings = pool_settings(
            self.dir / "state",
            [workload(self.name, self.labels, sync=local_sync(self.sink, on_claim=True))],
            [PoolConfig(name=self.name, workload=self.name, min_warm=2, max=4,
                        escalate_after=2, gc_grace=5)],
        )  # fmt: skip
        self.settings_file = self.dir / "settings.json"
        self.settings_file.write_text(json.dumps(self.settings.model_dump(mode="json")))
        self.now = time.time()
        self.engine = self._start()
        self.sink_broken = False
        self.confirmed: set[str] = set()  # tenants with a release that said "saved"
        self.possible: dict[str, set[str]] = {}  # tenant -> contents its sink may hold

    # -- plumbing ----------------------------------------------------------------------------
    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def clock(self) -> float:
        return self.now

    def _start(self) -> Engine:
        engine = Engine(self.settings)
        engine.pools.background = False  # the machine runs the background work (settle)
        engine.pools.clock = self.clock
        self.run(engine.start())
        assert self.run(engine.wait_online(60)), "engine did not reach dockerd"
        self.run(engine.pools.reconcile())
        return engine

    def teardown(self) -> None:
        try:
            self.run(self.engine.stop())
        finally:
            self.loop.close()
            for c in self.api.containers(all=True, filters={"label": f"{LABEL_POOL}={self.name}"}):
                try:
                    self.api.remove_container(c["Id"], force=True, v=True)
                except docker.errors.APIError:
                    continue

    def _state_file(self, container: str) -> Path:
        return self.engine.pools.root / container / "state" / "data" / "f.txt"

    # -- rules -------------------------------------------------------------------------------
    @rule(tenant=st.sampled_from(TENANTS))
    def claim(self, tenant: str) -> None:
        STEPS.append("claim")
        try:
            info = self.run(self.engine.pools.claim(tenant, self.name))
        except (PoolConflict, PoolUnavailable, PoolSyncFailed):
            return
        restored = self._state_file(info.container)
        if restored.exists():  # only ever this tenant's own saved state
            assert restored.read_text() in self.possible.get(tenant, set())
        else:
            assert tenant not in self.confirmed, f"{tenant}'s saved state was not restored"
        content = f"{tenant}-{info.container}\n"
        restored.parent.mkdir(parents=True, exist_ok=True)
        restored.write_text(content)
        self.possible.setdefault(tenant, set()).add(content)

    @rule(tenant=st.sampled_from(TENANTS), force=st.booleans())
    def release(self, tenant: str, force: bool) -> None:
        STEPS.append("release")
        try:
            info = self.run(self.engine.pools.release(tenant, force=force))
        except (PoolNotFound, PoolSyncFailed, PoolConflict, PoolUnavailable):
            return
        assert info.state == "released"
        saved = self.sink / "tenants" / tenant / "data" / "f.txt"
        if not force and saved.exists():
            self.confirmed.add(tenant)
            assert saved.read_text() in self.possible.get(tenant, set())

    @rule()
    def break_or_fix_sink(self) -> None:
        """Sync failure: the sink folder becomes a file (rclone fails), or is put back."""
        STEPS.append("break_or_fix_sink")
        aside = self.dir / "sink-aside"
        if self.sink_broken:
            self.sink.unlink()
            aside.rename(self.sink)
        else:
            self.sink.rename(aside)
            self.sink.write_text("not a folder")
        self.sink_broken = not self.sink_broken

    @rule(point=st.sampled_from(CRASH_POINTS), tenant=st.sampled_from(TENANTS))
    def crash(self, point: str, tenant: str) -> None:
        """Stop the engine, let a child engine die at `point` mid-action, start again."""
        STEPS.append("crash")
        self.run(self.engine.stop())
        action = {"claim": "claim", "fill": "fill", "release": "release"}[point.split(".")[0]]
        env = {**os.environ, CRASH_ENV: point, CLOCK_ENV: repr(self.now), "PYTHONPATH": str(ROOT)}
        proc = subprocess.run(
            [sys.executable, "-m", "tests.integration.pool_crash_child",
             str(self.settings_file), action, tenant],
            env=env, capture_output=True, text=True, timeout=90, check=False,
        )  # fmt: skip
        assert proc.returncode in (0, 3, 137), proc.stderr[-2000:]
        self.engine = self._start()

    @rule()
    def reconcile(self) -> None:
        STEPS.append("reconcile")
        self.run(self.engine.pools.reconcile())
        assert self.run(self.engine.pools.reconcile()) == [], "I7: a second reconcile changed"

    @initialize(point=st.sampled_from(CRASH_POINTS))
    def start_with_a_crash(self, point: str) -> None:
        """Every example has at least one engine crash, with a tenant holding a container."""
        STEPS.append("example")
        self.claim("t1")
        self.crash(point, "t1")

    @initialize()
    def start_with_a_tenant_across_a_restart(self) -> None:
        """In the disruptive run: a tenant holds a container while dockerd restarts."""
        if self.restart_dockerd is None:
            return
        self.claim("t0")
        self.dockerd_restart()

    @precondition(lambda self: self.restart_dockerd is not None)
    @rule()
    def dockerd_restart(self) -> None:
        STEPS.append("dockerd_restart")
        self.restart_dockerd()
        monitor = self.engine.monitors["local"]
        before = monitor.reconciles

        async def back() -> None:
            for _ in range(600):
                if monitor.reconciles > before and monitor.info.state.value == "online":
                    return
                await asyncio.sleep(0.1)
            raise AssertionError("the engine did not reconnect after the dockerd restart")

        self.run(back())
        self.run(self.engine.pools.reconcile())

    # -- invariants --------------------------------------------------------------------------
    @invariant()
    def invariants_hold(self) -> None:
        """After every step: the clock moves, the background work runs to its end, then I1-I6."""
        self.now += STEP
        self.run(self.engine.pools.settle())
        problems = self.run(self.engine.pools.invariants(filling=True))
        assert problems == [], problems


def _machine(tmp: Path, labels: dict[str, str], api: docker.APIClient, restart: Any) -> type:
    return type(
        "Machine",
        (PoolMachine,),
        {
            "tmp": tmp,
            "labels": labels,
            "api": api,
            "restart_dockerd": staticmethod(restart) if restart else None,
        },
    )


@pytest.mark.timeout(3600 if LONG else 600)
def test_pool_state_machine(
    tmp_path: Path, docker_api: docker.APIClient, test_labels: dict[str, str], pool_image: str
) -> None:
    machine = _machine(tmp_path, test_labels, docker_api, None)
    # No derandomize here: the profile decides (derandomized under CI, see tests/conftest.py).
    machine.TestCase.settings = settings(
        max_examples=40 if LONG else 6,
        stateful_step_count=30 if LONG else 14,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    STEPS.clear()
    machine.TestCase().runTest()
    print("state machine steps:", {k: STEPS.count(k) for k in sorted(set(STEPS))})
    # Hypothesis may end a run before max_examples (and may build a machine it then drops
    # before its first step); each example that ran began with a crash.
    examples = STEPS.count("example")
    assert examples >= 3 and STEPS.count("crash") >= examples and len(STEPS) >= 20, STEPS
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.mark.disruptive
@pytest.mark.timeout(900)
def test_pool_state_machine_with_dockerd_restarts(
    tmp_path: Path,
    docker_api: docker.APIClient,
    test_labels: dict[str, str],
    pool_image: str,
    restart_dockerd: Any,
) -> None:
    machine = _machine(tmp_path, test_labels, docker_api, restart_dockerd)
    machine.TestCase.settings = settings(
        max_examples=1,
        stateful_step_count=8,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    STEPS.clear()
    machine.TestCase().runTest()
    print("state machine steps:", {k: STEPS.count(k) for k in sorted(set(STEPS))})
    assert STEPS.count("dockerd_restart") >= 1
