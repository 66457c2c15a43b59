"""`GET /api/v1/containers` bodies: encoded once per container object, same bytes as before."""

from __future__ import annotations

import json

from clawtui.engine.api.models import ContainerInfo, ContainerStats
from clawtui.service.container_bodies import ContainerBodies, container_json


def _container(i: int, host: str = "local", **changes: object) -> ContainerInfo:
    base = ContainerInfo(
        id=f"{i:064x}",
        host=host,
        name=f"agent-é-[b]-{i:03d}",  # non-ASCII and markup-like text
        image="clawtui-test/busybox:1",
        state="running" if i % 3 else "exited",
        status="Up 5 minutes",
        created=1.7e9,
        started_at=1.7e9 + 0.125,
        pid=1000 + i,
        labels={"clawtui.role": "pool", "clawtui.pool": "p"},
        stats=ContainerStats(cpu_percent=1.5, mem_used=1 << 20, mem_limit=None, pids=1,
                             sampled_at=1.7e9 + 2),
    )  # fmt: skip
    return base.model_copy(update=changes) if changes else base


def _expected(containers: list[ContainerInfo], now: float) -> bytes:
    return json.dumps({"containers": [container_json(c, now) for c in containers]}).encode()


def test_body_is_what_json_dumps_gives() -> None:
    containers = [_container(i, host) for host in ("local", "b") for i in range(7)]
    bodies = ContainerBodies()
    for now in (1.7e9 + 10.5, 1.7e9 + 11.25):  # uptimes move between requests
        assert bodies.body(containers, now) == _expected(containers, now)
    assert bodies.body([], 1.7e9) == b'{"containers": []}'


def test_unchanged_containers_are_reused_and_a_change_shows_on_the_next_body() -> None:
    containers = [_container(i) for i in range(5)]
    bodies = ContainerBodies()
    bodies.body(containers, 1.7e9 + 10)
    bodies.body(containers, 1.7e9 + 11)
    assert bodies.encoded == 5  # the second body re-encoded nothing

    changed = containers[1].model_copy(
        update={"state": "paused", "stats": ContainerStats(cpu_percent=42.0, sampled_at=1.7e9)}
    )
    containers[1] = changed
    body = bodies.body(containers, 1.7e9 + 12)
    assert bodies.encoded == 6  # only the changed container
    assert body == _expected(containers, 1.7e9 + 12)
    shown = json.loads(body)["containers"][1]
    assert shown["state"] == "paused" and shown["stats"]["cpu_percent"] == 42.0

    # An equal but new object (what the engine makes on any update) is encoded again.
    containers[2] = containers[2].model_copy()
    bodies.body(containers, 1.7e9 + 13)
    assert bodies.encoded == 7


def test_entries_of_containers_gone_are_dropped() -> None:
    bodies = ContainerBodies()
    bodies.KEEP = 10
    bodies.body([_container(i) for i in range(8)], 1.7e9)
    later = [_container(i) for i in range(100, 104)]
    assert bodies.body(later, 1.7e9) == _expected(later, 1.7e9)
    assert len(bodies) == 4  # 12 entries is over KEEP: only the containers just shown stay
