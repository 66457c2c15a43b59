"""Autoheal on a monitored host over SSH (issue 14, seed 001 §3.11): a real sshd host
(`clawtui-test/monitored-host:1`, tests/integration/sshd_helpers.py) named by a `[[monitors]]`
entry, reached with its host key checked. A TOML config there is broken for real (bad syntax,
a forbidden key) and repaired over SFTP with a dated backup beside it; a failed repair and a
config path that is a symbolic link become escalations (the link is not followed); a gateway
process (a copy of `sleep` named `gateway`) is killed for real and restarted by the configured
command run over SSH, and N restarts in an hour escalate. The test sets the host up and reads
it back through `docker exec` (its own hands); the engine only uses SSH. Checks are called
directly (one pass each) so the order of events is the test's; the engine is real."""

from __future__ import annotations

import tomllib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from clawtui.config.escalations import (
    AutohealHost,
    BriefConfig,
    EscalationsConfig,
    MonitorConfig,
)
from clawtui.engine.api.escalations import Source, Status
from clawtui.engine.api.models import EventKind
from clawtui.engine.core import Engine
from clawtui.fsutil import TEMP_MARKER
from tests.integration.engine_helpers import make_settings, wait_for_event
from tests.integration.gateway_helpers import gateway_pids, kill_gateway, start_gateway
from tests.integration.sshd_helpers import exec_ok, sshd_host

pytestmark = pytest.mark.integration

MONITOR = "agenthost"
DIR = "/srv/agent"
CONF = f"{DIR}/config.toml"
BACKUPS = f"{DIR}/backups"
VALID = 'name = "peter"\n\n[gateway]\nport = 18789\n'


@pytest.fixture
def host(
    docker_api: docker.APIClient,
    monitored_host_image: str,
    test_labels: dict[str, str],
    tmp_path: Path,
) -> Iterator[dict[str, Any]]:
    with sshd_host(
        docker_api, monitored_host_image, test_labels, tmp_path, docker_socket=False
    ) as found:
        exec_ok(docker_api, found["id"], f"mkdir -p {DIR}")
        yield found


@pytest.fixture
async def engine(tmp_path: Path, host: dict[str, Any]) -> AsyncIterator[Engine]:
    settings = make_settings(tmp_path / "state")
    settings.escalations = EscalationsConfig(stuck_detector=False)
    settings.brief = BriefConfig(enabled=False)
    engine = Engine(settings)
    await engine.start()
    # The monitor is added after start: its health checks are not this test's subject (the
    # health monitors are built at start), autoheal looks the monitor up on every pass.
    engine.settings.monitors = [
        MonitorConfig(
            name=MONITOR,
            host=host["ip"],
            identity_file=host["key"],
            known_hosts=host["known_hosts"],
            timeout=30,
        )
    ]
    try:
        yield engine
    finally:
        await engine.stop()


def write(api: docker.APIClient, cid: str, path: str, text: str) -> None:
    exec_ok(api, cid, f"cat > {path} <<'EOF'\n{text}EOF")


def read(api: docker.APIClient, cid: str, path: str) -> str:
    return exec_ok(api, cid, f"cat {path}")


def backups(api: docker.APIClient, cid: str) -> list[str]:
    out = exec_ok(api, cid, f"ls -1 {BACKUPS} 2>/dev/null || true")
    return sorted(n for n in out.split() if n.startswith("config.toml.backup."))


async def pending(engine: Engine, key: str) -> list[Any]:
    return [e for e in await engine.escalations.find(status=Status.PENDING) if e.dedupe_key == key]


