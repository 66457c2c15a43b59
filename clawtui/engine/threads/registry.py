"""The thread registry's files: TinyClaw's `threads.json`, merged with `[[threads.threads]]`.

`threads.json` is `{"<threadId>": {name, cwd, sessionId?, model, isMaster, lastActive (epoch
ms)}}`; config wins per field. The master is `[threads] master`, else the entry with isMaster,
else 1.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clawtui.engine.api.threads import ThreadInfo
from clawtui.fsutil import atomic_write, read_bytes_capped

if TYPE_CHECKING:
    from clawtui.config.threads import ThreadsConfig

MAX_THREADS_JSON = 4 << 20


def read_threads_json(path: Path) -> tuple[dict[int, dict[str, Any]], str | None]:
    """TinyClaw's threads map; (entries by id, problem or None). Never raises."""
    try:
        raw, truncated = read_bytes_capped(path, limit=MAX_THREADS_JSON)
    except FileNotFoundError:
        return {}, None
    except OSError as exc:
        return {}, f"{path}: cannot read ({exc.strerror or exc})"
    if truncated:
        return {}, f"{path}: larger than {MAX_THREADS_JSON >> 20} MiB, not read"
    try:
        data = json.loads(raw.decode("utf-8-sig", errors="replace"))
    except ValueError as exc:
        return {}, f"{path}: not valid JSON ({exc})"
    if not isinstance(data, dict):
        return {}, f"{path}: expected an object of threads by id"
    out: dict[int, dict[str, Any]] = {}
    bad: list[str] = []
    for key, value in data.items():
        try:
            tid = int(key)
        except ValueError:
            bad.append(str(key)[:20])
            continue
        if tid < 0 or not isinstance(value, dict):
            bad.append(str(key)[:20])
            continue
        out[tid] = value
    return out, (f"{path}: skipped entries {', '.join(bad)}" if bad else None)


def merge_threads(
    cfg: ThreadsConfig, tj: dict[int, dict[str, Any]]
) -> tuple[dict[int, ThreadInfo], int]:
    """Config entries + threads.json (config wins per field); and the master id."""
    out: dict[int, ThreadInfo] = {}
    for tid, entry in tj.items():
        name = entry.get("name")
        cwd = entry.get("cwd")
        last = entry.get("lastActive")
        model = entry.get("model")
        out[tid] = ThreadInfo(
            id=tid,
            name=name if isinstance(name, str) and name else f"Thread {tid}",
            cwd=cwd if isinstance(cwd, str) and cwd else None,
            model=model if isinstance(model, str) else None,
            is_master=entry.get("isMaster") is True,
            last_active=(last / 1000.0)
            if isinstance(last, int | float) and not isinstance(last, bool) and last > 0
            else None,
            source="threads.json",
        )
    for ce in cfg.threads:
        base = out.get(ce.id)
        info = ThreadInfo(
            id=ce.id,
            name=ce.name or (base.name if base else f"Thread {ce.id}"),
            cwd=str(ce.cwd) if ce.cwd is not None else (base.cwd if base else None),
            container=ce.container,
            host=ce.host,
            model=base.model if base else None,
            is_master=ce.is_master or (base.is_master if base else False),
            last_active=base.last_active if base else None,
            source="both" if base else "config",
            nanoclaw_jid=ce.nanoclaw_jid,
        )
        out[ce.id] = info
    if cfg.master is not None:
        master = cfg.master
    else:
        masters = sorted(t.id for t in out.values() if t.is_master)
        master = masters[0] if masters else 1
    if master in out:
        out[master].is_master = True
    return out, master


def write_threads_json(path: Path, threads: dict[int, dict[str, Any]]) -> None:
    """threads.json as TinyClaw's saveThreads writes it (indent 2), atomically."""
    atomic_write(path, json.dumps({str(k): v for k, v in threads.items()}, indent=2))


def now_ms() -> int:
    return int(time.time() * 1000)
