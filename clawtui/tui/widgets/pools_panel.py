"""The Pools panel: warm pools, their tenants, recent pool and sync events, and actions.

Overview: totals across pools (warm / target, warming, claimed, containers, unhealthy, drained
pools). Containers: the selected pool's containers (state, tenant, health, age, last sync).
Tenant: the selected tenant's config (credential-like keys and every secret masked) and its
sync history. See `pools_detail`.

Top table: one row per pool (warm / target, warming, claimed, unhealthy, max, claim latency
p50 / p99). Middle table: one row per open claim (tenant, pool, container, claimed, state,
last sync and its result). Bottom: the latest POOL and SYNC events, and a status line that
shows what is running (a sync in progress names its mapping).

Keys: `c` claim (a form asks tenant and pool), `r` release the selected tenant (its state is
uploaded first), `y` sync the selected tenant now, `s` scale the selected pool. Each action
runs in a worker; its result or error lands in the status line. The engine's POOL / SYNC
events (routed here by the main screen) trigger a coalesced reload.

Over a remote engine (`clawtui --connect`) the same data and actions go over the service's REST
routes (`clawtui/client/pools.py`); the pools listed are the remote engine's, whatever the local
config says. A remote service without pool routes shows its error in the status line.
Everything shown comes from the engine as plain text (`Text`, never markup); secrets are never
shown because the engine never hands them out.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Static

from clawtui.config import Settings
from clawtui.engine.api.models import Event, EventKind
from clawtui.engine.api.pools import PoolsAPI, pools_of
from clawtui.engine.api.protocols import EngineAPI
from clawtui.tui.messages import EngineEvent
from clawtui.tui.widgets.empty_state import EmptyState
from clawtui.tui.widgets.host_filter import (
    FilterBar,
    FilteredPanel,
    RowFilter,
    filter_binding,
    host_binding,
)
from clawtui.tui.widgets.pools_detail import (
    ago,
    claim_state,
    container_cells,
    overview_text,
    tenant_text,
)

EVENT_ROWS = 8
_RELOAD_MIN_INTERVAL = 0.3


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def event_line(event: Event) -> Text:
    """One POOL or SYNC event as a line of plain text."""
    d = event.data
    stamp = time.strftime("%H:%M:%S", time.localtime(event.ts))
    if event.kind is EventKind.SYNC:
        what = f"sync {d.get('tenant')} {d.get('mapping')} {d.get('direction')} {d.get('phase')}"
        if d.get("phase") == "finished":
            what += (
                f": {d.get('status')} {d.get('bytes', 0)} B {float(d.get('duration') or 0):.2f}s"
            )
            if d.get("error"):
                what += f" ({d.get('error')})"
    else:
        parts = [str(d.get("action")), str(d.get("pool") or "")]
        for key in ("tenant", "container", "source", "message"):
            if d.get(key):
                parts.append(f"{key}={d[key]}")
        what = "pool " + " ".join(p for p in parts if p)
    style = "red" if "fail" in what else ""
    return Text(f"{stamp}  {what}"[:300], style=style)


class PoolPrompt(ModalScreen[dict[str, str] | None]):
    """A small form: labelled inputs, OK / Cancel. Dismisses with the values or None."""

    DEFAULT_CSS = """
    PoolPrompt { align: center middle; }
    PoolPrompt > Vertical {
        width: 60; height: auto; padding: 1 2;
        border: round $accent; background: $surface;
    }
    PoolPrompt Label { margin-top: 1; }
    PoolPrompt Horizontal { height: auto; margin-top: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="pools.prompt.cancel"),
    ]

    def __init__(self, title: str, fields: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self._title = title
        self._fields = fields  # (key, label, initial value)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self._title, style="bold"))
            for key, label, value in self._fields:
                yield Label(Text(label))
                yield Input(value=value, id=f"prompt-{key}")
            with Horizontal():
                yield Button("OK", variant="primary", id="prompt-ok")
                yield Button("Cancel", id="prompt-cancel")

    def on_mount(self) -> None:
        self.query(Input).first().focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "prompt-ok":
            self._submit()
        else:
            self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._submit()

    def _submit(self) -> None:
        self.dismiss(
            {key: self.query_one(f"#prompt-{key}", Input).value for key, _, _ in self._fields}
        )

    def action_cancel(self) -> None:
        self.dismiss(None)


class PoolsPanel(FilteredPanel, Vertical, can_focus=True):
    """Pools, claims, events and actions."""

    ENGINE_EVENTS: ClassVar[frozenset[EventKind]] = frozenset({EventKind.POOL, EventKind.SYNC})
    REPLAY_EVENTS: ClassVar[frozenset[EventKind]] = ENGINE_EVENTS
    """The recent-events list is made of these: handed over when the panel is composed after
    they came (`MainScreen.compose_panel`)."""

    DEFAULT_CSS = """
    PoolsPanel #pools-table { height: auto; max-height: 7; }
    PoolsPanel #pools-containers { height: auto; max-height: 7; }
    PoolsPanel #pools-tenants { height: 1fr; min-height: 3; }
    PoolsPanel #pools-bottom { height: auto; max-height: 12; }
    PoolsPanel .pools-half { width: 1fr; height: auto; max-height: 12; }
    PoolsPanel #pools-tenant { height: auto; }
    PoolsPanel #pools-events { height: auto; max-height: 10; color: $text-muted; }
    PoolsPanel #pools-status { height: 1; }
    PoolsPanel .pools-title { text-style: bold; margin-top: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "claim", "Claim", id="pools.claim", tooltip="Claim a container for a tenant"),
        Binding("r", "release", "Release", id="pools.release",
                tooltip="Save the selected tenant's state, then release its container"),
        Binding("y", "sync", "Sync now", id="pools.sync", tooltip="Sync the selected tenant now"),
        Binding("s", "scale", "Scale", id="pools.scale",
                tooltip="Set the selected pool's warm target"),
        filter_binding("pools", "container, tenant, pool or host"),
        host_binding("pools"),
    ]  # fmt: skip

    def __init__(self, clock: Callable[[], float], engine: EngineAPI, settings: Settings) -> None:
        super().__init__(id="pools-panel")
        self._clock = clock
        self.engine = engine
        self.settings = settings
        self.pools: PoolsAPI | None = pools_of(engine)
        self.events: deque[Event] = deque(maxlen=EVENT_ROWS)
        self.status_text = ""
        self._last_reload = 0.0
        self._reload_pending = False
        self.pool_rows: list[Any] = []
        self.tenant_rows: list[Any] = []
        self.container_rows: list[Any] = []
        self.detail_pool: str | None = None
        self.row_filter = RowFilter()
        self._shown_in_tables = 0
        """`/` and `H`: the container and tenant rows shown (by container, tenant, pool, host);
        the pools table lists every pool, so a pool's containers can always be picked."""

    @property
    def available(self) -> bool:
        if self.pools is None:
            return False
        return bool(self.engine.is_remote) or bool(self.settings.pools)

    def compose(self) -> ComposeResult:
        if self.pools is None:
            yield EmptyState(
                "Pools are not available here",
                "This engine has no pool manager. Run the TUI on the engine's machine, or use\n"
                "the REST API (/api/v1/pools, /api/v1/tenants/{id}/claim) or `clawtui pool`.",
                hint="Pools are configured in [[workloads]] and [[pools]] of config.toml.",
                id="pools-empty",
            )
            return
        if not self.settings.pools and not self.engine.is_remote:
            yield EmptyState(
                "No pools configured",
                "A pool keeps containers of a workload warm so a tenant's claim takes\n"
                "milliseconds instead of a cold start. Add a [[workloads]] entry (image,\n"
                "health check, volumes, state sync) and a [[pools]] entry (min_warm, max).",
                hint="Fed by [[workloads]] and [[pools]] in config.toml.",
                id="pools-empty",
            )
            return
        yield Static(Text(""), id="pools-overview")
        yield FilterBar("filter: part of a container, tenant, pool or host", prefix="pools")
        yield Label(Text("Pools"), classes="pools-title")
        yield DataTable(id="pools-table", cursor_type="row", zebra_stripes=True)
        yield Label(Text("Containers"), classes="pools-title", id="pools-containers-title")
        yield DataTable(id="pools-containers", cursor_type="row", zebra_stripes=True)
        yield Label(Text("Tenants"), classes="pools-title")
        yield DataTable(id="pools-tenants", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="pools-bottom"):
            with Vertical(classes="pools-half"):
                yield Label(Text("Recent events"), classes="pools-title")
                yield Static(Text(""), id="pools-events")
            with VerticalScroll(classes="pools-half"):
                yield Label(Text("Tenant"), classes="pools-title")
                yield Static(Text(""), id="pools-tenant")
        yield Static(Text(""), id="pools-status")

    def on_mount(self) -> None:
        if not self.available:
            return
        table = self.query_one("#pools-table", DataTable)
        table.add_columns("Pool", "Host", "Warm", "Warming", "Claimed", "Unhealthy", "Max",
                          "p50 ms", "p99 ms")  # fmt: skip
        tenants = self.query_one("#pools-tenants", DataTable)
        tenants.add_columns("Tenant", "Pool", "Container", "Host", "Claimed", "State",
                            "Last sync")  # fmt: skip
        self.query_one("#pools-containers", DataTable).add_columns(
            "Container", "Host", "State", "Tenant", "Health", "Age", "Last sync"
        )
        self.reload()
        self.set_interval(2.0, self.reload)

    # -- data --------------------------------------------------------------------------------
    @work(exclusive=True, group="pools-reload")
    async def reload(self) -> None:
        if self.pools is None or not self.available:
            return
        self._last_reload = time.monotonic()
        self._reload_pending = False
        try:
            pools = await self.pools.status()
            tenants = await self.pools.tenants()
        except Exception as exc:  # an engine error: say it, keep the last data
            self.set_status(f"could not read pools: {exc}", error=True)
            return
        self.pool_rows, self.tenant_rows = pools, tenants
        self._render_tables()
        if not pools and self.engine.is_remote:
            self.set_status("the remote engine has no pools: see [[pools]] in its config.toml")
        await self._load_details()

    async def _load_details(self) -> None:
        """The selected pool's containers and the selected tenant's sync history."""
        if self.pools is None:
            return
        pool, tenant = self._selected("#pools-table"), self._selected("#pools-tenants")
        try:
            self.container_rows = await self.pools.containers(pool) if pool else []
            history = await self.pools.sync_history(tenant) if tenant else []
        except Exception as exc:  # an older remote service, a pool gone meanwhile: say it
            self.set_status(f"could not read pool details: {exc}", error=True)
            return
        self.detail_pool = pool
        title = self.query_one("#pools-containers-title", Label)
        title.update(Text(f"Containers of {pool}" if pool else "Containers"))
        shown = self._render_containers()
        bar = self.filter_bar
        if bar is not None:
            bar.show_state(self.row_filter, self._shown_in_tables + shown)
        claim = next((t for t in self.tenant_rows if t.tenant == tenant), None)
        self.query_one("#pools-tenant", Static).update(tenant_text(claim, history, self._clock()))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id in ("pools-table", "pools-tenants") and self.available:
            self.load_details()

    @work(exclusive=True, group="pools-details")
    async def load_details(self) -> None:
        await self._load_details()

    # -- filters: `/` text, `H` cycles hosts (host_filter.FilteredPanel) ----------------------
    def filter_hosts(self) -> list[str]:
        rows = [*self.pool_rows, *self.container_rows, *self.tenant_rows]
        return sorted({str(r.host) for r in rows if getattr(r, "host", None)})

    def show_filtered(self) -> int:
        """Redraw the tables through the filters; how many container and tenant rows show."""
        return self._render_tables() + self._render_containers()

    def filter_done(self) -> None:
        self.query_one("#pools-table", DataTable).focus()

    def _render_containers(self) -> int:
        now = self._clock()
        table = self.query_one("#pools-containers", DataTable)
        keep = table.cursor_row
        table.clear()
        rows = [c for c in self.container_rows
                if self.row_filter.passes(c.host, c.name, c.tenant or "", c.pool)]  # fmt: skip
        for c in rows:
            table.add_row(*container_cells(c, now), key=c.name)
        if rows:
            table.move_cursor(row=min(keep, len(rows) - 1))
        return len(rows)

    def _render_tables(self) -> int:
        now = self._clock()
        self.query_one("#pools-overview", Static).update(overview_text(self.pool_rows))
        table = self.query_one("#pools-table", DataTable)
        keep = table.cursor_row
        table.clear()
        pools = self.pool_rows  # pools are not filtered: their containers and claims are
        for p in pools:
            table.add_row(
                Text(p.name), Text(", ".join(p.hosts) or p.host), Text(f"{p.warm}/{p.target}"),
                Text(str(p.warming)),
                Text(str(p.claimed)), Text(str(p.unhealthy), style="red" if p.unhealthy else ""),
                Text(str(p.max)), Text(_ms(p.warm_p50_ms)), Text(_ms(p.warm_p99_ms)),
                key=p.name,
            )  # fmt: skip
        if pools:
            table.move_cursor(row=min(keep, len(pools) - 1))
        tenants = self.query_one("#pools-tenants", DataTable)
        keep = tenants.cursor_row
        tenants.clear()
        claims = [t for t in self.tenant_rows
                  if self.row_filter.passes(t.host, t.tenant, t.pool, t.container)]  # fmt: skip
        for t in claims:
            last = max(t.sync, key=lambda s: s.last_run, default=None)
            sync_text = Text("-")
            if last is not None:
                sync_text = Text(
                    f"{last.mapping} {last.status} {ago(last.last_run, now)}",
                    style="red" if last.status == "failed" else "",
                )
            state_style = "red" if t.state in ("release_failed", "lost") else ""
            tenants.add_row(
                Text(t.tenant), Text(t.pool), Text(t.container), Text(t.host),
                Text(ago(t.claimed_at, now)), Text(claim_state(t, now), style=state_style),
                sync_text, key=t.tenant,
            )  # fmt: skip
        if claims:
            tenants.move_cursor(row=min(keep, len(claims) - 1))
        self._shown_in_tables = len(claims)
        return self._shown_in_tables

    def on_engine_event(self, message: EngineEvent) -> None:
        self.pool_event(message.event)

    def pool_event(self, event: Event) -> None:
        """A POOL or SYNC event from the main screen: show it, reload soon."""
        if not self.available:
            return
        self.events.appendleft(event)
        lines = Text("\n").join(event_line(e) for e in self.events)
        self.query_one("#pools-events", Static).update(lines)
        if event.kind is EventKind.SYNC and event.data.get("phase") == "started":
            self.set_status(
                f"syncing {event.data.get('tenant')}: {event.data.get('mapping')} "
                f"({event.data.get('direction')})..."
            )
        if not self._reload_pending:
            self._reload_pending = True
            wait = max(0.01, _RELOAD_MIN_INTERVAL - (time.monotonic() - self._last_reload))
            self.set_timer(wait, self.reload)

    def set_status(self, message: str, *, error: bool = False) -> None:
        self.status_text = message
        if self.available:
            self.query_one("#pools-status", Static).update(
                Text(message[:400], style="red" if error else "")
            )

    def _selected(self, table_id: str) -> str | None:
        table = self.query_one(table_id, DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return str(key.value) if key.value is not None else None

    # -- actions -----------------------------------------------------------------------------
    def _guard(self) -> bool:
        if not self.available:
            self.app.notify("Pools are not available here", severity="warning")
            return False
        return True

    def action_claim(self) -> None:
        if not self._guard():
            return
        pool = self._selected("#pools-table") or ""
        prompt = PoolPrompt(
            "Claim a container", [("tenant", "Tenant id", ""), ("pool", "Pool", pool)]
        )
        self.app.push_screen(prompt, self._claim_answered)

    def _claim_answered(self, values: dict[str, str] | None) -> None:
        if values:
            self.run_action_worker("claim", values["tenant"].strip(), values["pool"].strip())

    def action_release(self) -> None:
        self._on_selected_tenant("release")

    def action_sync(self) -> None:
        self._on_selected_tenant("sync")

    def _on_selected_tenant(self, verb: str) -> None:
        if not self._guard():
            return
        tenant = self._selected("#pools-tenants")
        if tenant is None:
            self.set_status("no tenant selected: pick one in the Tenants table", error=True)
            return
        self.run_action_worker(verb, tenant)

    def action_scale(self) -> None:
        if not self._guard():
            return
        pool = self._selected("#pools-table")
        if pool is None:
            return
        current = next((p for p in self.pool_rows if p.name == pool), None)
        initial = str(current.target) if current else ""
        prompt = PoolPrompt(f"Scale pool {pool}", [("min_warm", "Warm target", initial)])
        self.app.push_screen(prompt, lambda v: self._scale_answered(pool, v))

    def _scale_answered(self, pool: str, values: dict[str, str] | None) -> None:
        if not values:
            return
        text = values["min_warm"].strip()
        if not text.isdigit():
            self.set_status(f"warm target must be a whole number, not {text[:20]!r}", error=True)
            return
        self.run_action_worker("scale", pool, text)

    @work(exclusive=False, group="pools-actions")
    async def run_action_worker(self, verb: str, *args: str) -> None:
        pools = self.pools
        if pools is None:
            return
        self.set_status(f"{verb} {' '.join(args)}...")
        try:
            if verb == "claim":
                info = await pools.claim(args[0], args[1])
                message = (
                    f"{info.tenant} claimed {info.container} ({info.source}, "
                    f"{info.latency_ms or 0:.0f} ms)"
                )
            elif verb == "release":
                info = await pools.release(args[0])
                message = f"{info.tenant} released ({info.state})"
            elif verb == "sync":
                result = await pools.sync(args[0], "upload")
                done = (
                    ", ".join(f"{r.mapping} {r.status}" for r in result.runs) or "nothing to sync"
                )
                message = f"sync of {result.tenant}: {done}"
            else:
                status = await pools.scale(args[0], int(args[1]))
                message = f"pool {status.name}: warm target {status.target}"
        except Exception as exc:  # the engine's errors are meant for a person
            self.set_status(f"{verb} failed: {exc}", error=True)
            return
        self.set_status(message)
        self.reload()