async def test_config_files_on_a_host_are_repaired_over_ssh_with_dated_backups(
    docker_api: docker.APIClient, host: dict[str, Any], engine: Engine
) -> None:
    cid = host["id"]
    entry = AutohealHost(monitor=MONITOR, files=[CONF], agent="peter", forbidden_keys=["meta"])
    engine.settings.autoheal.keep_backups = 3
    heal = engine.host_autoheal
    where = f"{MONITOR}:{CONF}"
    key = f"autoheal:{where}"
    sub = engine.subscribe([EventKind.INCIDENT])

    write(docker_api, cid, CONF, VALID)
    exec_ok(docker_api, cid, f"chmod 640 {CONF} && chown 1234:2345 {CONF}")
    outcome = await heal.check_file(entry, CONF)
    assert (outcome.action, outcome.ok, outcome.path) == ("healthy", True, where)
    assert backups(docker_api, cid) == []

    # A forbidden key: dropped, the file replaced by rename (mode and owner kept, no temp file
    # left), the original kept byte for byte as a dated backup beside it.
    broken = VALID + '\n[meta]\ngenerated = "by the config generator"\n'
    write(docker_api, cid, CONF, broken)
    inode = exec_ok(docker_api, cid, f"stat -c %i {CONF}")
    outcome = await heal.check_file(entry, CONF)
    await heal.report_file(entry, outcome)
    assert outcome.action == "dropped_keys" and outcome.dropped == ["meta"], outcome
    assert tomllib.loads(read(docker_api, cid, CONF)) == tomllib.loads(VALID)
    assert exec_ok(docker_api, cid, f"stat -c '%a %u %g' {CONF}").split() == ["640", "1234", "2345"]
    assert TEMP_MARKER not in exec_ok(docker_api, cid, f"ls -a {DIR}")
    assert exec_ok(docker_api, cid, f"stat -c %i {CONF}") != inode  # renamed over, not rewritten
    [first] = backups(docker_api, cid)
    assert read(docker_api, cid, f"{BACKUPS}/{first}") == broken
    assert outcome.backup == f"{BACKUPS}/{first}"
    assert exec_ok(docker_api, cid, f"stat -c %a {BACKUPS}/{first}").strip() == "600"
    assert [
        e.message for e in await engine.activity(50) if e.message.startswith("autoheal repaired")
    ] == [f"autoheal repaired {where}: dropped meta"]
    event = await wait_for_event(sub, lambda e: e.data.get("change") == "autoheal", 10)
    assert event.data["autoheal"].path == where and event.data["autoheal"].backup == outcome.backup

    # Bad syntax: the newest *valid* backup is restored (the newer one holds `meta`).
    older = 'name = "peter"\n\n[gateway]\nport = 1\n'
    write(docker_api, cid, f"{BACKUPS}/config.toml.backup.20200101-000000-000000", older)
    write(docker_api, cid, CONF, "name = [unclosed\n")
    outcome = await heal.check_file(entry, CONF)
    assert outcome.action == "restored", outcome
    assert outcome.restored_from == f"{BACKUPS}/config.toml.backup.20200101-000000-000000"
    assert read(docker_api, cid, CONF) == older
    assert len(backups(docker_api, cid)) == 3
    assert await pending(engine, key) == []

    # Unparseable with nothing valid to restore: an escalation; a later good pass (the engine's
    # own loop body, one connection for the entry) resolves it, pruning to keep_backups (3).
    exec_ok(docker_api, cid, f"rm -f {BACKUPS}/*")
    write(docker_api, cid, CONF, "still = [not toml\n")
    outcome = await heal.check_file(entry, CONF)
    await heal.report_file(entry, outcome)
    assert outcome.action == "failed" and "no valid backup to restore" in outcome.problems
    [esc] = await pending(engine, key)
    assert esc.source is Source.AUTOHEAL and esc.agent == "peter"
    assert read(docker_api, cid, CONF) == "still = [not toml\n"  # left as it was
    engine.settings.autoheal.hosts = [entry]
    for _ in range(3):
        write(docker_api, cid, CONF, "meta = 1\n" + VALID)
        [again] = await heal.check_all()
        assert again.action == "dropped_keys"
    assert len(backups(docker_api, cid)) == 3
    assert (await engine.escalations.get(esc.id)).status is Status.RESOLVED  # type: ignore[union-attr]


