"""Scoped API tokens and the audit log: value types, the scope rules and `TokensAPI`.

A token has a name and scopes; only its SHA-256 is stored (engine/tokens/). Scopes:

    admin            everything
    read             every read (fleet, threads, escalations, incidents, brief, pools, memory plan)
    pools            pool status, claim, release and sync
    agent:<thread>   reads; escalate as that agent; heartbeats of its own thread; send to the
                     threads its relay routes allow (<thread> is a thread id or name)

The REST API, its event stream and the MCP server check calls with the same functions here
(`require_*`), which raise `ScopeDenied` naming the scope the call needs. The `CLAWTUI_API_TOKEN`
(or the generated api-token file) stays the admin token: it is the principal `ADMIN`.
Pure types: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from clawtui.engine.api.ingress import RelayRoutes
    from clawtui.engine.api.protocols import EngineAPI

TOKEN_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SCOPE_RE = re.compile(r"^(admin|read|pools|agent:[A-Za-z0-9][A-Za-z0-9._-]{0,63})$")
TOKEN_PREFIX = "ctk_"
"""Every generated token starts with this, so a leaked one is easy to spot."""


class TokenError(Exception):
    """A token operation was refused; `status` is the HTTP status that fits."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class ScopeDenied(Exception):
    """The caller's token lacks the scope a call needs; the message names that scope."""

    def __init__(self, needs: str, action: str = "this call") -> None:
        super().__init__(f"{action} needs scope {needs}")
        self.needs = needs


def check_scope(text: str) -> str:
    """`text` if it is a valid scope, else TokenError naming the valid forms."""
    if not _SCOPE_RE.fullmatch(text):
        raise TokenError(
            f"invalid scope {text[:80]!r}: one of admin, read, pools, agent:<thread id or name>"
        )
    return text


def check_name(text: str) -> str:
    if not TOKEN_NAME_RE.fullmatch(text):
        raise TokenError(f"invalid token name {text[:80]!r}: 1-64 letters, digits, '.', '_' or '-'")
    return text


class TokenInfo(BaseModel):
    """A stored token as `token ls` shows it (never the secret, never its hash)."""

    model_config = ConfigDict(frozen=True)

    name: str
    scopes: list[str]
    created_at: float
    revoked_at: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class NewToken(BaseModel):
    """`create`'s answer: the token's record and its secret, shown once."""

    model_config = ConfigDict(frozen=True)

    info: TokenInfo
    secret: str


class AuditEntry(BaseModel):
    """One recorded call: when, by which token, what, on what, and how it ended."""

    model_config = ConfigDict(frozen=True)

    ts: float
    token: str
    action: str = Field(max_length=200)
    target: str = Field(default="", max_length=500)
    outcome: str = Field(max_length=500)


class Principal(BaseModel):
    """Who is calling: a token's name and scopes."""

    model_config = ConfigDict(frozen=True)

    name: str
    scopes: tuple[str, ...]
    stored: bool = Field(default=True, description="False for the admin API token.")

    @property
    def admin(self) -> bool:
        return "admin" in self.scopes

    @property
    def agents(self) -> list[str]:
        """The <thread> of every agent:<thread> scope."""
        return [s.partition(":")[2] for s in self.scopes if s.startswith("agent:")]

    @property
    def can_read(self) -> bool:
        return self.admin or "read" in self.scopes or bool(self.agents)


ADMIN = Principal(name="admin", scopes=("admin",), stored=False)
"""The CLAWTUI_API_TOKEN (or the api-token file): every scope."""


def _is_thread(value: str, thread_id: int | None, thread_name: str | None) -> bool:
    return (thread_id is not None and value == str(thread_id)) or (
        thread_name is not None and value == thread_name
    )


def require_admin(p: Principal, action: str = "this call") -> None:
    if not p.admin:
        raise ScopeDenied("admin", action)


def require_read(p: Principal, action: str = "this call") -> None:
    if not p.can_read:
        raise ScopeDenied("read (or admin, or agent:<thread>)", action)


def require_pools(p: Principal, action: str = "this call", *, read: bool = False) -> None:
    """Claim / release / sync need `pools` (or admin); with `read`, `read` will do too."""
    if p.admin or "pools" in p.scopes or (read and p.can_read):
        return
    raise ScopeDenied("pools (or admin)", action)


