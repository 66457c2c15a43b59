"""What the Pools panel shows beside its tables (seed 004's dashboard): the overview across
pools, the rows of the selected pool's containers, and the selected tenant's config (secrets
masked) and sync history. Pure functions from the engine's models to plain `Text` (never markup).

Secret values never reach a front end (the engine hands out their names only); config keys
that look like credentials (token, password, secret, key, credential, auth) are masked too,
since a tenant config is free-form JSON.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from typing import Any, Final

from rich.text import Text

from clawtui.engine.api.pools import ClaimInfo, PoolContainer, PoolStatus, SyncState

MASK: Final = "********"
_SECRET_KEY: Final = re.compile(r"secret|token|passw|key|credential|auth|cookie", re.I)
_MAX_VALUE: Final = 120


def ago(ts: float | None, now: float) -> str:
    """How long ago `ts` was: `42s ago`, `5m ago`, `3h ago`; `-` when never."""
    if not ts:
        return "-"
    s = max(0, int(now - ts))
    if s < 120:
        return f"{s}s ago"
    return f"{s // 60}m ago" if s < 7200 else f"{s // 3600}h ago"


def _age(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s}s" if s < 120 else f"{s // 60}m" if s < 7200 else f"{s // 3600}h"


def overview_text(pools: Sequence[PoolStatus]) -> Text:
    """One line of totals across pools."""
    if not pools:
        return Text("no pools")
    warm = sum(p.warm for p in pools)
    target = sum(p.target for p in pools)
    unhealthy = sum(p.unhealthy for p in pools)
    drained = [p.name for p in pools if p.draining]
    line = Text(
        f"{len(pools)} pool(s): {warm}/{target} warm, {sum(p.warming for p in pools)} warming, "
        f"{sum(p.claimed for p in pools)} claimed, {sum(p.total for p in pools)} containers "
        f"of {sum(p.max for p in pools)} max, "
    )
    line.append(f"{unhealthy} unhealthy", style="red" if unhealthy else "")
    if drained:
        line.append(f"; drained: {', '.join(drained)}", style="yellow")
    return line


def claim_state(claim: ClaimInfo, now: float) -> str:
    """A claim's state; a lost one says on which host and since when."""
    if claim.state == "lost":
        return f"lost on {claim.host} {ago(claim.released_at, now)}"
    return claim.state


def container_cells(c: PoolContainer, now: float) -> list[Text]:
    """Cells of one container row: container, host, state, tenant, health, age, last sync."""
    health_style = "" if c.health == "healthy" else "red"
    return [
        Text(c.name),
        Text(c.host),
        Text(c.state),
        Text(c.tenant or "-"),
        Text(c.health, style=health_style),
        Text(_age(c.age)),
        Text(ago(c.last_sync, now)),
    ]


def mask_config(value: Any, key: str = "") -> Any:
    """`value` with the values under credential-like keys replaced by MASK."""
    if key and _SECRET_KEY.search(key):
        return MASK
    if isinstance(value, dict):
        return {str(k): mask_config(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_config(v) for v in value]
    return value


def _sync_line(run: SyncState, now: float) -> Text:
    line = Text(
        f"  {time.strftime('%H:%M:%S', time.localtime(run.last_run))} ({ago(run.last_run, now)})"
        f"  {run.mapping} {run.direction} {run.status}  {run.bytes} B {run.files} file(s) "
        f"{run.duration:.2f}s",
        style="red" if run.status == "failed" else "",
    )
    if run.error:
        line.append(f"  {run.error[:200]}")
    return line


def tenant_text(claim: ClaimInfo | None, history: Sequence[SyncState], now: float) -> Text:
    """The selected tenant's config (masked), secrets (names only) and sync history."""
    if claim is None:
        return Text("select a tenant to see its config and sync history", style="dim")
    out = Text(f"{claim.tenant}", style="bold")
    out.append(f"  {claim.pool} / {claim.container} on {claim.host}  [{claim_state(claim, now)}]\n")
    if claim.state == "lost" and claim.error:
        out.append(f"lost: {claim.error}\n", style="red")
    out.append("config: ")
    if claim.config:
        shown = json.dumps(mask_config(claim.config), ensure_ascii=False, sort_keys=True)
        out.append(shown if len(shown) <= 400 else shown[:399] + "…")
    else:
        out.append("{}")
    out.append("\nsecrets: ")
    out.append(", ".join(f"{n[:_MAX_VALUE]}={MASK}" for n in claim.secret_names) or "none")
    out.append("\nsync history:")
    if not history:
        out.append(" none yet")
    for run in history:
        out.append("\n")
        out.append_text(_sync_line(run, now))
    return out
