"""`Tokens`: create, list, revoke and verify scoped API tokens; record the audit log.

A secret is `ctk_` + 256 random bits (url-safe base64); the store keeps only its SHA-256, so
`verify` hashes what a caller sends and looks the digest up. Every lookup reads the store (one
indexed row), so a token revoked by another process (`clawtui token revoke`) is refused on the
very next call. Audit entries go, as one line each, to the activity log at once, and to the
store in batches a moment later (`FLUSH_DELAY`; a call does not wait for the disk), like the
activity log itself; `audit()` and `stop()` write what is pending first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
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

log = logging.getLogger(__name__)


FLUSH_DELAY = 0.2
"""Seconds an audit entry may wait before its batch is written."""


class Tokens:
    def __init__(self, context: Context) -> None:
        self.context = context
        self.store = context.store
        self._pending: list[AuditEntry] = []
        self._flusher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Nothing runs in the background until an audit entry is recorded."""

    async def stop(self) -> None:
        flusher, self._flusher = self._flusher, None
        if flusher is not None and not flusher.done():
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
        await self.flush()

    async def flush(self) -> None:
        """Write the pending audit entries (one transaction)."""
        batch, self._pending = self._pending, []
        if not batch:
            return

        def add() -> None:
            with self.store.transaction() as conn:
                for entry in batch:
                    store.add_audit(conn, entry)

        await asyncio.to_thread(add)

    async def _flush_soon(self) -> None:
        await asyncio.sleep(FLUSH_DELAY)
        try:
            await self.flush()
        except Exception as exc:  # disk full, locked: keep serving, say so
            log.warning("could not write the audit log: %s", exc)

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
        self._pending.append(entry)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_soon(), name="tokens:audit")
        target = f" {entry.target}" if entry.target else ""
        self.context.log_activity(
            "info", f"audit: {entry.token} {entry.action}{target}: {entry.outcome}", subject="audit"
        )

    async def audit(self, *, since: float | None = None, limit: int = 500) -> list[AuditEntry]:
        await self.flush()
        return await self.store.arun(lambda conn: store.audit(conn, since, limit))
