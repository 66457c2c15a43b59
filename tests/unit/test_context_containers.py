"""`Context.containers`: every known container by (host, name), optionally of one host or role."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

from clawtui.engine.api.models import ContainerInfo
from clawtui.engine.context import Context


def _c(host: str, name: str, i: int, role: str | None = None) -> ContainerInfo:
    labels = {"clawtui.role": role} if role else {}
    return ContainerInfo(id=f"{i:064x}", host=host, name=name, image="i", state="running",
                         labels=labels)  # fmt: skip


def _context(monitors: dict[str, list[ContainerInfo]]) -> Context:
    fake: dict[str, Any] = {
        name: SimpleNamespace(containers={c.id: c for c in cs}) for name, cs in monitors.items()
    }
    return Context(settings=None, store=None, bus=None, log_activity=None, monitors=fake)  # type: ignore[arg-type]


def test_containers_are_ordered_by_host_then_name_and_filtered() -> None:
    rng = random.Random(7)
    names = [f"agent-{n:03d}" for n in range(40)] + ["Zed", "alpha", "agent-", "é"]
    monitors: dict[str, list[ContainerInfo]] = {}
    i = 0
    for host in ("local", "b", "c-2", "a"):  # config order, not sorted
        cs = []
        for name in rng.sample(names, len(names)):
            i += 1
            cs.append(_c(host, name, i, role="pool" if i % 3 else "devbox"))
        monitors[host] = cs
    # A name twice on one host (a container re-created before the old one's removal was seen)
    # keeps the order the host monitor knows them in.
    i += 1
    monitors["b"].append(_c("b", "agent-005", i, role="pool"))
    ctx = _context(monitors)
    every = [c for cs in monitors.values() for c in cs]
    expected = sorted(every, key=lambda c: (c.host, c.name))  # stable: ties in dict order
    assert ctx.containers() == expected
    twice = [c for c in ctx.containers() if c.host == "b" and c.name == "agent-005"]
    assert [c.id for c in twice] == [f"{i:064x}" for i in sorted(int(c.id, 16) for c in twice)]
    assert ctx.containers(host="b") == [c for c in expected if c.host == "b"]
    assert ctx.containers(role="devbox") == [c for c in expected if c.role == "devbox"]
    assert ctx.containers(host="a", role="pool") == [
        c for c in expected if c.host == "a" and c.role == "pool"
    ]
    assert ctx.containers(host="nope") == []
