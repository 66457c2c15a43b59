"""One engine over three real Docker engines reached three ways (issue 18).

The system dockerd on its unix socket, ``alpha`` (an extra dockerd on this machine) over
``ssh://`` through an sshd container that has the docker CLI and alpha's socket, and ``beta``
(another extra dockerd) over ``tcp://127.0.0.1:PORT`` with TLS client certificates made with
openssl. The extra engines come from the session fixtures in conftest.py (engines.py); only
they are ever killed, never the system dockerd, so nothing here is disruptive.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import docker
import pytest

from clawtui.config import EngineConfig, HostConfig, Settings
from clawtui.engine.api.models import Event, EventKind, HostInfo, HostState
from clawtui.engine.core import Engine
from tests.integration.engine_helpers import wait_for_event, wait_until

pytestmark = pytest.mark.integration


def _settings(state_dir: Path, ssh_url: str, beta: Any) -> Settings:
    return Settings(
        engine=EngineConfig(state_dir=state_dir, stats_interval=0.5, reconnect_max_backoff=0.5),
        hosts=[
            HostConfig(name="local"),
            HostConfig(name="alpha", url=ssh_url, cgroup_root=None, timeout=30),
            HostConfig(
                name="beta",
                url=beta.tcp_url,
                cgroup_root=None,
                tls_ca=beta.tls.ca,
                tls_cert=beta.tls.client_cert,
                tls_key=beta.tls.client_key,
                timeout=5,
            ),
        ],
    )


def _run(api: docker.APIClient, image: str, labels: dict[str, str], name: str) -> str:
    cid: str = api.create_container(
        image, command=["sleep", "3600"], name=name, labels=dict(labels)
    )["Id"]
    api.start(cid)
    return cid


def _states(engine: Engine) -> str:
    return "; ".join(f"{h.name}: {h.state.value} ({h.error})" for h in engine.hosts())


EVERY_HOST_ONLINE = dict.fromkeys(("local", "alpha", "beta"), HostState.ONLINE)


def _host(engine: Any, name: str) -> HostInfo:
    info: HostInfo = next(h for h in engine.hosts() if h.name == name)
    return info


def _is_host(event: Event, host: str, state: HostState) -> bool:
    return event.kind is EventKind.HOST and event.host == host and event.data["info"].state is state


def _is_running(event: Event, host: str, cid: str) -> bool:
    c = event.data.get("container") if event.kind is EventKind.CONTAINER else None
    return c is not None and c.host == host and c.id == cid and c.running


@pytest.fixture
def engine_settings(
    tmp_path: Path,
    ssh_docker_host: dict[str, Any],
    extra_engines: tuple[Any, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> Settings:
    # docker-py's ssh:// transport (paramiko) reads ~/.ssh: the fixture's key and known_hosts.
    monkeypatch.setenv("HOME", str(ssh_docker_host["home"]))
    return _settings(tmp_path / "state", ssh_docker_host["url"], extra_engines[1])


async def test_three_engines_unix_ssh_and_tls_online_with_their_containers(
    engine_settings: Settings,
    extra_engines: tuple[Any, Any],
    make_container: Any,
    busybox_image: str,
    test_labels: dict[str, str],
) -> None:
    alpha, beta = extra_engines
    on_local = make_container("many-local")["Id"]
    a_api, b_api = alpha.api(), beta.api()
    try:
        on_alpha = _run(a_api, busybox_image, test_labels, "clawtui-t-many-alpha")
        on_beta = _run(b_api, busybox_image, test_labels, "clawtui-t-many-beta")
        engine = Engine(engine_settings)
        await engine.start()
        try:
            assert await engine.wait_online(60), _states(engine)
            hosts = {h.name: h for h in engine.hosts()}
            assert {n: h.state for n, h in hosts.items()} == {
                "local": HostState.ONLINE,
                "alpha": HostState.ONLINE,
                "beta": HostState.ONLINE,
            }
            assert all(h.offline_since is None and h.error is None for h in hosts.values())
            # Each container is on its own host, and only there.
            for host, cid in (("local", on_local), ("alpha", on_alpha), ("beta", on_beta)):
                c = engine.container(f"{host}/{cid}")
                assert c is not None and c.running, f"{host}/{cid[:12]} missing or not running"
                others = {h for h in hosts if h != host}
                assert all(engine.container(f"{o}/{cid}") is None for o in others)
            # The engine's view of each extra engine is exactly what that engine lists.
            for host, api in (("alpha", a_api), ("beta", b_api)):
                listed = {c["Id"] for c in api.containers(all=True)}
                assert {c.id for c in engine.containers() if c.host == host} == listed
            assert hosts["beta"].memory.total > 0 and hosts["alpha"].docker_version
        finally:
            await engine.stop()
    finally:
        for api in (a_api, b_api):
            for c in api.containers(all=True, filters={"label": "clawtui.test"}):
                api.remove_container(c["Id"], force=True, v=True)
            api.close()


async def test_killed_engine_is_offline_with_reason_and_time_others_keep_updating(
    engine_settings: Settings,
    extra_engines: tuple[Any, Any],
    busybox_image: str,
    test_labels: dict[str, str],
) -> None:
    alpha, beta = extra_engines
    a_api, b_api = alpha.api(), beta.api()
    try:
        on_beta = _run(b_api, busybox_image, test_labels, "clawtui-t-kill-beta")
        engine = Engine(engine_settings)
        await engine.start()
        sub = engine.subscribe([EventKind.HOST, EventKind.CONTAINER])
        try:
            assert await engine.wait_online(60), _states(engine)
            assert engine.container(f"beta/{on_beta}") is not None
            reconciles = engine.monitors["beta"].reconciles

            await asyncio.to_thread(beta.kill)  # SIGKILL: a crashed host, not a clean stop
            event = await wait_for_event(sub, lambda e: _is_host(e, "beta", HostState.OFFLINE), 30)
            info = event.data["info"]
            assert info.error, "an offline host says why"
            assert info.offline_since is not None
            assert info.offline_since >= (info.last_seen or 0)
            entries = await engine.activity(50)
            assert any(e.host == "beta" and "host offline" in e.message for e in entries)

            # The rest of the fleet keeps updating while beta is away.
            on_alpha = await asyncio.to_thread(
                _run, a_api, busybox_image, test_labels, "clawtui-t-kill-alpha"
            )
            await wait_for_event(sub, lambda e: _is_running(e, "alpha", on_alpha), 60)
            assert {h.name: h.state for h in engine.hosts()}["beta"] is HostState.OFFLINE
            assert {h.name: h.state for h in engine.hosts()}["local"] is HostState.ONLINE

            # Back on the same data root: online again, reconciled with what beta now says
            # (no live-restore: the container was stopped by the crash).
            await asyncio.to_thread(beta.start)
            event = await wait_for_event(sub, lambda e: _is_host(e, "beta", HostState.ONLINE), 60)
            assert event.data["info"].offline_since is None
            assert engine.monitors["beta"].reconciles > reconciles
            await wait_until(
                lambda: (c := engine.container(f"beta/{on_beta}")) is not None and not c.running,
                30,
                "beta's container reconciled as stopped",
            )
            listed = {c["Id"] for c in b_api.containers(all=True)}
            assert {c.id for c in engine.containers() if c.host == "beta"} == listed
        finally:
            sub.close()
            await engine.stop()
    finally:
        for api in (a_api, b_api):
            if not (api is b_api and not beta.ping()):
                for c in api.containers(all=True, filters={"label": "clawtui.test"}):
                    api.remove_container(c["Id"], force=True, v=True)
            api.close()


async def test_served_engine_shows_each_host_and_an_offline_one_to_a_remote_client(
    engine_settings: Settings,
    extra_engines: tuple[Any, Any],
    busybox_image: str,
    test_labels: dict[str, str],
) -> None:
    """The same three hosts behind a real service: a `--connect` client sees what the engine
    sees, including an engine killed meanwhile (offline, why, since when) and its return."""
    from tests.integration.served import remote_over_service

    alpha, beta = extra_engines
    a_api = alpha.api()
    try:
        on_alpha = _run(a_api, busybox_image, test_labels, "clawtui-t-served-alpha")
        engine = Engine(engine_settings)
        async for remote in remote_over_service(engine, "t" * 32):
            await wait_until(
                lambda r=remote: {h.name: h.state for h in r.hosts()} == EVERY_HOST_ONLINE,
                60,
                "every host online for the remote client",
            )
            await wait_until(
                lambda r=remote: r.container(f"alpha/{on_alpha}") is not None,
                30,
                "alpha's container",
            )
            await asyncio.to_thread(beta.kill)
            await wait_until(
                lambda r=remote: _host(r, "beta").state is HostState.OFFLINE,
                30,
                "beta offline for the remote client",
            )
            seen = _host(remote, "beta")
            assert seen.error and seen.offline_since is not None
            assert _host(remote, "alpha").state is HostState.ONLINE
            await asyncio.to_thread(beta.start)
            await wait_until(
                lambda r=remote: _host(r, "beta").state is HostState.ONLINE,
                60,
                "beta back online for the remote client",
            )
            assert _host(remote, "beta").offline_since is None
    finally:
        for c in a_api.containers(all=True, filters={"label": "clawtui.test"}):
            a_api.remove_container(c["Id"], force=True, v=True)
        a_api.close()
