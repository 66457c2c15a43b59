"""The one way a route finds the capability it serves: through the engine interface's `*_of`.

    pools = capability(request, pools_of, "pools need a local engine")

answers 501 with `missing` as the message when the engine has no such capability, so every route
group behaves the same whether it runs over a local engine or one without that capability.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from aiohttp import web

from clawtui.engine.api.protocols import EngineAPI
from clawtui.service.errors import fail
from clawtui.service.keys import ENGINE

T = TypeVar("T")


def capability(
    request: web.Request,
    of: Callable[[EngineAPI], T | None],
    missing: str,
    *,
    status: int = 501,
) -> T:
    """The capability `of(engine)` answers, or a 501 (or `status`) carrying `missing`."""
    found = of(request.app[ENGINE])
    if found is None:
        fail(status, missing)
    return found
