"""Docker replies are untrusted: parsing never raises and keeps what is usable."""

from __future__ import annotations

import pytest

from clawtui.engine.fleet.docker_parse import (
    container_from_inspect,
    event_action,
    parse_docker_time,
)

INSPECT = {
    "Id": "f" * 64,
    "Created": "2026-11-23T09:06:35.123456789Z",
    "Name": "/[bold]dev-alice[/]",
    "State": {
        "Status": "running",
        "Pid": 4242,
        "StartedAt": "2026-11-23T09:06:36.5Z",
        "ExitCode": 0,
    },
    "Config": {"Image": "clawtui/dev:1", "Labels": {"clawtui.role": "devbox", "bad": 3}},
    "HostConfig": {"Memory": 268435456, "MemorySwap": 268435456, "NanoCpus": 2000000000},
    "RestartCount": 2,
}


def test_inspect_parsed() -> None:
    c = container_from_inspect("local", INSPECT)
    assert c is not None
    assert c.name == "[bold]dev-alice[/]"  # kept verbatim: rendering is the UI's job
    assert c.role == "devbox"
    assert c.labels == {"clawtui.role": "devbox"}  # non-string label values dropped
    assert c.memory_limit == 268435456 and c.nano_cpus == 2_000_000_000
    assert c.pid == 4242 and c.restart_count == 2
    assert c.started_at == pytest.approx(parse_docker_time("2026-11-23T09:06:36.500Z"))
    assert c.key == "local/" + "f" * 64


@pytest.mark.parametrize(
    "data",
    [None, [], "x", {}, {"Id": 5}, {"Id": ""}, {"Id": "abc", "State": "running", "Config": []}],
)
def test_bad_inspect(data: object) -> None:
    result = container_from_inspect("h", data)
    if result is not None:
        assert result.id == "abc" and result.state == "unknown"


def test_times() -> None:
    assert parse_docker_time("0001-01-01T00:00:00Z") is None
    assert parse_docker_time("garbage") is None
    assert parse_docker_time("2026-11-23T09:06:35Z") == pytest.approx(1795424795.0)
    assert parse_docker_time("2026-11-23T09:06:35.999999999+00:00") == pytest.approx(
        1795424795.999999
    )
    assert parse_docker_time("2026-11-23T09:06:35") is None  # no zone: refuse to guess
    assert parse_docker_time(1700000000) == 1700000000.0


def test_event_action() -> None:
    assert event_action({"Type": "container", "Action": "start", "Actor": {"ID": "abc"}}) == (
        "abc",
        "start",
    )
    assert event_action(
        {"Type": "container", "Action": "health_status: healthy", "Actor": {"ID": "a"}}
    ) == (
        "a",
        "health_status",
    )
    assert event_action({"Type": "network", "Action": "connect"}) is None
    assert event_action({"Type": "container", "Actor": "x"}) is None
    assert event_action("nope") is None
