"""Telling people what the engine changed: a log line always, Telegram and a webhook when set.

Admins want to hear when limits move under their agents ("Memory rebalanced: dev-alice 2.0 GiB
→ 3.0 GiB (by tui)", seed 000 Phase 4), but a chat service being slow or down must never delay
or fail the change itself. So `Notifier.notify` is synchronous and cannot raise: it logs the
text and starts one background task per HTTP channel, which retries with exponential backoff
(honouring Telegram's `retry_after`) and, when it gives up, logs and counts the failure.
Permanent refusals (a wrong token, an unknown chat: HTTP 4xx) are not retried. The number of
sends in flight is capped so a dead channel cannot pile up tasks; `aclose` (called when the
engine stops) waits up to `drain_timeout` for pending sends, then drops them, counted.

Secrets (the bot token lives in the Bot API URL, the webhook's shared secret in a header) never
appear in logs or counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # aiohttp is imported when a notification is first sent (start-up time)
    import aiohttp

    from clawtui.config import NotifyConfig, TelegramConfig, WebhookConfig

log = logging.getLogger("clawtui.notify")

TELEGRAM_MAX_TEXT = 4096
"""Telegram refuses longer messages; longer texts are cut with an ellipsis."""


@dataclass(frozen=True)
class Notification:
    """One thing to tell people about."""

    kind: str
    """What happened, dotted: 'memory.rebalanced', 'memory.rolled_back', ..."""
    text: str
    """The message for a person (plain text, may span lines)."""
    data: Mapping[str, Any] = field(default_factory=dict)
    """Machine-readable details (JSON-able); sent to the webhook, not to Telegram."""
    ts: float = field(default_factory=time.time)
    buttons: tuple[tuple[tuple[str, str], ...], ...] = ()
    """Telegram inline keyboard: rows of (label, callback_data); other channels ignore it."""


@dataclass
class ChannelStats:
    """Counters of one channel, for the log and for metrics."""

    sent: int = 0
    failed: int = 0
    """Sends given up: retries exhausted or a permanent refusal."""
    retried: int = 0
    dropped: int = 0
    """Sends never attempted or cut short: too many in flight, or pending at shutdown."""
    last_error: str | None = None


class SendError(Exception):
    """One attempt failed. `retryable` False means the peer refused for good (HTTP 4xx)."""

    def __init__(
        self, message: str, *, retryable: bool = True, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class Channel(Protocol):
    name: str

    async def send(self, session: aiohttp.ClientSession, note: Notification) -> None:
        """Deliver once; raise SendError (or an aiohttp/OS error) when it did not work."""
        ...


def _retryable_status(status: int) -> bool:
    return status in (408, 425, 429) or status >= 500


def _client_timeout(total: float) -> aiohttp.ClientTimeout:
    import aiohttp

    return aiohttp.ClientTimeout(total=total)


async def _body_json(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    import aiohttp

    try:
        body = await resp.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


class TelegramChannel:
    """`sendMessage` of the Telegram Bot API."""

    name = "telegram"

    def __init__(self, cfg: TelegramConfig, token: str, timeout: float) -> None:
        self._token = token
        self._url = f"{cfg.api_base}/bot{token}/sendMessage"
        self._chat_id = cfg.chat_id
        self._thread_id = cfg.message_thread_id
        self._timeout = timeout

    def redact(self, text: str) -> str:
        return text.replace(self._token, "<bot-token>") if self._token else text

    async def send(self, session: aiohttp.ClientSession, note: Notification) -> None:
        text = note.text
        if len(text) > TELEGRAM_MAX_TEXT:
            text = text[: TELEGRAM_MAX_TEXT - 1] + "…"
        payload: dict[str, Any] = {
            "chat_id": self._chat_id,
            "text": text,
            "disable_web_page_preview": True,
        }
        if self._thread_id is not None:
            payload["message_thread_id"] = self._thread_id
        if note.buttons:
            payload["reply_markup"] = {
                "inline_keyboard": [
                    [{"text": label, "callback_data": data} for label, data in row]
                    for row in note.buttons
                ]
            }
        timeout = _client_timeout(self._timeout)
        async with session.post(self._url, json=payload, timeout=timeout) as resp:
            body = await _body_json(resp)
            if resp.status == 200 and body.get("ok") is True:
                return
            description = str(body.get("description") or resp.reason or "no description")[:200]
            message = f"Telegram answered HTTP {resp.status}: {self.redact(description)}"
            retry_after: float | None = None
            params = body.get("parameters")
            if isinstance(params, dict) and isinstance(params.get("retry_after"), int | float):
                retry_after = float(params["retry_after"])
            raise SendError(
                message, retryable=_retryable_status(resp.status), retry_after=retry_after
            )


class WebhookChannel:
    """A JSON POST to a URL, with an optional shared-secret header."""

    name = "webhook"

    def __init__(self, cfg: WebhookConfig, secret: str | None, timeout: float) -> None:
        self._url = cfg.url
        self._secret = secret
        self._headers = {cfg.secret_header: secret} if secret else {}
        self._timeout = timeout

    def redact(self, text: str) -> str:
        return text.replace(self._secret, "<secret>") if self._secret else text

    async def send(self, session: aiohttp.ClientSession, note: Notification) -> None:
        payload = {"kind": note.kind, "text": note.text, "ts": note.ts, "data": dict(note.data)}
        async with session.post(
            self._url, json=payload, headers=self._headers, timeout=_client_timeout(self._timeout)
        ) as resp:
            if 200 <= resp.status < 300:
                return
            retry_after: float | None = None
            header = resp.headers.get("Retry-After", "")
            if header.isdigit():
                retry_after = float(header)
            raise SendError(
                f"the webhook answered HTTP {resp.status} {resp.reason or ''}".rstrip(),
                retryable=_retryable_status(resp.status),
                retry_after=retry_after,
            )


class Notifier:
    """Fan-out of notifications to the configured channels, in the background."""

    def __init__(self, cfg: NotifyConfig, *, env: Mapping[str, str] | None = None) -> None:
        self.cfg = cfg
        self._channels: list[Channel] = []
        if cfg.telegram is not None:
            token = cfg.telegram.resolved_token(env)
            if token:
                self._channels.append(TelegramChannel(cfg.telegram, token, cfg.timeout))
            else:
                log.warning(
                    "notify.telegram is configured but its bot token is empty "
                    "(is %s set?): Telegram notifications are off",
                    cfg.telegram.bot_token_env or "bot_token",
                )
        if cfg.webhook is not None:
            secret = cfg.webhook.resolved_secret(env)
            if cfg.webhook.secret_env and not secret:
                log.warning(
                    "notify.webhook.secret_env names %s, which is not set: the webhook is "
                    "sent without its secret header",
                    cfg.webhook.secret_env,
                )
            self._channels.append(WebhookChannel(cfg.webhook, secret, cfg.timeout))
        self.stats: dict[str, ChannelStats] = {"log": ChannelStats()}
        self.stats.update({c.name: ChannelStats() for c in self._channels})
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    @property
    def channels(self) -> list[str]:
        """Names of the channels in use ('log' is always first)."""
        return ["log", *(c.name for c in self._channels)]

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def notify(self, note: Notification) -> None:
        """Log `note` and start sending it to every HTTP channel. Never blocks, never raises.

        Must be called on the engine's event loop.
        """
        try:
            log.info("%s", note.text)
            self.stats["log"].sent += 1
            for channel in self._channels:
                stats = self.stats[channel.name]
                if self._closed or len(self._tasks) >= self.cfg.max_pending:
                    stats.dropped += 1
                    why = "shutting down" if self._closed else f"{len(self._tasks)} in flight"
                    log.warning("dropped a %s notification (%s)", channel.name, why)
                    continue
                task = asyncio.get_running_loop().create_task(
                    self._deliver(channel, note), name=f"notify:{channel.name}"
                )
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        except Exception:  # a notification must never break its caller
            log.exception("could not queue a notification")

    def _session_now(self) -> aiohttp.ClientSession:
        import aiohttp

        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    def _delay(self, attempt: int, error: SendError | None) -> float:
        if error is not None and error.retry_after is not None:
            return float(min(max(0.0, error.retry_after), self.cfg.backoff_max))
        base = float(min(self.cfg.backoff * (2**attempt), self.cfg.backoff_max))
        return base * (1 + random.random() * 0.1)

    async def _deliver(self, channel: Channel, note: Notification) -> None:
        import aiohttp

        stats = self.stats[channel.name]
        redact = getattr(channel, "redact", str)
        attempts = self.cfg.retries + 1
        for attempt in range(attempts):
            error: SendError | None
            try:
                await channel.send(self._session_now(), note)
            except asyncio.CancelledError:
                stats.dropped += 1
                raise
            except SendError as exc:
                error = exc
            except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
                detail = str(exc) or exc.__class__.__name__
                error = SendError(f"{exc.__class__.__name__}: {detail}"[:300])
            else:
                stats.sent += 1
                if attempt:
                    log.info("%s notification sent after %d retries", channel.name, attempt)
                return
            message = redact(str(error))
            stats.last_error = message
            if not error.retryable or attempt == attempts - 1:
                stats.failed += 1
                log.warning(
                    "%s notification failed after %d attempt(s), giving up: %s",
                    channel.name,
                    attempt + 1,
                    message,
                )
                return
            stats.retried += 1
            delay = self._delay(attempt, error)
            log.debug("%s notification attempt %d failed (%s); retry in %.2fs",
                      channel.name, attempt + 1, message, delay)  # fmt: skip
            await asyncio.sleep(delay)

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait for pending sends, up to `timeout` (default `drain_timeout`); True if all done."""
        tasks = list(self._tasks)
        if not tasks:
            return True
        wait = self.cfg.drain_timeout if timeout is None else timeout
        _, pending = await asyncio.wait(tasks, timeout=wait)
        return not pending

    async def aclose(self, timeout: float | None = None) -> None:
        """Stop taking notifications, drain pending sends with a timeout, cancel the rest."""
        self._closed = True
        if not await self.drain(timeout):
            log.warning("dropping %d notification(s) still pending at shutdown", len(self._tasks))
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        session, self._session = self._session, None
        if session is not None:
            with contextlib.suppress(Exception):
                await session.close()
