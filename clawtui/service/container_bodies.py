"""The JSON of `GET /api/v1/containers`, encoded once per container revision.

Encoding 300 containers (`model_dump` + `json.dumps`) costs about 10-15 ms of CPU per request,
so 200 requests/s would need more than two cores. The engine replaces a container's
`ContainerInfo` (a frozen model) with a new object on every change (inspect, stats tick), so
the object itself is the container's revision: the encoded text of each container is kept
with the object it was made from and reused while the engine still hands out that very object.

A stats tick (once a second for every running container) gives each container a new object
made by `model_copy(update={"stats": ...})`, which shares every other field's value with the
object before it. When every field but `stats` is the very same object as in the cached
revision, only the stats are encoded again (a few µs instead of tens): the encoded rest is
kept in two pieces around them. Only `uptime`, which moves with the clock, is written per
request.

A request looks its containers up by object identity (`id()`; a cached entry holds its object,
so no other live object can have that id) with no Python-level work per unchanged container
but its uptime: 300 containers take well under a millisecond.

The body is byte for byte what `json.dumps({"containers": [container_json(c, now), ...]})`
gives (`aiohttp.web.json_response`'s default encoder).
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Iterable
from typing import NamedTuple, cast

from clawtui.engine.api.models import ContainerInfo, ContainerStats


def container_json(c: ContainerInfo, now: float) -> dict[str, object]:
    """One container as the REST API shows it: the model, its key, role and uptime."""
    data = c.model_dump(mode="json")
    data["key"] = c.key
    data["role"] = c.role
    data["uptime"] = c.uptime(now)
    return data


def _number(value: float | None) -> str:
    """A finite float or None as `json.dumps` writes it (float repr; null)."""
    return "null" if value is None else repr(float(value))


_STATS_FIELDS = tuple(ContainerStats.model_fields)


def _scalar(value: object) -> str | None:
    """`json.dumps` of None, an int or a finite float; None for anything else."""
    if value is None:
        return "null"
    if type(value) is int:  # not a bool, not an int subclass
        return int.__repr__(value)
    if type(value) is float and math.isfinite(value):  # json.dumps writes NaN, Infinity
        return float.__repr__(value)
    return None


def stats_json(stats: ContainerStats | None) -> str:
    """`json.dumps(stats.model_dump(mode="json"))` (or "null"): written directly when every
    field holds None, an int or a finite float (what the sampler makes), else by those two."""
    if stats is None:
        return "null"
    values = stats.__dict__
    if len(values) == len(_STATS_FIELDS):
        parts = []
        for name in _STATS_FIELDS:
            text = _scalar(values.get(name, ...))
            if text is None:
                break
            parts.append(f'"{name}": {text}')
        else:
            return "{" + ", ".join(parts) + "}"
    return json.dumps(stats.model_dump(mode="json"))


class _Entry(NamedTuple):
    """One container's encoded text, kept with the object it was made from."""

    obj: ContainerInfo
    fields: tuple[object, ...]
    """The values of every field but `stats` (compared by identity with a newer object's)."""
    pre: str
    """`{"id": ..., ... "stats": ` (every field before the stats and the stats' key)."""
    post: str
    """`, "key": ..., "role": ..., "uptime": ` (the fields after the stats)."""
    head: str
    """pre + the stats' JSON + post: the container without its uptime and closing brace."""
    started: float | None
    """What `uptime` counts from (`started_at` while running), None when it is null."""


def _other_fields(c: ContainerInfo) -> tuple[object, ...]:
    return tuple(v for k, v in c.__dict__.items() if k != "stats")


class ContainerBodies:
    """Encoded containers by key (and by object id), each with the object it was encoded from."""

    KEEP = 4096
    """Entries kept for containers not in the last body (filtered requests, removed
    containers) before they are dropped."""

    def __init__(self) -> None:
        self._by_key: dict[str, _Entry] = {}
        self._by_id: dict[int, _Entry] = {}
        self.encoded = 0
        """How many containers were encoded whole (not taken from the cache) so far."""
        self.stats_encoded = 0
        """How many containers had only their stats encoded (the rest taken from the cache)."""

    def __len__(self) -> int:
        return len(self._by_key)

    def _entry(self, c: ContainerInfo) -> _Entry:
        """The entry of a container object not in the cache: a new revision of a known
        container (its stats alone encoded when nothing else changed) or a new container."""
        key = c.key
        fields = _other_fields(c)
        old = self._by_key.get(key)
        if old is not None:
            self._by_id.pop(id(old.obj), None)
        if (
            old is not None
            and len(fields) == len(old.fields)
            and all(map(operator.is_, fields, old.fields))
        ):
            pre, post = old.pre, old.post
            self.stats_encoded += 1
        else:
            data = c.model_dump(mode="json")
            data["key"] = key
            data["role"] = c.role
            names = list(data)
            at = names.index("stats")
            before = {k: data[k] for k in names[:at]}
            after = {k: data[k] for k in names[at + 1 :]}
            pre = (json.dumps(before)[:-1] + ", " if before else "{") + '"stats": '
            post = (", " + json.dumps(after)[1:-1] if after else "") + ', "uptime": '
            self.encoded += 1
        started = c.started_at if c.running and c.started_at else None
        entry = _Entry(c, fields, pre, post, pre + stats_json(c.stats) + post, started)
        self._by_key[key] = entry
        self._by_id[id(c)] = entry
        return entry

    def body(self, containers: Iterable[ContainerInfo], now: float) -> bytes:
        """`{"containers": [...]}` of these containers, uptimes at `now`."""
        shown = containers if isinstance(containers, list) else list(containers)
        found = list(map(self._by_id.get, map(id, shown)))
        entries = (
            cast("list[_Entry]", found)
            if None not in found
            else [e if e is not None else self._entry(c) for e, c in zip(found, shown, strict=True)]
        )
        now = float(now)
        parts = [
            f"{e.head}null}}"
            if (s := e.started) is None
            else f"{e.head}{float.__repr__(u if (u := now - s) > 0.0 else 0.0)}}}"
            for e in entries
        ]
        if len(self._by_key) > max(self.KEEP, 2 * len(shown)):  # containers gone meanwhile
            keep = {e.obj.key for e in entries}
            self._by_key = {k: v for k, v in self._by_key.items() if k in keep}
            self._by_id = {id(v.obj): v for v in self._by_key.values()}
        return ('{"containers": [' + ", ".join(parts) + "]}").encode()
