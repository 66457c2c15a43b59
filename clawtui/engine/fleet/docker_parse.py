"""Defensive parsing of Docker Engine replies into engine models.

Docker replies are untrusted input: every field is type-checked, missing fields get neutral
defaults, and a reply that cannot describe a container yields None instead of an exception.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from clawtui.engine.api.models import ContainerInfo, HostMemory

_ZERO_TIME_PREFIX = "0001-01-01"


def parse_docker_time(value: Any) -> float | None:
    """RFC 3339 with nanoseconds ("2026-11-23T09:06:35.123456789Z") → epoch seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) if value > 0 else None
    if not isinstance(value, str) or not value or value.startswith(_ZERO_TIME_PREFIX):
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # Python parses at most 6 fractional digits: trim nanoseconds.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = ""
        i = 0
        while i < len(rest) and rest[i].isdigit():
            digits += rest[i]
            i += 1
        text = f"{head}.{digits[:6] or '0'}{rest[i:]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.timestamp()


def _str(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _labels(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


def container_from_inspect(host: str, data: Any) -> ContainerInfo | None:
    """`GET /containers/{id}/json` → ContainerInfo, or None if the reply is unusable."""
    if not isinstance(data, dict):
        return None
    cid = _str(data.get("Id"))
    if not cid:
        return None
    state = _dict(data.get("State"))
    config = _dict(data.get("Config"))
    host_config = _dict(data.get("HostConfig"))
    name = _str(data.get("Name")).lstrip("/") or cid[:12]
    status = _str(state.get("Status"), "unknown")
    health = _dict(state.get("Health"))
    status_text = status
    if status == "exited":
        status_text = f"exited ({_int(state.get('ExitCode'))})"
    if health.get("Status"):
        status_text += f" ({_str(health.get('Status'))})"
    return ContainerInfo(
        id=cid,
        host=host,
        name=name,
        image=_str(config.get("Image")) or _str(data.get("Image"))[:19],
        state=status,
        status=status_text,
        created=parse_docker_time(data.get("Created")) or 0.0,
        started_at=parse_docker_time(state.get("StartedAt")),
        pid=_int(state.get("Pid")),
        labels=_labels(config.get("Labels")),
        memory_limit=_int(host_config.get("Memory")),
        memory_swap=_int(host_config.get("MemorySwap")),
        nano_cpus=_int(host_config.get("NanoCpus")),
        restart_count=_int(data.get("RestartCount")),
    )


def host_facts(info: Any, version: Any) -> dict[str, Any]:
    """`GET /info` and `GET /version` → the HostInfo fields they give (memory: its total)."""
    info = info if isinstance(info, dict) else {}
    version = version if isinstance(version, dict) else {}
    mem_total = info.get("MemTotal")
    return {
        "docker_version": str(version.get("Version") or info.get("ServerVersion") or "?"),
        "api_version": str(version.get("ApiVersion") or "?"),
        "os": str(info.get("OperatingSystem") or "?")[:80],
        "ncpu": info.get("NCPU") if isinstance(info.get("NCPU"), int) else 0,
        "cgroup_version": str(info.get("CgroupVersion") or "?"),
        "mem_total": mem_total if isinstance(mem_total, int) else 0,
    }


def host_summary(containers: Iterable[ContainerInfo], total: int, reserve: int) -> dict[str, Any]:
    """The HostInfo fields that sum a host's containers: counts and the memory budget."""
    containers = list(containers)
    allocated = sum(c.memory_limit for c in containers if c.memory_limit > 0)
    return {
        "containers": len(containers),
        "running": sum(1 for c in containers if c.running),
        "memory": HostMemory(
            total=total,
            allocated=allocated,
            reserve=reserve,
            available=total - reserve - allocated,
            unlimited=sum(1 for c in containers if c.memory_limit <= 0),
        ),
    }


def event_action(event: Any) -> tuple[str, str] | None:
    """A container event from the events stream → (container id, action), or None."""
    if not isinstance(event, dict) or event.get("Type") != "container":
        return None
    actor = _dict(event.get("Actor"))
    cid = _str(actor.get("ID")) or _str(event.get("id"))
    action = _str(event.get("Action")) or _str(event.get("status"))
    if not cid or not action:
        return None
    return cid, action.split(":", 1)[0].strip()
