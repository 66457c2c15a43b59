"""Around every tool call: who is calling, may they, the audit entry, and errors as tool errors.

Over a local engine the caller is the token `clawtui mcp` was started with (`--token` or
`CLAWTUI_API_TOKEN`): the admin API token is `ADMIN`, any other is looked up (by its hash) in the
engine's tokens on every call, so a revoked token is refused at the next call. Without a token
the caller is the local user, who could run every CLI verb on this config anyway: admin.

Over `--connect` the service checks the token and records the call (this server marks each of its
requests with the tool's name, `CALLER_VIA`), so the checks here are not repeated.

An engine error, a refused scope or bad input becomes a `ToolError` carrying the message, which
the SDK hands the client as a tool error (`isError`), never a traceback.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import ValidationError

from clawtui.engine.api.protocols import EngineAPI
from clawtui.engine.api.tokens import (
    ADMIN,
    CALLER_VIA,
    AuditEntry,
    Principal,
    ScopeDenied,
    tokens_of,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
Check = Callable[[Principal], Awaitable[None] | None]


def _message(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}"
            for e in exc.errors(include_url=False)[:10]
        ]
        return "invalid input: " + "; ".join(problems)
    return str(exc) or type(exc).__name__


class Guard:
    """Resolves the caller, checks scopes, records the call and turns failures into ToolError."""

    def __init__(
        self, engine: EngineAPI, *, token: str | None, admin_token: str | None = None
    ) -> None:
        self.engine = engine
        self.token = token
        self.admin_token = admin_token

    @property
    def remote(self) -> bool:
        return self.engine.is_remote

    async def principal(self) -> Principal:
        if self.token is None:
            return ADMIN
        if self.admin_token and hmac.compare_digest(
            self.token.encode("utf-8", "surrogateescape"), self.admin_token.encode()
        ):
            return ADMIN
        tokens = tokens_of(self.engine)
        found = await tokens.verify(self.token) if tokens is not None else None
        if found is None:
            raise ToolError("the token is unknown or revoked: this server refuses every call")
        return found

    async def run(
        self, tool: str, target: str, check: Check | None, call: Callable[[], Awaitable[T]]
    ) -> T:
        """`call()` for `tool` on `target` if the caller passes `check`; recorded either way."""
        principal: Principal | None = None
        outcome = "error"
        reset = CALLER_VIA.set(f"mcp:{tool}")
        try:
            if not self.remote:
                principal = await self.principal()
                if check is not None:
                    pending = check(principal)
                    if pending is not None:
                        await pending
            result = await call()
            outcome = "ok"
            return result
        except ToolError as exc:
            outcome = f"denied: {exc}" if principal is None else f"error: {exc}"
            raise
        except ScopeDenied as exc:
            outcome = f"denied: {exc}"
            raise ToolError(str(exc)) from None
        except Exception as exc:
            outcome = f"error: {_message(exc)}"
            raise ToolError(_message(exc)) from None
        finally:
            CALLER_VIA.reset(reset)
            if not self.remote:
                await self._record(principal, tool, target, outcome)

    async def _record(self, p: Principal | None, tool: str, target: str, outcome: str) -> None:
        tokens = tokens_of(self.engine)
        if tokens is None:
            return
        entry = AuditEntry(
            ts=time.time(),
            token=p.name if p is not None else "(refused token)",
            action=f"mcp:{tool}",
            target=target[:500],
            outcome=outcome[:500],
        )
        try:
            await tokens.record(entry)
        except Exception as exc:  # the call itself stands
            log.warning("could not record an audit entry: %s", exc)
