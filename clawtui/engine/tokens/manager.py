"""`Tokens`: create, list, revoke and verify scoped API tokens; record the audit log.

A secret is `ctk_` + 256 random bits (url-safe base64); the store keeps only its SHA-256, so
`verify` hashes what a caller sends and looks the digest up. Every lookup reads the store (one
indexed row), so a token revoked by another process (`clawtui token revoke`) is refused on the
very next call. Audit entries go to the store and, as one line each, to the activity log.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Sequence

from clawtui.engine.api.tokens import (
    TOKEN_PREFIX,
    AuditEntry,
    NewToken,
    Principal,
    TokenError,
    TokenInfo,
    check_name,
    parse_scopes,
)
from clawtui.engine.context import Context
from clawtui.engine.tokens import store


class Tokens:
    def __init__(self, context: Context) -> None:
        self.context = context
        self.store = context.store

    async def create(self, name: str, scopes: Sequence[str]) -> NewToken:
        check_name(name)
        wanted = parse_scopes(scopes)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = time.time()

        def insert() -> bool:
            with self.store.transaction() as conn:
                return store.insert(conn, name, store.token_hash(secret), wanted, now)

        if not await asyncio.to_thread(insert):
            raise TokenError(f"a token named {name!r} exists already (names are not reused)", 409)
        self.context.log_activity(
            "info", f"token {name} created (scopes: {', '.join(wanted)})", subject="tokens"
        )
        return NewToken(info=TokenInfo(name=name, scopes=wanted, created_at=now), secret=secret)

    async def find(self) -> list[TokenInfo]:
        return await self.store.arun(store.all_tokens)

    async def revoke(self, name: str) -> TokenInfo:
        now = time.time()

        def revoke() -> TokenInfo | None:
            with self.store.transaction() as conn:
                return store.revoke(conn, name, now)

        info = await asyncio.to_thread(revoke)
        if info is None:
            raise TokenError(f"no token named {name[:80]!r}", 404)
        self.context.log_activity("info", f"token {name} revoked", subject="tokens")
        return info

    def verify_now(self, secret: str) -> Principal | None:
        """`verify` in the calling thread (for a caller already off the loop)."""
        if not secret.startswith(TOKEN_PREFIX):
            return None
        digest = store.token_hash(secret)
        info = self.store.run(lambda conn: store.active_by_hash(conn, digest))
        return None if info is None else Principal(name=info.name, scopes=tuple(info.scopes))

    async def verify(self, secret: str) -> Principal | None:
        if not secret.startswith(TOKEN_PREFIX):
            return None
        return await asyncio.to_thread(self.verify_now, secret)

    async def record(self, entry: AuditEntry) -> None:
        def add() -> None:
            with self.store.transaction() as conn:
                store.add_audit(conn, entry)

        await asyncio.to_thread(add)
        target = f" {entry.target}" if entry.target else ""
        self.context.log_activity(
            "info", f"audit: {entry.token} {entry.action}{target}: {entry.outcome}", subject="audit"
        )

    async def audit(self, *, since: float | None = None, limit: int = 500) -> list[AuditEntry]:
        return await self.store.arun(lambda conn: store.audit(conn, since, limit))
