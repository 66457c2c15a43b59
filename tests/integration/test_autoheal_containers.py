"""Autoheal inside real agent containers (issue 14, seed 001 §3.11): config files read and
repaired through the Docker archive API of the real dockerd, dated backups beside them, and a
gateway process (a copy of `sleep` named `gateway`) killed for real and restarted by the
configured command, escalated after N restarts an hour. The checks are called directly (one
pass each) so the order of events is the test's; the engine is real and connected."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from clawtui.config.escalations import AutohealContainer, BriefConfig, EscalationsConfig
from clawtui.engine.api.escalations import Source, Status
from clawtui.engine.core import Engine
from tests.integration.engine_helpers import make_settings, wait_until
from tests.integration.gateway_helpers import gateway_pids, kill_gateway, start_gateway

pytestmark = pytest.mark.integration

CONF = "/root/.openclaw/openclaw.json"
BACKUPS = "/root/.openclaw/backups"
VALID = {"gateway": {"port": 18789}, "agents": ["peter"]}


def sh(api: docker.APIClient, cid: str, cmd: str, *, check: bool = True) -> str:
    exec_id = api.exec_create(cid, ["sh", "-c", cmd])["Id"]
    out: bytes = api.exec_start(exec_id)
    code = api.exec_inspect(exec_id)["ExitCode"]
    if check:
        assert code == 0, f"{cmd!r} exited {code}: {out.decode(errors='replace')}"
    return out.decode(errors="replace")


@pytest.fixture
def agent(
    docker_api: docker.APIClient, debian_base_image: str, test_labels: dict[str, str]
) -> Iterator[str]:
    name = f"clawtui-t-heal-{uuid.uuid4().hex[:8]}"
    cid = docker_api.create_container(
        debian_base_image, command=["sleep", "3600"], name=name, labels=dict(test_labels)
    )["Id"]
    try:
        docker_api.start(cid)
        sh(docker_api, cid, "mkdir -p /root/.openclaw")
        yield name
    finally:
        docker_api.remove_container(cid, force=True, v=True)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    settings = make_settings(tmp_path / "state")
    settings.escalations = EscalationsConfig(stuck_detector=False)
    settings.brief = BriefConfig(enabled=False)
    engine = Engine(settings)
    await engine.start()
    try:
        await wait_until(
            lambda: engine.context.monitors["local"].client is not None, 60, "the Docker host"
        )
        yield engine
    finally:
        await engine.stop()


def write(api: docker.APIClient, cid: str, path: str, text: str) -> None:
    sh(api, cid, f"cat > {path} <<'EOF'\n{text}\nEOF")


def backups(api: docker.APIClient, cid: str) -> list[str]:
    out = sh(api, cid, f"ls -1 {BACKUPS} 2>/dev/null || true")
    return sorted(n for n in out.split() if n.startswith("openclaw.json.backup."))


async def test_config_files_in_a_container_are_repaired_with_dated_backups(
    docker_api: docker.APIClient, agent: str, engine: Engine
) -> None:
    entry = AutohealContainer(container=agent, files=[CONF], agent="peter")
    engine.settings.autoheal.keep_backups = 3
    heal = engine.container_autoheal
    where = f"local/{agent}:{CONF}"

    write(docker_api, agent, CONF, json.dumps(VALID))
    outcome = await heal.check_file(entry, CONF)
    assert (outcome.action, outcome.ok, outcome.path) == ("healthy", True, where)
    assert backups(docker_api, agent) == []

    # The seed's failure: a stale `meta` block. Dropped; the original kept as a dated backup.
    broken = {**VALID, "meta": {"generated": True}}
    write(docker_api, agent, CONF, json.dumps(broken))
    sh(docker_api, agent, f"chown 1234:2345 {CONF} && chmod 640 {CONF}")
    outcome = await heal.check_file(entry, CONF)
    assert outcome.action == "dropped_keys" and outcome.dropped == ["meta"]
    assert json.loads(sh(docker_api, agent, f"cat {CONF}")) == VALID
    # the owner and mode of the file are kept (the agent may not run as root), no temp left
    assert sh(docker_api, agent, f"stat -c '%u %g %a' {CONF}").split() == [
        "1234",
        "2345",
        "640",
    ]
    assert ".clawtui-tmp-" not in sh(docker_api, agent, "ls -a /root/.openclaw")
    [first] = backups(docker_api, agent)
    assert json.loads(sh(docker_api, agent, f"cat {BACKUPS}/{first}")) == broken
    assert outcome.backup == f"{BACKUPS}/{first}"

    # Does not parse: the newest *valid* backup is restored (the newer one holds `meta`).
    older = {"gateway": {"port": 1}}
    write(docker_api, agent, f"{BACKUPS}/openclaw.json.backup.20200101-000000-000000",
          json.dumps(older))  # fmt: skip
    write(docker_api, agent, CONF, "{not json")
    outcome = await heal.check_file(entry, CONF)
    assert outcome.action == "restored", outcome
    assert outcome.restored_from == f"{BACKUPS}/openclaw.json.backup.20200101-000000-000000"
    assert json.loads(sh(docker_api, agent, f"cat {CONF}")) == older
    assert len(backups(docker_api, agent)) == 3

    # Nothing valid to restore: an escalation, resolved by a later good check. Backups pruned
    # to keep_backups (3).
    sh(docker_api, agent, f"rm -f {BACKUPS}/*")
    write(docker_api, agent, CONF, "{still not json")
    outcome = await heal.check_file(entry, CONF)
    await heal.report_file(entry, outcome)
    assert outcome.action == "failed" and "no valid backup to restore" in outcome.problems
    [esc] = await engine.escalations.find(status=Status.PENDING)
    assert esc.source is Source.AUTOHEAL and esc.dedupe_key == f"autoheal:{where}"
    for _ in range(3):
        write(docker_api, agent, CONF, json.dumps({**VALID, "meta": 1}))
        await heal.report_file(entry, await heal.check_file(entry, CONF))
    assert len(backups(docker_api, agent)) == 3
    assert (await engine.escalations.get(esc.id)).status is Status.RESOLVED  # type: ignore[union-attr]

    # A container that is gone is a failed check, not a crash.
    gone = AutohealContainer(container=f"{agent}-missing", files=[CONF])
    outcome = await heal.check_file(gone, CONF)
    assert outcome.action == "failed" and not outcome.ok


async def test_gateway_not_alive_or_looping_is_restarted_then_escalated(
    docker_api: docker.APIClient, agent: str, engine: Engine
) -> None:
    sh(docker_api, agent, "cp /bin/sleep /usr/local/bin/gateway")
    start_gateway(docker_api, agent)
    entry = AutohealContainer(
        container=agent,
        agent="peter",
        gateway_process="gateway",
        restart_command=["setsid", "-f", "/usr/local/bin/gateway", "100000"],
        max_restarts_per_hour=4,
    )
    heal = engine.container_autoheal

    async def pending() -> list[Any]:
        return [
            e
            for e in await engine.escalations.find(status=Status.PENDING)
            if e.dedupe_key == f"autoheal:gateway:local/{agent}"
        ]

    assert await heal.check_gateway(entry) == "healthy"
    # It restarts on its own (new PIDs) twice: a crash loop, restarted by the command.
    for expected in ("healthy", "looping"):
        kill_gateway(docker_api, agent)
        start_gateway(docker_api, agent)
        assert await heal.check_gateway(entry) == expected
    assert gateway_pids(docker_api, agent)
    assert await pending() == []  # 3 restarts in the hour, fewer than 4

    # Killed: not alive → restarted by the command; the 4th restart escalates, once.
    kill_gateway(docker_api, agent)
    assert gateway_pids(docker_api, agent) == set()
    assert await heal.check_gateway(entry) == "restarted"
    assert gateway_pids(docker_api, agent), "the restart command did not bring it back"
    [esc] = await pending()
    assert esc.source is Source.AUTOHEAL and "restarted it 2 times" in esc.tried[0]
    kill_gateway(docker_api, agent)
    assert await heal.check_gateway(entry) == "restarted"
    assert [e.id for e in await pending()] == [esc.id]
