"""Run the service inside an existing event loop (beside the TUI, or alone for `serve`).

Uses AppRunner + TCPSite rather than `run_app`, so the caller owns the loop and the signals.
Also resolves the API token: from the environment or config, or else a generated one kept in
the state dir (0600), so `clawtui serve` is never open without a token.
"""

from __future__ import annotations

import logging
import os
import secrets
from typing import TYPE_CHECKING

from aiohttp import web

from clawtui.engine.api.protocols import EngineAPI
from clawtui.fsutil import atomic_write, make_private_dir
from clawtui.service.app import create_app

if TYPE_CHECKING:
    from clawtui.config import Settings

log = logging.getLogger(__name__)

TOKEN_FILE_NAME = "api-token"


def resolve_token(settings: Settings) -> tuple[str, str]:
    """(token, where it came from). Generates and stores one when none is configured."""
    token = settings.service.resolved_token()
    if token:
        source = "CLAWTUI_API_TOKEN" if os.environ.get("CLAWTUI_API_TOKEN") else "config"
        return token, source
    path = make_private_dir(settings.engine.resolved_state_dir) / TOKEN_FILE_NAME
    try:
        existing = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        existing = ""
    if len(existing) >= 32:
        return existing, str(path)
    token = secrets.token_urlsafe(32)
    atomic_write(path, token + "\n", mode=0o600)
    return token, f"{path} (generated)"


class ServiceRunner:
    """Start and stop the HTTP service on a running loop."""

    def __init__(
        self,
        engine: EngineAPI,
        settings: Settings,
        *,
        token: str,
        listen: tuple[str, int] | None = None,
    ) -> None:
        self.app = create_app(engine, settings, token=token)
        self.host, self.port = listen or settings.service.host_port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        runner = web.AppRunner(
            self.app, handle_signals=False, access_log=None, shutdown_timeout=5.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise OSError(
                f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc} "
                "(is another clawtui serve running? change [service] listen or pass --listen)"
            ) from exc
        self._runner = runner
        if self.port == 0 and runner.addresses:  # an ephemeral port was asked for
            self.port = int(runner.addresses[0][1])
        log.info("service listening on http://%s:%s", self.host, self.port)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
