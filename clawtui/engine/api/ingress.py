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

from clawtui.config.ingress import RelayRoute

if TYPE_CHECKING:
    from clawtui.engine.api.protocols import EngineAPI

IngressKind = Literal["webhook", "relay"]
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
WEBHOOK_SECRET_HEADER: Final = "x-webhook-secret"
RELAY_SECRET_HEADER: Final = "X-Relay-Secret"


class IngressRecord(BaseModel):
    """One thing that happened at the door (shown in the TUI, sent as INGRESS event data)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

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
    """A request to change ingress settings was refused; the message says why.

    `status` is the HTTP status that fits: 400 bad input (the message names the field), 404 no
    such route, 409 it conflicts with what is there (already allowed, no settings file)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class RelayAgentView(BaseModel):
    """One configured relay agent as a front end may see it (never its secret)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    name: str
    thread_id: int
    has_secret: bool = Field(description="Whether the agent's secret is set (it can send).")


class RelayRoutes(BaseModel):
    """The relay whitelist in effect and the agents it may name (`relay_routes()`).

    Its JSON (`to_json`) is what `GET /api/v1/relay/routes` answers and what
    `clawtui relay routes --json` prints: routes as `{"from", "to", "note"?}`.
    """

    model_config = ConfigDict(frozen=True, defer_build=True)

    routes: list[RelayRoute] = Field(default_factory=list)
    agents: list[RelayAgentView] = Field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "routes": [r.as_toml() for r in self.routes],
            "agents": [a.model_dump(mode="json") for a in self.agents],
        }


class BodyTooLarge(Exception):
    """A request body grew past the cap the engine asked for."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body too large: the limit is {limit} bytes")
        self.limit = limit


BodyReader = Callable[[int], Awaitable[bytes]]
"""Reads the whole raw body, at most the given number of bytes; raises BodyTooLarge past it."""


class IngressAPI(Protocol):
    """The webhook and relay: requests, routes (add / remove persist at once), recent traffic."""

    @property
    def recent(self) -> Iterable[IngressRecord]:
        """Recent accepted / rejected / delivered records, oldest first."""
        ...

    @property
    def stats(self) -> IngressStats:
        """Counters and latency histograms for /metrics."""
        ...

    def routes(self) -> list[RelayRoute]:
        """The routes as last known (a remote engine: as of its last listing or change)."""
        ...

    def agents(self) -> list[str]:
        """The agents' names as last known (a remote engine: as of its last listing)."""
        ...

    async def relay_routes(self) -> RelayRoutes:
        """The whitelist in effect now and the configured agents (read from the engine)."""
        ...

    async def add_route(self, sender: str, to: str, note: str = "") -> RelayRoute:
        """Allow FROM → TO: saved in the runtime settings file and in effect at once."""
        ...

    async def remove_route(self, sender: str, to: str) -> None:
        """Refuse FROM → TO from now on (saved and in effect at once; 404-like if absent)."""
        ...

    async def receive_webhook(self, secret: str | None, read_body: BodyReader) -> Outcome:
        """One Azure DevOps request: its `x-webhook-secret` (None when absent) and its body."""
        ...

    async def receive_relay(self, secret: str | None, read_body: BodyReader) -> Outcome:
        """One relay request: its `X-Relay-Secret` (None when absent) and its body."""
        ...


def ingress_of(engine: EngineAPI) -> IngressAPI | None:
    """The engine's ingress, or None when it has none."""
    ingress: IngressAPI | None = getattr(engine, "ingress", None)
    return ingress
