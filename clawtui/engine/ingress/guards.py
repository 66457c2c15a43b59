"""What guards the ingress door: constant-time secret checks and a per-sender rate limit."""

from __future__ import annotations

import collections
import hmac
import time
from collections.abc import Callable, Iterable


class RateLimiter:
    """At most `limit` events per `window` seconds per key (sliding window)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._hits: dict[str, collections.deque[float]] = {}

    def check(self, key: str, limit: int, window: float) -> float:
        """0 and count the hit when allowed; else seconds until the next slot frees."""
        now = self._clock()
        hits = self._hits.setdefault(key, collections.deque())
        while hits and hits[0] <= now - window:
            hits.popleft()
        if len(hits) >= limit:
            return max(0.001, hits[0] + window - now)
        hits.append(now)
        return 0.0


def secret_matches(given: str | None, accepted: Iterable[str]) -> bool:
    """Constant-time compare on bytes against every accepted secret (no early exit)."""
    if given is None:
        return False
    raw = given.encode("utf-8", "surrogateescape")
    found = False
    for secret in accepted:
        found |= hmac.compare_digest(raw, secret.encode("utf-8", "surrogateescape"))
    return found
