"""`GET /api/v1/containers` bodies: encoded once per container object, same bytes as before."""

from __future__ import annotations

import json

from clawtui.engine.api.models import ContainerInfo, ContainerStats
from clawtui.service.container_bodies import ContainerBodies, container_json, stats_json


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

    # An equal but new object (what the engine makes on any update) is encoded again: a copy
    # that shares every field but the stats with the cached one only has its stats encoded.
    containers[2] = containers[2].model_copy()
    assert bodies.body(containers, 1.7e9 + 13) == _expected(containers, 1.7e9 + 13)
    assert (bodies.encoded, bodies.stats_encoded) == (6, 1)


def test_entries_of_containers_gone_are_dropped() -> None:
    bodies = ContainerBodies()
    bodies.KEEP = 10
    bodies.body([_container(i) for i in range(8)], 1.7e9)
    later = [_container(i) for i in range(100, 104)]
    assert bodies.body(later, 1.7e9) == _expected(later, 1.7e9)
    assert len(bodies) == 4  # 12 entries is over KEEP: only the containers just shown stay


def _tick(c: ContainerInfo, n: int) -> ContainerInfo:
    """What the engine's stats sampler makes of a container: a copy with new stats."""
    stats = ContainerStats(cpu_percent=n * 0.37, mem_used=(n + 1) << 20, mem_limit=64 << 20,
                           pids=n % 5, sampled_at=1.7e9 + n + 0.1)  # fmt: skip
    return c.model_copy(update={"stats": stats})


def test_a_stats_tick_encodes_only_the_stats_and_gives_the_same_bytes() -> None:
    containers = [_container(i, host) for host in ("local", "b") for i in range(6)]
    bodies = ContainerBodies()
    bodies.body(containers, 1.7e9 + 10)
    assert (bodies.encoded, bodies.stats_encoded) == (12, 0)
    for n in range(1, 4):  # three ticks of host b's sampler
        containers = [_tick(c, n) if c.host == "b" else c for c in containers]
        now = 1.7e9 + 10 + n
        assert bodies.body(containers, now) == _expected(containers, now)
    assert (bodies.encoded, bodies.stats_encoded) == (12, 18)
    shown = json.loads(bodies.body(containers, 1.7e9 + 20))["containers"]
    assert [c["stats"]["pids"] for c in shown] == [None if c.stats is None else c.stats.pids
                                                    for c in containers]  # fmt: skip
    expected = {"cpu_percent": 3 * 0.37, "mem_used": 4 << 20, "mem_limit": 64 << 20, "pids": 3}
    assert shown[6]["stats"] == {**expected, "sampled_at": 1.7e9 + 3.1}


def test_a_change_of_any_other_field_encodes_the_container_again() -> None:
    base = _container(1)
    changes: list[dict[str, object]] = [
        {"state": "paused"},
        {"status": "Up 6 minutes"},
        {"labels": {**base.labels, "clawtui.role": "devbox"}},  # the role, after the stats
        {"name": "renamed"},
        {"memory_limit": 96 << 20},
        {"started_at": 1.7e9 + 30},  # the uptime counts from the new start
        {"started_at": None},
        {"restart_count": 2, "stats": None},
    ]
    bodies = ContainerBodies()
    bodies.body([base], 1.7e9 + 40)
    for i, change in enumerate(changes, start=2):
        changed = _tick(base, i).model_copy(update=change)
        assert bodies.body([changed], 1.7e9 + 40) == _expected([changed], 1.7e9 + 40), change
        assert bodies.encoded == i, change
    # Back to a stats-only change of the last one: the stats are null and then a sample.
    last = _tick(changed, 20)
    assert bodies.body([last], 1.7e9 + 41) == _expected([last], 1.7e9 + 41)
    assert bodies.stats_encoded == 1


def test_filtered_and_removed_containers_give_the_same_bytes() -> None:
    containers = [_container(i, host) for host in ("local", "b", "c") for i in range(5)]
    bodies = ContainerBodies()
    bodies.KEEP = 8
    bodies.body(containers, 1.7e9)
    running = [c for c in containers if c.state == "running"]  # a ?state= filter
    assert bodies.body(running, 1.7e9 + 1) == _expected(running, 1.7e9 + 1)
    ticked = [_tick(c, 7) for c in containers if c.host == "local"]  # b's and c's removed
    assert bodies.body(ticked, 1.7e9 + 2) == _expected(ticked, 1.7e9 + 2)
    assert len(bodies) == len(ticked)  # 15 entries is over KEEP and twice 5: the gone dropped
    back = [_tick(c, 8) for c in containers]  # b's and c's back (new objects): encoded whole
    encoded = bodies.encoded
    assert bodies.body(back, 1.7e9 + 3) == _expected(back, 1.7e9 + 3)
    assert bodies.encoded == encoded + 10
    assert bodies.body(back + back[:2], 1.7e9 + 3) == _expected(back + back[:2], 1.7e9 + 3)
    assert bodies.body(iter(back), 1.7e9 + 4) == _expected(back, 1.7e9 + 4)


def test_uptime_edges_give_the_same_bytes() -> None:
    c = _container(1)
    cases = [
        c,
        c.model_copy(update={"started_at": 1.7e9 + 1000}),  # started "after" now: 0.0
        c.model_copy(update={"started_at": 1_700_000_000}),  # an int (model_copy validates nothing)
        c.model_copy(update={"started_at": 0.0}),  # no start known: null
        c.model_copy(update={"state": "exited"}),
    ]
    bodies = ContainerBodies()
    for now in (1.7e9 + 0.1, 1.7e9 + 123.456789):
        assert bodies.body(cases, now) == _expected(cases, now)


def test_stats_json_is_what_json_dumps_gives() -> None:
    samples = [
        ContainerStats(cpu_percent=None, mem_used=None, mem_limit=None, pids=None, sampled_at=0.0),
        ContainerStats(
            cpu_percent=12.345678901234567,
            mem_used=1 << 62,
            mem_limit=(1 << 63) + 1,
            pids=0,
            sampled_at=1.7e9 + 1e-7,
        ),
        ContainerStats(cpu_percent=1e-300, mem_used=0, sampled_at=1e22),
        ContainerStats(cpu_percent=float("inf"), sampled_at=float("nan")),  # json.dumps' words
        # Wrong types put in without validation: the plain encoder is used for them.
        ContainerStats(sampled_at=5.0).model_copy(update={"pids": True, "cpu_percent": 3}),
        ContainerStats(sampled_at=5.0).model_copy(update={"mem_used": "x"}),
    ]
    for stats in samples:
        assert stats_json(stats) == json.dumps(stats.model_dump(mode="json")), stats
    assert stats_json(None) == "null"
