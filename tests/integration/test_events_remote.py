"""Every event kind, published on a real engine's bus, crosses a real `clawtui serve` to a
`RemoteEngine` (`clawtui --connect`) intact: same kind, same host, same payload.

The events carry the value types the capabilities publish (ApplyResult, Escalation, Incident,
AutohealOutcome, Brief, IngressRecord, a ThreadStatus dump, ...). They use a host the engine
does not have ("elsewhere"), so they cannot be mixed up with the engine's own events (the
stats sampler of "local" would coalesce with ours).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from clawtui.client.engine import RemoteEngine
from clawtui.engine.api.models import Event, EventKind
from clawtui.engine.core import Engine
from tests.event_samples import every_kind
from tests.integration.engine_helpers import make_settings
from tests.integration.served import remote_over_service

pytestmark = pytest.mark.integration

TOKEN = "t0ken-for-event-tests-0123456789"
HOST = "elsewhere"


def _serve(engine: Engine) -> AsyncIterator[RemoteEngine]:
    return remote_over_service(engine, TOKEN)


def _wire(event: Event) -> tuple[str, str | None, Any]:
    dumped = event.model_dump(mode="json")
    return dumped["kind"], dumped["host"], dumped["data"]


@pytest.fixture
async def remote(tmp_path: Path) -> AsyncIterator[tuple[Engine, RemoteEngine]]:
    engine = Engine(make_settings(tmp_path, interval=60))
    async for r in _serve(engine):
        yield engine, r


async def test_every_event_kind_arrives_intact(remote: tuple[Engine, RemoteEngine]) -> None:
    engine, client = remote
    sub = client.subscribe()
    expected = [
        _wire(engine.bus.publish(kind, host=host, **fields))
        for kind, host, fields in every_kind(HOST)
    ]
    assert {k for k, _, _ in expected} == {k.value for k in EventKind} - {EventKind.RESYNC.value}
    missing = list(expected)
    deadline = time.monotonic() + 15
    while missing and time.monotonic() < deadline:
        try:
            event = await asyncio.wait_for(sub.get(), max(0.01, deadline - time.monotonic()))
        except TimeoutError:
            break
        got = _wire(event)
        if got in missing:
            missing.remove(got)
    assert not missing, f"{len(missing)} events did not arrive intact: {missing}"
    # The mirror follows: the host and the removed container, stats merged before removal.
    assert client.host(HOST) is not None and client.host(HOST).ncpu == 4  # type: ignore[union-attr]
    assert client.container(f"{HOST}/c0ffee0123456789") is None

    # RESYNC last: the client takes a new snapshot and republishes RESYNC for its panels.
    engine.bus.publish(EventKind.RESYNC, reason="test gap")
    deadline = time.monotonic() + 15
    while True:
        event = await asyncio.wait_for(sub.get(), max(0.01, deadline - time.monotonic()))
        if event.kind is EventKind.RESYNC:
            break
    await asyncio.wait_for(client.connected.wait(), 10)
