"""The JSON of `GET /api/v1/containers`, encoded once per container revision.

Encoding 300 containers (`model_dump` + `json.dumps`) costs about 10-15 ms of CPU per request,
so 200 requests/s would need more than two cores. The engine replaces a container's
`ContainerInfo` (a frozen model) with a new object on every change (inspect, stats tick), so
the object itself is the container's revision: the encoded text of each container is kept
with the object it was made from and reused while the engine still hands out that very object.
Any change gives a new object, and the next request encodes it again. Only `uptime`, which moves
with the clock, is written per request.

The body is byte for byte what `json.dumps({"containers": [container_json(c, now), ...]})`
gives (`aiohttp.web.json_response`'s default encoder).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from clawtui.engine.api.models import ContainerInfo


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


class ContainerBodies:
    """Encoded containers by key, each with the `ContainerInfo` object it was encoded from."""

    KEEP = 4096
    """Entries kept for containers not in the last body (filtered requests, removed
    containers) before they are dropped."""

    def __init__(self) -> None:
        self._encoded: dict[str, tuple[ContainerInfo, str]] = {}
        self.encoded = 0
        """How many containers were encoded (not taken from the cache) so far."""

    def __len__(self) -> int:
        return len(self._encoded)

    def _head(self, c: ContainerInfo) -> str:
        """`json.dumps(container_json(c))` without its uptime and closing brace."""
        cached = self._encoded.get(c.key)
        if cached is not None and cached[0] is c:
            return cached[1]
        data = c.model_dump(mode="json")
        data["key"] = c.key
        data["role"] = c.role
        head = json.dumps(data)[:-1] + ', "uptime": '
        self._encoded[c.key] = (c, head)
        self.encoded += 1
        return head

    def body(self, containers: Iterable[ContainerInfo], now: float) -> bytes:
        """`{"containers": [...]}` of these containers, uptimes at `now`."""
        shown = list(containers)
        parts = [f"{self._head(c)}{_number(c.uptime(now))}}}" for c in shown]
        if len(self._encoded) > max(self.KEEP, 2 * len(shown)):  # containers gone meanwhile
            keep = {c.key for c in shown}
            self._encoded = {k: v for k, v in self._encoded.items() if k in keep}
        return ('{"containers": [' + ", ".join(parts) + "]}").encode()
