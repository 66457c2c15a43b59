"""What the memory manager reads of the world before it changes anything: fresh state.

Validation must not trust a cached value (the TUI's, or the engine's last stats tick): the
state of every container of a batch is read when the batch is planned or applied.
`FreshReader.read` takes the fast path on a local host: a running container's limits and memory
use come from its cgroup files, and the kernel's limits must equal the HostConfig values in the
engine's model (labels cannot change; names and states follow Docker's events), which proves
those values current without a Docker round trip. Everything else (stopped containers, remote
hosts, limits that disagree) is inspected, with memory use from cgroup files or one-shot stats.

Also here: what Docker's errors mean for a person (`describe_update_error`: the kernel's EBUSY
on cgroup v1 is kept word for word), and which container the engine itself runs in.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clawtui.engine.api.memory import PlanError, PlanErrorCode, format_bytes
from clawtui.engine.api.models import ContainerInfo, HostState
from clawtui.engine.docker_sdk import docker
from clawtui.engine.fleet.endpoints import refusal_text
from clawtui.engine.fleet.own import own_container_ids as own_container_ids
from clawtui.engine.fleet.stats import (
    CgroupPaths,
    detect_cgroup_version,
    resolve_cgroup_paths,
    sample_cgroup,
    stats_from_api,
)
from clawtui.engine.memory.rules import Current

if TYPE_CHECKING:
    from clawtui.engine.fleet.hosts import HostMonitor

_KERNEL_BUSY_RE = re.compile(
    r"unable to set memory limit to (\d+) \(current usage: (\d+), peak usage: (\d+)\)"
)
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]+")
"""Control characters: cut from text that came from outside before it is shown."""


@dataclass(frozen=True, slots=True)
class Wanted:
    """One resolved entry of a batch: which container, and the limit asked for it."""

    ref: str
    key: str
    host: str
    id: str
    requested: int


# -- cgroup files -----------------------------------------------------------------------------
_UNLIMITED_FLOOR = 1 << 60
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True, slots=True)
class CgroupMemory:
    """A running container's memory limits and use as its cgroup files say (the kernel's view).

    Limits are None when unlimited. `memsw` is the memory + swap limit, Docker's MemorySwap.
    """

    limit: int | None
    memsw: int | None
    reservation: int
    used: int | None


def _read_limit(path: str) -> tuple[bool, int | None]:
    """(file readable, value or None for unlimited)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(64).strip()
    except OSError:
        return False, None
    if raw == b"max":
        return True, None
    try:
        value = int(raw)
    except ValueError:
        return False, None
    return True, (None if value >= _UNLIMITED_FLOOR else value)


def read_cgroup_memory(paths: CgroupPaths) -> CgroupMemory | None:
    """Limits and use from a container's cgroup directory; None when a file is missing."""
    base = paths.memory
    if paths.version == 1:
        ok_limit, limit = _read_limit(base + "/memory.limit_in_bytes")
        ok_memsw, memsw = _read_limit(base + "/memory.memsw.limit_in_bytes")
        _, soft = _read_limit(base + "/memory.soft_limit_in_bytes")
    else:
        ok_limit, limit = _read_limit(base + "/memory.max")
        ok_memsw, swap = _read_limit(base + "/memory.swap.max")
        memsw = None if limit is None or swap is None else limit + swap
        _, soft = _read_limit(base + "/memory.low")
    if not (ok_limit and ok_memsw):
        return None
    stats = sample_cgroup(paths, None)[0]
    if stats is None:
        return None
    return CgroupMemory(limit=limit, memsw=memsw, reservation=soft or 0, used=stats.mem_used)


def cgroup_agrees(model: ContainerInfo, cg: CgroupMemory) -> bool:
    """Whether the kernel enforces the limits the engine's model holds (so the model's exact
    HostConfig values are current); False means: ask Docker (inspect)."""

    def page(value: int) -> int:
        return value - value % _PAGE

    if model.memory_limit <= 0 or cg.limit is None or cg.limit != page(model.memory_limit):
        return False
    if model.memory_swap == -1:
        return cg.memsw is None
    return model.memory_swap > 0 and cg.memsw == page(model.memory_swap)


