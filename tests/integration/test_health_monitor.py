"""Host health checks against a real sshd container that is made unhealthy for real.

The monitored host is `clawtui-test/monitored-host:1` (docker/test-images/Dockerfile.monitored-
host: sshd, procps, the docker CLI) with the Docker socket mounted, so `docker ps` inside it
sees the test's culprits: a tmpfs filled past 80%, a container restarting in a loop, a memory
hog in a container with a limit. Notifications are counted on a real webhook channel (a
loopback aiohttp server).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from aiohttp import web

from clawtui.config import NotifyConfig, WebhookConfig
from clawtui.config.escalations import (
    BriefConfig,
    EscalationsConfig,
    MonitorConfig,
    Thresholds,
)
from clawtui.engine.api.escalations import LoopState
from clawtui.engine.core import Engine
from tests.integration.engine_helpers import make_settings
from tests.integration.sshd_helpers import exec_ok as _exec
from tests.integration.sshd_helpers import sshd_host as _sshd_host

pytestmark = pytest.mark.integration

IMAGE = "clawtui-test/monitored-host:1"
FILL = "dd if=/dev/zero of=/mnt/small/fill bs=1k count=900"
DOCKERFILE = Path(__file__).resolve().parents[2] / "docker" / "test-images"


@pytest.fixture(scope="module")
def monitored_image(docker_api: docker.APIClient) -> str:
    try:
        docker_api.inspect_image(IMAGE)
    except docker.errors.ImageNotFound:
        for _ in docker_api.build(
            path=str(DOCKERFILE),
            dockerfile="Dockerfile.monitored-host",
            tag=IMAGE,
            rm=True,
            decode=True,
        ):
            pass
    return IMAGE


@pytest.fixture
def monitored_host(
    docker_api: docker.APIClient,
    monitored_image: str,
    test_labels: dict[str, str],
    tmp_path: Path,
) -> Iterator[dict[str, Any]]:
    """A running sshd host with the system Docker socket mounted."""
    with _sshd_host(docker_api, monitored_image, test_labels, tmp_path) as host:
        yield host


@pytest.fixture
async def webhook() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/hook", received
    await runner.cleanup()


async def _until(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if await pred():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.2)


def _count(received: list[dict[str, Any]], kind: str, signal: str) -> int:
    return sum(1 for r in received if r["kind"] == kind and r["data"].get("signal") == signal)


async def test_incidents_open_notify_once_and_resolve(
    docker_api: docker.APIClient,
    make_container: Any,
    monitored_host: dict[str, Any],
    webhook: tuple[str, list[dict[str, Any]]],
    tmp_path: Path,
) -> None:
    url, received = webhook
    culprit = f"monitor-{uuid.uuid4().hex[:8]}"
    settings = make_settings(tmp_path / "state")
    settings.notify = NotifyConfig(webhook=WebhookConfig(url=url), retries=0)
    settings.escalations = EscalationsConfig(stuck_detector=False)
    settings.brief = BriefConfig(enabled=False)
    settings.monitors = [
        MonitorConfig(
            name="staging",
            host=monitored_host["ip"],
            username="root",
            identity_file=monitored_host["key"],
            known_hosts=monitored_host["known_hosts"],
            interval=1.0,
            timeout=30.0,
            disk_mounts=["/mnt/small"],
            docker_filters=[f"label=clawtui.test.culprit={culprit}"],
            # CPU is not under test here; a shared 2-core machine is busy.
            thresholds=Thresholds(cpu_percent=100_000),
        )
    ]
    engine = Engine(settings)
    await engine.start()
    try:
        check = engine.health.checks[0]
        # A healthy first check: no incident, no notification (logged silently).
        await _until(lambda: _async(check.last_ok is not None), 60, "a first healthy check")
        assert await engine.incidents.find() == []
        assert [r for r in received if r["kind"].startswith("incident.")] == []

        # Make the host unhealthy for real.
        _exec(docker_api, monitored_host["id"], FILL)
        looper = make_container(
            "looper",
            command=["sh", "-c", "sleep 0.3; exit 1"],
            labels={"clawtui.test.culprit": culprit},
            restart_policy={"Name": "always"},
        )
        hog = make_container(
            "hog",
            command=["sh", "-c", "dd if=/dev/zero of=/dev/shm/hog bs=1M count=44; sleep 3600"],
            mem_limit="48m",
            memswap_limit="48m",
            shm_size="64m",
            labels={"clawtui.test.culprit": culprit},
        )
        signals = {
            "disk:/mnt/small",
            f"restarts:{looper['Name'].lstrip('/')}",
            f"memory:{hog['Name'].lstrip('/')}",
        }

        async def all_open() -> bool:
            open_ = {i.signal for i in await engine.incidents.find(open_only=True)}
            return signals <= open_

        await _until(all_open, 90, f"incidents on {sorted(signals)}")
        for incident in await engine.incidents.find(open_only=True):
            if incident.signal in signals:
                assert incident.state is LoopState.DETECTED
                assert incident.report.summary and incident.report.evidence
                assert incident.report.recommended_fix
        # Several more checks with the anomalies still there: still one notification each.
        seen = check.checks
        await _until(lambda: _async(check.checks >= seen + 3), 60, "three more checks")
        await _until(
            lambda: _async(all(_count(received, "incident.detected", s) >= 1 for s in signals)),
            20,
            "the webhook deliveries",
        )
        for s in signals:
            assert _count(received, "incident.detected", s) == 1, (s, received)
        occurrences = {i.signal: i.occurrences for i in await engine.incidents.find()}
        assert all(occurrences[s] >= 2 for s in signals), occurrences

        # Remove the causes: every incident resolves, notified once.
        _exec(docker_api, monitored_host["id"], "rm -f /mnt/small/fill")
        docker_api.remove_container(looper["Id"], force=True)
        _exec(docker_api, hog["Id"], "rm -f /dev/shm/hog")

        async def all_resolved() -> bool:
            by_signal = {i.signal: i for i in await engine.incidents.find()}
            return all(by_signal[s].state is LoopState.RESOLVED for s in signals)

        await _until(all_resolved, 90, "the incidents to resolve")
        await _until(
            lambda: _async(all(_count(received, "incident.resolved", s) == 1 for s in signals)),
            20,
            "resolved notifications",
        )
        seen = check.checks
        await _until(lambda: _async(check.checks >= seen + 2), 60, "two more checks")
        for s in signals:
            assert _count(received, "incident.detected", s) == 1
            assert _count(received, "incident.resolved", s) == 1
            assert _count(received, "incident.restarting", s) == 0

        # The same cause again: the loop restarts (notified once), then resolves again.
        _exec(docker_api, monitored_host["id"], FILL)

        async def restarting() -> bool:
            return any(
                i.signal == "disk:/mnt/small" and i.state is LoopState.RESTARTING
                for i in await engine.incidents.find()
            )

        await _until(restarting, 60, "the disk incident to restart")
        await _until(
            lambda: _async(_count(received, "incident.restarting", "disk:/mnt/small") == 1),
            20,
            "the restarting notification",
        )
    finally:
        await engine.stop()


async def _async(value: bool) -> bool:
    return value


async def test_unknown_host_key_is_an_incident_not_a_crash(
    monitored_host: dict[str, Any], tmp_path: Path
) -> None:
    settings = make_settings(tmp_path / "state")
    settings.escalations = EscalationsConfig(stuck_detector=False)
    settings.brief = BriefConfig(enabled=False)
    empty_known = tmp_path / "empty_known_hosts"
    empty_known.write_text("")
    settings.monitors = [
        MonitorConfig(
            name="unpinned",
            host=monitored_host["ip"],
            username="root",
            identity_file=monitored_host["key"],
            known_hosts=empty_known,
            interval=60,
        )
    ]
    engine = Engine(settings)
    await engine.start()
    try:
        await _until(
            lambda: _has_incident(engine, "ssh"), 30, "an ssh incident for the unknown key"
        )
        incident = (await engine.incidents.find())[0]
        assert "unknown host key" in incident.summary
        assert "clawtui ssh trust" in incident.report.evidence[0]
    finally:
        await engine.stop()


async def _has_incident(engine: Engine, signal: str) -> bool:
    return any(i.signal == signal for i in await engine.incidents.find())


async def test_status_page_down_then_up(
    webhook: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    url, received = webhook
    state = {"db": "UP"}

    async def status(request: web.Request) -> web.Response:
        services = [{"name": "api", "status": "UP"}, {"name": "db", "status": state["db"]}]
        return web.json_response({"services": services})

    app = web.Application()
    app.router.add_get("/status", status)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    settings = make_settings(tmp_path / "state")
    settings.notify = NotifyConfig(webhook=WebhookConfig(url=url), retries=0)
    settings.escalations = EscalationsConfig(stuck_detector=False)
    settings.brief = BriefConfig(enabled=False)
    settings.monitors = [
        MonitorConfig(name="ops", status_url=f"http://127.0.0.1:{port}/status", interval=0.2)
    ]
    engine = Engine(settings)
    await engine.start()
    try:
        check = engine.health.checks[0]
        await _until(lambda: _async(check.checks >= 2), 20, "two healthy checks")
        assert await engine.incidents.find() == []
        state["db"] = "DEGRADED"
        await _until(lambda: _has_incident(engine, "status:db"), 20, "a status:db incident")
        seen = check.checks
        await _until(lambda: _async(check.checks >= seen + 3), 20, "more checks")
        state["db"] = "UP"

        async def resolved() -> bool:
            return all(i.state is LoopState.RESOLVED for i in await engine.incidents.find())

        await _until(resolved, 20, "the incident to resolve")
        await _until(
            lambda: _async(_count(received, "incident.resolved", "status:db") == 1), 20, "resolve"
        )
        assert _count(received, "incident.detected", "status:db") == 1
        [incident] = await engine.incidents.find()
        assert incident.summary == "db on ops reports DEGRADED" and incident.occurrences >= 3
    finally:
        await engine.stop()
        await runner.cleanup()


# -- outages (issue 14): a stopped container, a dead agent process, host memory, no dockerd ----
AGENT = "buildagent"  # a copy of `sleep` under the build agent's name, run inside the host


def _start_agent(api: docker.APIClient, cid: str) -> None:
    _exec(api, cid, f"cp /bin/sleep /usr/local/bin/{AGENT}")
    exec_id = api.exec_create(cid, [f"/usr/local/bin/{AGENT}", "100000"])["Id"]
    api.exec_start(exec_id, detach=True)
    _exec(api, cid, f"for i in $(seq 100); do pgrep -x {AGENT} && exit 0; sleep 0.1; done; exit 1")


def _monitor(host: dict[str, Any], **kwargs: Any) -> MonitorConfig:
    return MonitorConfig(
        name="staging",
        host=host["ip"],
        username="root",
        identity_file=host["key"],
        known_hosts=host["known_hosts"],
        interval=1.0,
        timeout=30.0,
        disk_mounts=[],
        **kwargs,
    )


def _engine(tmp_path: Path, url: str, monitor: MonitorConfig) -> Engine:
    settings = make_settings(tmp_path / "state")
    settings.notify = NotifyConfig(webhook=WebhookConfig(url=url), retries=0)
    settings.escalations = EscalationsConfig(stuck_detector=False)
    settings.brief = BriefConfig(enabled=False)
    settings.monitors = [monitor]
    return Engine(settings)


async def _detected_then_resolved(
    engine: Engine,
    received: list[dict[str, Any]],
    signals: set[str],
    break_it: Any,
    repair_it: Any,
) -> None:
    """Healthy first; break → one incident per signal, notified once; repair → resolved once."""
    check = engine.health.checks[0]
    await _until(lambda: _async(check.last_ok is not None), 60, "a first healthy check")
    assert await engine.incidents.find() == []
    break_it()

    async def all_open() -> bool:
        return signals <= {i.signal for i in await engine.incidents.find(open_only=True)}

    await _until(all_open, 90, f"incidents on {sorted(signals)}")
    for incident in await engine.incidents.find(open_only=True):
        assert incident.signal in signals, incident.signal  # nothing else fired
        assert incident.state is LoopState.DETECTED
        report = incident.report
        assert report.summary and report.severity and report.affected_services
        assert report.evidence and report.immediate_action and report.recommended_fix
    seen = check.checks
    await _until(lambda: _async(check.checks >= seen + 2), 60, "two more checks")
    await _until(
        lambda: _async(all(_count(received, "incident.detected", s) >= 1 for s in signals)),
        20,
        "the detected notifications",
    )
    for s in signals:
        assert _count(received, "incident.detected", s) == 1, (s, received)
    repair_it()

    async def all_resolved() -> bool:
        by_signal = {i.signal: i for i in await engine.incidents.find()}
        return all(by_signal[s].state is LoopState.RESOLVED for s in signals)

    await _until(all_resolved, 90, "the incidents to resolve")
    await _until(
        lambda: _async(all(_count(received, "incident.resolved", s) >= 1 for s in signals)),
        20,
        "the resolved notifications",
    )
    seen = check.checks
    await _until(lambda: _async(check.checks >= seen + 2), 60, "two more checks")
    for s in signals:
        assert _count(received, "incident.detected", s) == 1, s
        assert _count(received, "incident.resolved", s) == 1, s


async def test_stopped_container_dead_agent_and_host_memory_are_incidents(
    docker_api: docker.APIClient,
    make_container: Any,
    monitored_host: dict[str, Any],
    webhook: tuple[str, list[dict[str, Any]]],
    tmp_path: Path,
) -> None:
    url, received = webhook
    culprit = f"outage-{uuid.uuid4().hex[:8]}"
    service = make_container("service", labels={"clawtui.test.culprit": culprit})
    service_name = service["Name"].lstrip("/")
    _start_agent(docker_api, monitored_host["id"])
    monitor = _monitor(
        monitored_host,
        docker_filters=[f"label=clawtui.test.culprit={culprit}"],
        agent_processes=[AGENT],
        # CPU is not under test; host memory starts at 100 % (never above) and is lowered
        # below what the host really uses (read from its `free`) to break it.
        thresholds=Thresholds(cpu_percent=100_000, host_memory_percent=100.0),
    )
    engine = _engine(tmp_path, url, monitor)
    await engine.start()
    try:
        check = engine.health.checks[0]

        def break_it() -> None:
            docker_api.stop(service["Id"], timeout=1)
            _exec(docker_api, monitored_host["id"], f"pkill -x {AGENT}")
            check.cfg.thresholds.host_memory_percent = 0.5

        def repair_it() -> None:
            docker_api.start(service["Id"])
            _start_agent(docker_api, monitored_host["id"])
            check.cfg.thresholds.host_memory_percent = 100.0

        signals = {f"container:{service_name}", f"process:{AGENT}", "memory:host"}
        await _detected_then_resolved(engine, received, signals, break_it, repair_it)
        assert check.last is not None and check.last.mem_available is not None
        [memory] = [i for i in await engine.incidents.find() if i.signal == "memory:host"]
        assert "available=" in memory.report.evidence[0]
    finally:
        await engine.stop()


class OwnDockerd:
    """A dockerd of the test's own (own socket, data root, exec root, pidfile and bridge,
    `--iptables=false`), whose socket the monitored host uses as its Docker: stopping it makes
    `docker ps` on the host fail for real while the system dockerd is never touched."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bridge = f"ctlpa{uuid.uuid4().hex[:6]}"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def sock(self) -> Path:
        return self.root / "sock" / "docker.sock"

    def start(self) -> None:
        (self.root / "sock").mkdir(parents=True, exist_ok=True)
        log = (self.root / "dockerd.log").open("ab")
        self.proc = subprocess.Popen(
            [
                "dockerd",
                f"--host=unix://{self.sock}",
                f"--data-root={self.root / 'data'}",
                f"--exec-root={self.root / 'exec'}",
                f"--pidfile={self.root / 'dockerd.pid'}",
                f"--bridge={self.bridge}",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--storage-driver=vfs",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(docker.errors.DockerException):
                client = docker.APIClient(base_url=f"unix://{self.sock}", timeout=10)
                answered = client.ping()
                client.close()
                if answered:
                    break
            assert self.proc.poll() is None, (self.root / "dockerd.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "our own dockerd did not answer in 60s"
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None


@pytest.fixture
def own_dockerd() -> Iterator[OwnDockerd]:
    root = Path(tempfile.mkdtemp(prefix="ctlpa-"))  # short: a unix socket path is <108 bytes
    daemon = OwnDockerd(root)
    subprocess.run(["ip", "link", "add", daemon.bridge, "type", "bridge"], check=True)
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.stop()
        subprocess.run(["ip", "link", "del", daemon.bridge], check=False)
        shutil.rmtree(root, ignore_errors=True)


async def test_docker_daemon_that_does_not_answer_is_an_incident(
    docker_api: docker.APIClient,
    monitored_image: str,
    test_labels: dict[str, str],
    own_dockerd: OwnDockerd,
    webhook: tuple[str, list[dict[str, Any]]],
    tmp_path: Path,
) -> None:
    url, received = webhook
    with _sshd_host(
        docker_api, monitored_image, test_labels, tmp_path, docker_dir=own_dockerd.sock.parent
    ) as host:
        # The host's Docker is ours: its socket directory is mounted, the CLI's path links to it.
        _exec(docker_api, host["id"], "ln -sf /run/own-docker/docker.sock /run/docker.sock")
        _exec(docker_api, host["id"], "docker ps")
        monitor = _monitor(host, thresholds=Thresholds(cpu_percent=100_000))
        engine = _engine(tmp_path, url, monitor)
        await engine.start()
        try:
            await _detected_then_resolved(
                engine, received, {"docker"}, own_dockerd.stop, own_dockerd.start
            )
            [incident] = await engine.incidents.find()
            assert incident.report.severity == "critical"
            assert "docker ps failed" in incident.report.evidence[0]
        finally:
            await engine.stop()