def require_agent(
    p: Principal,
    action: str,
    *,
    thread_id: int | None = None,
    thread_name: str | None = None,
    agent: str | None = None,
    aliases: Iterable[str] = (),
) -> None:
    """Admin, or an agent:<thread> scope naming this thread (by id, name or one of `aliases`,
    the relay agents of the thread) or this agent."""
    if p.admin:
        return
    also = set(aliases)
    for value in p.agents:
        if _is_thread(value, thread_id, thread_name) or value in also or value == agent:
            return
    what = thread_name or (str(thread_id) if thread_id is not None else agent) or "<thread>"
    raise ScopeDenied(f"agent:{what} (or admin)", action)


def relay_aliases(relay: RelayRoutes | None, thread_id: int | None) -> list[str]:
    """The relay agents whose thread is `thread_id`: other names an agent scope may use."""
    if relay is None or thread_id is None:
        return []
    return [a.name for a in relay.agents if a.thread_id == thread_id]


def require_send(
    p: Principal,
    action: str,
    *,
    thread_id: int,
    threads: Iterable[tuple[int, str]],
    relay: RelayRoutes | None,
) -> None:
    """Admin, or an agent scope whose relay routes allow sending to thread `thread_id`.

    `threads` are (id, name) of the known threads, so agent:<name> finds its thread id; a
    relay agent is the sender when its name or thread id (or that thread's name) is the
    scope's <thread>, and the target when its thread id is `thread_id`.
    """
    if p.admin:
        return
    names = dict(threads)
    if relay is not None and p.agents:
        targets = {a.name for a in relay.agents if a.thread_id == thread_id}
        for value in p.agents:
            senders = {
                a.name
                for a in relay.agents
                if value == a.name or _is_thread(value, a.thread_id, names.get(a.thread_id))
            }
            if any(r.sender in senders and r.to in targets for r in relay.routes):
                return
    raise ScopeDenied(f"admin (or agent:<thread> with a relay route to thread {thread_id})", action)


def require_escalate(
    p: Principal,
    action: str,
    *,
    agent: str,
    thread_id: int | None,
    thread_name: str | None,
    aliases: Iterable[str] = (),
) -> None:
    """Admin, or an agent scope raising as itself: its agent name (no thread given), or its
    thread (by id, name or relay agent name) when the escalation names one."""
    if p.admin:
        return
    also = set(aliases)
    for value in p.agents:
        if thread_id is None and value == agent:
            return
        if thread_id is not None and (_is_thread(value, thread_id, thread_name) or value in also):
            return
    raise ScopeDenied(f"agent:{thread_name or agent} (or admin)", action)


CALLER_VIA: ContextVar[str | None] = ContextVar("clawtui_caller_via", default=None)
"""What a front end is doing on a client's behalf (the MCP server: `mcp:<tool>`); the remote
client sends it as `X-Clawtui-Via`, so the service records reads made for a tool call too."""


def parse_scopes(scopes: Sequence[str]) -> list[str]:
    """Valid, deduplicated scopes in the order given; TokenError when one is not a scope."""
    out: list[str] = []
    for scope in scopes:
        if check_scope(scope.strip()) not in out:
            out.append(scope.strip())
    if not out:
        raise TokenError("a token needs at least one scope (--scope admin|read|pools|agent:T)")
    return out


class TokensAPI(Protocol):
    """Scoped tokens (stored as hashes) and the audit log of calls made with them."""

    async def create(self, name: str, scopes: Sequence[str]) -> NewToken:
        """A new token; its secret is in the answer and nowhere else (TokenError if taken)."""
        ...

    async def find(self) -> list[TokenInfo]:
        """Every token, revoked ones too, oldest first."""
        ...

    async def revoke(self, name: str) -> TokenInfo:
        """Refuse the token from now on (TokenError 404 if unknown)."""
        ...

    async def verify(self, secret: str) -> Principal | None:
        """The principal of an active token, or None (unknown or revoked)."""
        ...

    async def record(self, entry: AuditEntry) -> None:
        """Keep one audit entry (and note it in the activity log)."""
        ...

    async def audit(self, *, since: float | None = None, limit: int = 500) -> list[AuditEntry]:
        """Recorded calls, newest first (since `since`, epoch seconds)."""
        ...


def tokens_of(engine: EngineAPI) -> TokensAPI | None:
    """The engine's tokens and audit log, or None when it has none."""
    tokens: TokensAPI | None = getattr(engine, "tokens", None)
    return tokens