# -- Docker's errors --------------------------------------------------------------------------
class UpdateFailure(Exception):
    """An update call did not work; `reason` is for a person, `unreachable` means no answer."""

    def __init__(self, reason: str, *, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unreachable = unreachable


def describe_update_error(exc: BaseException) -> UpdateFailure:
    """Turn what the docker SDK raised into a reason a person can act on.

    On cgroup v1 the kernel answers EBUSY to a limit below what the container uses; runc
    reports it as "unable to set memory limit to N (current usage: U, peak usage: P)" and Docker
    passes that on: it is kept word for word, with the sizes made readable.
    """
    if isinstance(exc, docker.errors.NotFound):
        return UpdateFailure("the container no longer exists (removed meanwhile?)")
    refused = refusal_text(exc)
    if refused is not None:
        return UpdateFailure(refused)
    if isinstance(exc, docker.errors.APIError):
        raw = exc.explanation if isinstance(exc.explanation, str) else str(exc)
        text = CONTROL_RE.sub(" ", raw).strip()
        text = re.sub(r"^Cannot update container [0-9a-f]+:\s*", "", text)
        text = re.sub(r"\s*:\s*unknown$", "", text)
        busy = _KERNEL_BUSY_RE.search(text)
        if busy:
            limit, usage, peak = (int(g) for g in busy.groups())
            return UpdateFailure(
                f"the kernel refused the new limit (EBUSY): {busy.group(0)}: "
                f"{format_bytes(limit)} is below the {format_bytes(usage)} in use "
                f"(peak {format_bytes(peak)})"
            )
        if "device or resource busy" in text.lower():
            return UpdateFailure(f"the kernel refused the new limit (EBUSY): {text[:400]}")
        status = f"HTTP {exc.status_code}: " if exc.status_code else ""
        return UpdateFailure(f"Docker refused the update: {status}{text[:400]}")
    detail = CONTROL_RE.sub(" ", str(exc) or exc.__class__.__name__)[:300]
    return UpdateFailure(f"Docker did not answer: {detail}", unreachable=True)


# -- reading a batch's containers --------------------------------------------------------------
class FreshReader:
    """Reads the current state of a batch's containers, one host at a time."""

    def __init__(self, own_ids: frozenset[str]) -> None:
        self.own_ids = own_ids
        """Ids of the container this process runs in (never adjustable)."""
        self._cgroup_versions: dict[str, int | None] = {}

    def cgroup_version(self, monitor: HostMonitor) -> int | None:
        """The cgroup version whose files this process can read for the host, or None."""
        name = monitor.name
        if name not in self._cgroup_versions:
            cfg = monitor.cfg
            version = None
            if cfg.is_local and cfg.cgroup_root:
                version = detect_cgroup_version(Path(cfg.cgroup_root))
            self._cgroup_versions[name] = version
        return self._cgroup_versions[name]

    async def read(
        self, monitor: HostMonitor, items: list[Wanted]
    ) -> tuple[dict[str, Current], list[PlanError]]:
        """Read the state of every container of `items` on one host now.

        Running containers on a local host come from their cgroup files (the kernel's limits,
        checked against the model's HostConfig values, and memory use); everything else is
        inspected, with memory use from the cgroup files or one-shot stats.
        """
        client = monitor.client
        errors: list[PlanError] = []
        if client is None or monitor.info.state is not HostState.ONLINE:
            why = monitor.info.error or "not connected"
            for item in items:
                errors.append(
                    PlanError(
                        code=PlanErrorCode.HOST_OFFLINE,
                        message=f"host {monitor.name} is offline ({why}): cannot change "
                        f"{item.ref!r}",
                        ref=item.ref,
                        host=monitor.name,
                    )
                )
            return {}, errors
        out, items = await self._from_cgroups(monitor, items)
        if not items:
            return out, errors
        results = await asyncio.gather(
            *(monitor.call(client.inspect_container, item.id) for item in items),
            return_exceptions=True,
        )
        pids: dict[str, int] = {}
        for item, data in zip(items, results, strict=True):
            if isinstance(data, BaseException):
                reason = describe_update_error(data).reason
                errors.append(
                    PlanError(
                        code=PlanErrorCode.UNKNOWN_CONTAINER,
                        message=f"cannot read {item.ref!r}: {reason}",
                        ref=item.ref,
                        host=item.host,
                    )
                )
                continue
            current, pid = self._current_from_inspect(monitor.name, item, data)
            out[item.id] = current
            if pid > 0 and current.state == "running":
                pids[item.id] = pid
        if pids:
            usages = await self._usages(monitor, client, pids)
            for cid, (usage, source) in usages.items():
                out[cid] = replace(out[cid], usage=usage, usage_source=source)
        return out, errors

    async def _from_cgroups(
        self, monitor: HostMonitor, items: list[Wanted]
    ) -> tuple[dict[str, Current], list[Wanted]]:
        """The fast path on a local host: running containers read from their cgroup files.

        Labels cannot change and the model follows names and states through events; the
        kernel's limits confirm that the model's HostConfig values are current. What cannot be
        confirmed this way (stopped, not in the model, limits that disagree) is returned for
        `inspect`.
        """
        version = self.cgroup_version(monitor)
        root = monitor.cfg.cgroup_root
        candidates = [
            (item, c)
            for item in items
            if (c := monitor.containers.get(item.id)) is not None and c.running and c.pid > 0
        ]
        if version is None or not root or not candidates:
            return {}, items

        def read_all() -> dict[str, CgroupMemory]:
            found: dict[str, CgroupMemory] = {}
            for item, c in candidates:
                paths = resolve_cgroup_paths(Path(root), version, c.id, c.pid)
                cg = read_cgroup_memory(paths) if paths is not None else None
                if cg is not None:
                    found[item.id] = cg
            return found

        read = await monitor.call(read_all)
        out: dict[str, Current] = {}
        for item, c in candidates:
            cg = read.get(item.id)
            if cg is None or not cgroup_agrees(c, cg):
                continue
            out[item.id] = Current(
                key=c.key, host=c.host, id=c.id, name=c.name, state=c.state,
                memory=c.memory_limit, swap=c.memory_swap, labels=c.labels,
                reservation=cg.reservation, usage=cg.used, usage_source="cgroup",
                limits_source="cgroup", is_engine=c.id in self.own_ids,
            )  # fmt: skip
        return out, [item for item in items if item.id not in out]

    def _current_from_inspect(self, host: str, item: Wanted, data: Any) -> tuple[Current, int]:
        def table(parent: Any, name: str) -> dict[str, Any]:
            value = parent.get(name) if isinstance(parent, dict) else None
            return value if isinstance(value, dict) else {}

        data = data if isinstance(data, dict) else {}
        hc, state = table(data, "HostConfig"), table(data, "State")
        labels = table(table(data, "Config"), "Labels")

        def as_int(value: Any) -> int:
            return value if isinstance(value, int) and not isinstance(value, bool) else 0

        cid = str(data.get("Id") or item.id)
        name = str(data.get("Name") or cid[:12]).lstrip("/")
        current = Current(
            key=f"{host}/{cid}",
            host=host,
            id=cid,
            name=name,
            state=str(state.get("Status") or "unknown"),
            memory=as_int(hc.get("Memory")),
            swap=as_int(hc.get("MemorySwap")),
            labels={str(k): str(v) for k, v in labels.items()},
            reservation=as_int(hc.get("MemoryReservation")),
            is_engine=cid in self.own_ids,
        )
        return current, as_int(state.get("Pid"))

    async def _usages(
        self, monitor: HostMonitor, client: Any, pids: Mapping[str, int]
    ) -> dict[str, tuple[int | None, str | None]]:
        version = self.cgroup_version(monitor)
        root = monitor.cfg.cgroup_root
        if version is not None and root:

            def read_all() -> dict[str, tuple[int | None, str | None]]:
                out: dict[str, tuple[int | None, str | None]] = {}
                for cid, pid in pids.items():
                    paths = resolve_cgroup_paths(Path(root), version, cid, pid)
                    stats = sample_cgroup(paths, None)[0] if paths is not None else None
                    if stats is not None and stats.mem_used is not None:
                        out[cid] = (stats.mem_used, "cgroup")
                return out

            direct = await monitor.call(read_all)
            missing = {cid: pid for cid, pid in pids.items() if cid not in direct}
            if not missing:
                return direct
        else:
            direct, missing = {}, dict(pids)

        async def one(cid: str) -> tuple[str, int | None]:
            try:
                payload = await monitor.call(client.stats, cid, stream=False, one_shot=True)
            except Exception:
                return cid, None
            stats, _ = stats_from_api(payload, None)
            return cid, stats.mem_used if stats is not None else None

        api = await asyncio.gather(*(one(cid) for cid in missing))
        return {**direct, **{cid: (used, "api" if used is not None else None) for cid, used in api}}
