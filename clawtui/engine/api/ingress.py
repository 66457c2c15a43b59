"""The ingress capability's interface: records, answers, counters and the `IngressAPI` protocol.

The webhook (`POST /webhook/azure-devops`) and the relay (`POST /relay`) hand each request to
the engine in one call (`receive_webhook` / `receive_relay`): the caller's secret header and a
reader of the raw body, which the engine calls with its size cap only once the secret is
right; the `Outcome` is what the service answers. Everything here is plain data, no I/O.
"""

from __future__ import annotations

import bisect
import collections
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from clawtui.config.ingress import RelayRoute
    from clawtui.engine.api.protocols import EngineAPI

IngressKind = Literal["webhook", "relay"]
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
WEBHOOK_SECRET_HEADER: Final = "x-webhook-secret"
RELAY_SECRET_HEADER: Final = "X-Relay-Secret"


class IngressRecord(BaseModel):
    """One thing that happened at the door (shown in the TUI, sent as INGRESS event data)."""

    model_config = ConfigDict(frozen=True)

    ts: float = Field(default_factory=time.time)
    kind: IngressKind
    result: str = Field(
        description="accepted | duplicate | ignored | quarantined | delivered | rejected | "
        "unavailable | failed"
    )
    status: int = Field(0, description="HTTP status answered (0: not an HTTP answer).")
    reason: str = ""
    summary: str = ""
    sender: str | None = None
    target: str | None = None
    thread_id: int | None = None
    delivery_id: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What the service answers: status code and JSON body."""

    status: int
    body: dict[str, Any]
    retry_after: int | None = None


class LatencyHistogram:
    """A Prometheus-style cumulative histogram plus the raw recent samples (for benchmarks)."""

    def __init__(self, buckets: Iterable[float] = LATENCY_BUCKETS) -> None:
        self.buckets = tuple(sorted(buckets))
        self.counts = [0] * (len(self.buckets) + 1)
        self.sum = 0.0
        self.count = 0
        self.recent: collections.deque[float] = collections.deque(maxlen=10_000)

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, seconds)] += 1
        self.sum += seconds
        self.count += 1
        self.recent.append(seconds)

    def cumulative(self) -> list[tuple[str, int]]:
        out: list[tuple[str, int]] = []
        total = 0
        for bound, n in zip((*map(str, self.buckets), "+Inf"), self.counts, strict=True):
            total += n
            out.append((bound, total))
        return out


@dataclass
class IngressStats:
    """Counters for /metrics: by (kind, result), dedupe hits, latency to the queue."""

    results: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)
    dedupe_hits: int = 0
    latency: dict[str, LatencyHistogram] = field(
        default_factory=lambda: {"webhook": LatencyHistogram(), "relay": LatencyHistogram()}
    )



class IngressError(Exception):
    """A request to change ingress settings was refused; the message says why."""


class BodyTooLarge(Exception):
    """A request body grew past the cap the engine asked for."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body too large: the limit is {limit} bytes")
        self.limit = limit


BodyReader = Callable[[int], Awaitable[bytes]]
"""Reads the whole raw body, at most the given number of bytes; raises BodyTooLarge past it."""


class IngressAPI(Protocol):
    """The webhook and relay: requests, routes (add / remove persist at once), recent traffic."""

    recent: Iterable[IngressRecord]
    """Recent accepted / rejected / delivered records, oldest first."""

    stats: IngressStats
    """Counters and latency histograms for /metrics."""

    def routes(self) -> list[RelayRoute]: ...

    def agents(self) -> list[str]: ...

    async def add_route(self, sender: str, to: str, note: str = "") -> RelayRoute: ...

    async def remove_route(self, sender: str, to: str) -> None: ...

    async def receive_webhook(self, secret: str | None, read_body: BodyReader) -> Outcome:
        """One Azure DevOps request: its `x-webhook-secret` (None when absent) and its body."""
        ...

    async def receive_relay(self, secret: str | None, read_body: BodyReader) -> Outcome:
        """One relay request: its `X-Relay-Secret` (None when absent) and its body."""
        ...


def ingress_of(engine: EngineAPI) -> IngressAPI | None:
    """The engine's ingress, or None when it has none (the remote client, for now)."""
    ingress: IngressAPI | None = getattr(engine, "ingress", None)
    return ingress
