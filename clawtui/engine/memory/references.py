"""Which containers a memory batch names: a `host/id` key, `host/name`, a name or a unique id
prefix (Docker's order), or a dev box's own name, each resolved against the engine's model of
its hosts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from clawtui.engine.api.devbox_checks import LABEL_OWNER, LABEL_ROLE
from clawtui.engine.api.devbox_checks import ROLE as DEVBOX_ROLE
from clawtui.engine.api.memory import MAX_BATCH, MAX_REF_LENGTH, PlanError, PlanErrorCode
from clawtui.engine.api.models import ContainerInfo
from clawtui.engine.memory.docker_apply import CONTROL_RE, Wanted

if TYPE_CHECKING:
    from clawtui.engine.fleet.hosts import HostMonitor


def resolve(monitors: Mapping[str, HostMonitor], ref: str) -> tuple[str | None, PlanError | None]:
    """(key, None) for a `host/id`, `host/name`, name or unique id prefix; else an error."""
    if not ref or len(ref) > MAX_REF_LENGTH or CONTROL_RE.search(ref):
        shown = ref[:60]
        return None, PlanError(
            code=PlanErrorCode.UNKNOWN_CONTAINER,
            message=f"invalid container reference {shown!r}",
            ref=shown,
        )
    host, sep, rest = ref.partition("/")
    if sep:
        if host not in monitors:
            known = ", ".join(monitors) or "none"
            return None, PlanError(
                code=PlanErrorCode.UNKNOWN_HOST,
                message=f"unknown host {host!r} in {ref!r} (known: {known})",
                ref=ref,
                host=host,
            )
        candidates: list[ContainerInfo] = list(monitors[host].containers.values())
        needle = rest
    else:
        candidates = [c for m in monitors.values() for c in m.containers.values()]
        needle = ref
    matchers: list[Callable[[ContainerInfo], bool]] = [
        lambda c: c.id == needle,  # docker's order: full id, then name, then id prefix
        lambda c: c.name == needle,
        lambda c: c.id.startswith(needle.lower()),
        # a dev box by its own name (`sam` for the container `dev-sam`), as `dev` verbs take it
        lambda c: c.labels.get(LABEL_ROLE) == DEVBOX_ROLE and c.labels.get(LABEL_OWNER) == needle,
    ]
    for match in matchers:
        found = [c for c in candidates if match(c)]
        if len(found) == 1:
            return found[0].key, None
        if len(found) > 1:
            where = ", ".join(sorted(f"{c.host}/{c.name}" for c in found)[:5])
            return None, PlanError(
                code=PlanErrorCode.AMBIGUOUS,
                message=f"{ref!r} matches {len(found)} containers ({where}): "
                "use host/id or more of the id",
                ref=ref,
            )
    return None, PlanError(
        code=PlanErrorCode.UNKNOWN_CONTAINER, message=f"no container {ref!r}", ref=ref
    )


def resolve_all(
    monitors: Mapping[str, HostMonitor], changes: Mapping[str, int]
) -> tuple[list[Wanted], list[PlanError]]:
    """Every reference of a batch resolved to a key (or an error), duplicates refused."""
    resolved: list[Wanted] = []
    errors: list[PlanError] = []
    seen: dict[str, str] = {}
    if len(changes) > MAX_BATCH:
        errors.append(
            PlanError(
                code=PlanErrorCode.UNKNOWN_CONTAINER,
                message=f"a batch may name at most {MAX_BATCH} containers, got {len(changes)}",
            )
        )
        return resolved, errors
    for ref, requested in changes.items():
        key, error = resolve(monitors, ref)
        if error is not None or key is None:
            errors.append(error or PlanError(code=PlanErrorCode.UNKNOWN_CONTAINER, message=ref))
            continue
        if key in seen:
            errors.append(
                PlanError(
                    code=PlanErrorCode.DUPLICATE,
                    message=f"{ref!r} and {seen[key]!r} are the same container",
                    ref=ref,
                )
            )
            continue
        seen[key] = ref
        host, _, cid = key.partition("/")
        resolved.append(Wanted(ref, key, host, cid, int(requested)))
    return resolved, errors
