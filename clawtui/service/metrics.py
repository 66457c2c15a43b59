"""`GET /metrics`: Prometheus text, read from the engine's snapshot at scrape time.

A custom collector turns the current hosts and containers into gauges on each scrape, so the
numbers are never older than the engine's own model; HTTP counters and latency histograms are
kept by a middleware. Each app has its own registry (tests create many apps in one process).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from clawtui.engine.api.ingress import ingress_of
from clawtui.engine.api.pools import pool_counters_of, pools_of
from clawtui.engine.api.protocols import EngineAPI
from clawtui.service.errors import Handler
from clawtui.service.keys import METRICS, SSE_STREAMS

routes = web.RouteTableDef()
log = logging.getLogger(__name__)


class EngineCollector(Collector):
    def __init__(self, engine: EngineAPI, app: web.Application) -> None:
        self.engine = engine
        self.app = app

    def collect(self) -> Iterator[Any]:
        up = GaugeMetricFamily(
            "clawtui_host_up", "1 when the host's Docker engine answers.", labels=["host"]
        )
        mem = GaugeMetricFamily(
            "clawtui_host_memory_bytes", "Host memory budget.", labels=["host", "kind"]
        )
        states = GaugeMetricFamily(
            "clawtui_containers", "Containers by state.", labels=["host", "state"]
        )
        cpu = GaugeMetricFamily(
            "clawtui_container_cpu_percent", "CPU % (100 = one core).", labels=["host", "name"]
        )
        used = GaugeMetricFamily(
            "clawtui_container_memory_used_bytes", "Memory used.", labels=["host", "name"]
        )
        limit = GaugeMetricFamily(
            "clawtui_container_memory_limit_bytes",
            "Memory limit (0 = none).",
            labels=["host", "name"],
        )
        for h in self.engine.hosts():
            up.add_metric([h.name], 1.0 if h.state.value == "online" else 0.0)
            for kind in ("total", "allocated", "reserve", "available"):
                mem.add_metric([h.name, kind], float(getattr(h.memory, kind)))
        counts: dict[tuple[str, str], int] = {}
        for c in self.engine.containers():
            counts[(c.host, c.state)] = counts.get((c.host, c.state), 0) + 1
            limit.add_metric([c.host, c.name], float(c.memory_limit))
            if c.stats is not None:
                if c.stats.cpu_percent is not None:
                    cpu.add_metric([c.host, c.name], c.stats.cpu_percent)
                if c.stats.mem_used is not None:
                    used.add_metric([c.host, c.name], float(c.stats.mem_used))
        for (host, state), n in sorted(counts.items()):
            states.add_metric([host, state], float(n))
        yield from (up, mem, states, cpu, used, limit)
        bus = getattr(self.engine, "bus", None)
        if bus is not None:
            events = CounterMetricFamily("clawtui_engine_events", "Events published on the bus.")
            events.add_metric([], float(bus.published))
            yield events
        sse = GaugeMetricFamily("clawtui_sse_clients", "Open event streams.")
        sse.add_metric([], float(len(self.app[SSE_STREAMS])))
        yield sse


class IngressCollector(Collector):
    """Webhook and relay counters and latency-to-queue histograms, read from the engine."""

    def __init__(self, engine: EngineAPI) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Any]:
        ingress = ingress_of(self.engine)
        if ingress is None:
            return
        stats = ingress.stats
        webhook = CounterMetricFamily(
            "clawtui_webhook_deliveries", "Webhook requests by result.", labels=["result"]
        )
        relay = CounterMetricFamily(
            "clawtui_relay_messages", "Relay requests by result.", labels=["result"]
        )
        for (kind, result), n in sorted(stats.results.items()):
            (webhook if kind == "webhook" else relay).add_metric([result], float(n))
        dedupe = CounterMetricFamily(
            "clawtui_ingress_dedupe_hits", "Deliveries answered as duplicates."
        )
        dedupe.add_metric([], float(stats.dedupe_hits))
        latency = HistogramMetricFamily(
            "clawtui_ingress_queue_latency_seconds",
            "From request received to message file in the thread queue.",
            labels=["kind"],
        )
        for kind, hist in stats.latency.items():
            latency.add_metric([kind], [(b, float(n)) for b, n in hist.cumulative()], hist.sum)
        yield from (webhook, relay, dedupe, latency)


class PoolCollector(Collector):
    """Per-pool gauges (from `Pools.status()`, read by `refresh()` just before each scrape),
    claim latency histograms and claim / release / sync counters (`engine.pools.metrics`)."""

    GAUGES = (
        ("warm", "clawtui_pool_warm", "Warm containers ready to be claimed."),
        ("warming", "clawtui_pool_warming", "Containers being created or waiting healthy."),
        ("claimed", "clawtui_pool_claimed", "Containers held by tenants."),
        ("unhealthy", "clawtui_pool_unhealthy", "Pool containers Docker reports unhealthy."),
        ("max", "clawtui_pool_max", "Most containers the pool may have."),
        ("target", "clawtui_pool_target", "Warm containers the pool keeps (min_warm or scaled)."),
    )

    def __init__(self, engine: EngineAPI) -> None:
        self.engine = engine
        self.statuses: list[Any] = []

    async def refresh(self) -> None:
        pools = pools_of(self.engine) if pool_counters_of(self.engine) is not None else None
        try:
            self.statuses = await pools.status() if pools is not None else []
        except Exception as exc:  # the store is busy or broken: keep the last gauges
            log.warning("pool gauges not refreshed: %s", exc)

    def collect(self) -> Iterator[Any]:
        m = pool_counters_of(self.engine)
        if m is None:
            return
        for attr, name, doc in self.GAUGES:
            gauge = GaugeMetricFamily(name, doc, labels=["pool", "host"])
            for s in self.statuses:
                gauge.add_metric([s.name, s.host], float(getattr(s, attr)))
            yield gauge
        latency = HistogramMetricFamily(
            "clawtui_pool_claim_seconds",
            "Claim latency, request to provisioned container, by source (warm | cold).",
            labels=["pool", "source"],
        )
        for (pool, source), hist in sorted(m.claim_latency.items()):
            latency.add_metric(
                [pool, source], [(b, float(n)) for b, n in hist.cumulative()], hist.sum
            )
        claims = CounterMetricFamily(
            "clawtui_pool_claims", "Claims by outcome.", labels=["pool", "outcome"]
        )
        for (pool, outcome), n in sorted(m.claims.items()):
            claims.add_metric([pool, outcome], float(n))
        releases = CounterMetricFamily(
            "clawtui_pool_releases", "Releases by outcome.", labels=["pool", "outcome"]
        )
        for (pool, outcome), n in sorted(m.releases.items()):
            releases.add_metric([pool, outcome], float(n))
        runs = CounterMetricFamily(
            "clawtui_pool_sync_runs",
            "State sync runs (one mapping, one direction) by result.",
            labels=["pool", "direction", "result"],
        )
        for (pool, direction, result), n in sorted(m.sync_runs.items()):
            runs.add_metric([pool, direction, result], float(n))
        size = CounterMetricFamily(
            "clawtui_pool_sync_bytes", "Bytes moved by state sync.", labels=["pool", "direction"]
        )
        for (pool, direction), n in sorted(m.sync_bytes.items()):
            size.add_metric([pool, direction], float(n))
        duration = HistogramMetricFamily(
            "clawtui_pool_sync_seconds",
            "Duration of one state sync run.",
            labels=["pool", "direction"],
        )
        for (pool, direction), hist in sorted(m.sync_duration.items()):
            duration.add_metric(
                [pool, direction], [(b, float(n)) for b, n in hist.cumulative()], hist.sum
            )
        yield from (latency, claims, releases, runs, size, duration)


class ServiceMetrics:
    def __init__(self, engine: EngineAPI, app: web.Application) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(EngineCollector(engine, app))
        self.registry.register(IngressCollector(engine))
        self.pools = PoolCollector(engine)
        self.registry.register(self.pools)
        self.requests = Counter(
            "clawtui_http_requests", "HTTP requests.", ["route", "method", "status"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "clawtui_http_request_seconds", "HTTP request latency.", ["route"],
            registry=self.registry,
        )  # fmt: skip


_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""HTTP methods counted by name; any other (aiohttp's pure-Python parser takes any token) is
counted as `other`, so a client cannot grow the label set without bound."""


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    finally:
        info = request.match_info.route.resource
        route = info.canonical if info is not None else "unmatched"
        metrics: ServiceMetrics = request.app[METRICS]
        method = request.method if request.method in _KNOWN_METHODS else "other"
        metrics.requests.labels(route, method, str(status)).inc()
        if route != "/api/v1/events":
            metrics.latency.labels(route).observe(time.perf_counter() - started)


@routes.get("/metrics")
async def metrics_handler(request: web.Request) -> web.Response:
    metrics: ServiceMetrics = request.app[METRICS]
    await metrics.pools.refresh()
    body = generate_latest(metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