async def test_a_config_path_that_is_a_link_is_refused_not_followed(
    docker_api: docker.APIClient, host: dict[str, Any], engine: Engine
) -> None:
    cid = host["id"]
    target = "/root/outside.toml"
    write(docker_api, cid, target, "meta = 1\n")  # would be "repaired" if the link were followed
    link = f"{DIR}/linked.toml"
    exec_ok(docker_api, cid, f"ln -s {target} {link}")
    entry = AutohealHost(monitor=MONITOR, files=[link])
    heal = engine.host_autoheal

    outcome = await heal.check_file(entry, link)
    await heal.report_file(entry, outcome)
    assert outcome.action == "failed" and not outcome.ok
    assert "symbolic link" in outcome.problems[0], outcome.problems
    assert read(docker_api, cid, target) == "meta = 1\n"
    assert exec_ok(docker_api, cid, f"readlink {link}").strip() == target
    assert exec_ok(docker_api, cid, f"ls -a {DIR}").split() == [".", "..", "linked.toml"]
    [esc] = await pending(engine, f"autoheal:{MONITOR}:{link}")
    assert "not a link" in esc.proposed_fix

    # A monitor that cannot be reached (wrong host key file: nothing pinned) fails the check.
    engine.settings.monitors[0].known_hosts = host["known_hosts"].with_name("empty_known_hosts")
    outcome = await heal.check_file(AutohealHost(monitor=MONITOR, files=[CONF]), CONF)
    assert outcome.action == "failed" and "HostKeyUnknown" in outcome.problems[0]


async def test_gateway_on_a_host_is_restarted_over_ssh_then_escalated(
    docker_api: docker.APIClient, host: dict[str, Any], engine: Engine
) -> None:
    cid = host["id"]
    exec_ok(docker_api, cid, "cp /bin/sleep /usr/local/bin/gateway")
    start_gateway(docker_api, cid)
    # One argv word holds a whole shell line: it reaches the host as one quoted argument.
    entry = AutohealHost(
        monitor=MONITOR,
        agent="peter",
        gateway_process="gateway",
        restart_command=[
            "sh",
            "-c",
            "setsid -f /usr/local/bin/gateway 100000 </dev/null >/dev/null 2>&1",
        ],
        max_restarts_per_hour=3,
    )
    heal = engine.host_autoheal
    key = f"autoheal:gateway:{MONITOR}"

    assert await heal.check_gateway(entry) == "healthy"
    # Killed: not alive → restarted by the command, over SSH.
    kill_gateway(docker_api, cid)
    assert await heal.check_gateway(entry) == "restarted"
    assert gateway_pids(docker_api, cid), "the restart command did not bring it back"
    assert await heal.check_gateway(entry) == "healthy"
    # It restarts on its own (new PIDs) once: still fewer than 3 restarts in the hour.
    kill_gateway(docker_api, cid)
    start_gateway(docker_api, cid)
    assert await heal.check_gateway(entry) == "healthy"
    assert await pending(engine, key) == []
    # A second restart on its own is a crash loop: restarted by us, and the 4th restart in
    # the hour escalates, once.
    kill_gateway(docker_api, cid)
    start_gateway(docker_api, cid)
    assert await heal.check_gateway(entry) == "looping"
    [esc] = await pending(engine, key)
    assert esc.source is Source.AUTOHEAL and "restarted it 2 times" in esc.tried[0]
    assert "restarted on its own 2 times" in esc.tried[1]
    logged = [e.message for e in await engine.activity(50) if "gateway gateway" in e.message]
    assert len(logged) == 2, logged  # one line per restart: not running, then the crash loop
    assert sum("not running" in m for m in logged) == 1
    assert sum("restarted 2 times on its own" in m for m in logged) == 1
    kill_gateway(docker_api, cid)
    assert await heal.check_gateway(entry) == "restarted"
    assert gateway_pids(docker_api, cid)
    assert [e.id for e in await pending(engine, key)] == [esc.id]
