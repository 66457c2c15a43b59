"""The notifier against real HTTP peers on 127.0.0.1: a Telegram-Bot-API-shaped fake and a webhook
receiver (aiohttp servers), with failures, retries, backoff, permanent refusals and draining."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from clawtui.config import NotifyConfig, TelegramConfig, WebhookConfig
from clawtui.engine.notifier import Notification, Notifier

TOKEN = "123456:SECRET-bot-token-do-not-log"
SECRET = "shared-secret-do-not-log"


class FakePeer:
    """One loopback HTTP server; `plan` is a list of statuses to answer in turn (then 200)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        self.times: list[float] = []
        self.plan: list[int] = []
        self.body_for: dict[int, dict[str, Any]] = {}
        self.delay = 0.0
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, dict(request.headers), await request.json()))
        self.times.append(time.monotonic())
        if self.delay:
            await asyncio.sleep(self.delay)
        status = self.plan.pop(0) if self.plan else 200
        if request.path.startswith("/bot"):  # Telegram's shape: {"ok": ..., ...}
            body = self.body_for.get(status) or (
                {"ok": True, "result": {"message_id": len(self.requests)}}
                if status == 200
                else {"ok": False, "error_code": status, "description": f"fake error {status}"}
            )
            return web.json_response(body, status=status)
        return web.json_response({"received": True}, status=status)


@pytest.fixture
async def peer() -> AsyncIterator[FakePeer]:
    fake = FakePeer()
    app = web.Application()
    app.router.add_post("/{tail:.*}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        await runner.cleanup()


def telegram(peer: FakePeer, **kw: Any) -> NotifyConfig:
    options = {"retries": 4, "backoff": 0.05, "backoff_max": 0.5, "timeout": 5.0, **kw}
    return NotifyConfig(
        telegram=TelegramConfig(
            bot_token=TOKEN, chat_id=-1001234, message_thread_id=1, api_base=peer.url
        ),
        **options,
    )


NOTE = Notification(
    kind="memory.rebalanced",
    text="Memory rebalanced: dev-alice 2.0 GiB → 3.0 GiB (by tui)",
    data={"batch_id": "b1"},
)


async def until(pred: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_telegram_fails_twice_then_succeeds_with_backoff(
    peer: FakePeer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="clawtui.notify")
    peer.plan = [500, 502]
    notifier = Notifier(telegram(peer))
    assert notifier.channels == ["log", "telegram"]
    notifier.notify(NOTE)
    # Never blocks the caller: it returned before the peer (on this loop) saw any request.
    assert peer.requests == [] and notifier.pending == 1
    assert await notifier.drain(5)
    stats = notifier.stats["telegram"]
    assert (stats.sent, stats.retried, stats.failed) == (1, 2, 0)
    assert len(peer.requests) == 3
    path, _, body = peer.requests[-1]
    assert path == f"/bot{TOKEN}/sendMessage"
    assert body["chat_id"] == -1001234 and body["message_thread_id"] == 1
    assert body["text"] == NOTE.text
    gaps = [b - a for a, b in zip(peer.times, peer.times[1:], strict=False)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1  # exponential: 0.05 s, then 0.1 s
    assert notifier.stats["log"].sent == 1 and NOTE.text in caplog.text
    assert TOKEN not in caplog.text
    await notifier.aclose()


async def test_telegram_retry_after_is_honoured(peer: FakePeer) -> None:
    peer.plan = [429]
    peer.body_for[429] = {
        "ok": False, "error_code": 429, "description": "Too Many Requests: retry after 0",
        "parameters": {"retry_after": 0.3},
    }  # fmt: skip
    notifier = Notifier(telegram(peer, backoff=0.01))
    notifier.notify(NOTE)
    assert await notifier.drain(5)
    assert notifier.stats["telegram"].sent == 1
    assert peer.times[1] - peer.times[0] >= 0.3
    await notifier.aclose()


async def test_permanent_refusal_is_not_retried_and_token_not_logged(
    peer: FakePeer, caplog: pytest.LogCaptureFixture
) -> None:
    peer.plan = [401]
    peer.body_for[401] = {"ok": False, "error_code": 401, "description": f"bad {TOKEN}"}
    notifier = Notifier(telegram(peer))
    notifier.notify(NOTE)
    assert await notifier.drain(5)
    stats = notifier.stats["telegram"]
    assert (stats.sent, stats.failed, stats.retried) == (0, 1, 0)
    assert len(peer.requests) == 1
    assert stats.last_error is not None and "401" in stats.last_error
    assert TOKEN not in (stats.last_error or "") and TOKEN not in caplog.text
    await notifier.aclose()


async def test_gives_up_after_retries_and_counts(peer: FakePeer) -> None:
    peer.plan = [503] * 10
    notifier = Notifier(telegram(peer, retries=2, backoff=0.01))
    notifier.notify(NOTE)
    assert await notifier.drain(5)
    stats = notifier.stats["telegram"]
    assert (stats.sent, stats.failed, stats.retried) == (0, 1, 2)
    assert len(peer.requests) == 3
    await notifier.aclose()


async def test_unreachable_peer_is_retried_then_counted() -> None:
    cfg = NotifyConfig(
        webhook=WebhookConfig(url="http://127.0.0.1:9/hook"), retries=1, backoff=0.01
    )
    notifier = Notifier(cfg)
    notifier.notify(NOTE)
    assert await notifier.drain(5)
    assert notifier.stats["webhook"].failed == 1 and notifier.stats["webhook"].retried == 1
    await notifier.aclose()


async def test_webhook_gets_json_and_secret_header(peer: FakePeer) -> None:
    peer.plan = [500]
    cfg = NotifyConfig(
        webhook=WebhookConfig(url=peer.url + "/hooks/clawtui", secret=SECRET),
        backoff=0.01,
    )
    notifier = Notifier(cfg)
    notifier.notify(NOTE)
    assert await notifier.drain(5)
    assert notifier.stats["webhook"].sent == 1 and notifier.stats["webhook"].retried == 1
    path, headers, body = peer.requests[-1]
    assert path == "/hooks/clawtui"
    assert headers["X-Clawtui-Secret"] == SECRET
    assert body["kind"] == "memory.rebalanced" and body["text"] == NOTE.text
    assert body["data"] == {"batch_id": "b1"}
    await notifier.aclose()


async def test_both_channels_and_env_secrets(peer: FakePeer) -> None:
    cfg = NotifyConfig(
        telegram=TelegramConfig(bot_token_env="T_ENV", chat_id="@ops", api_base=peer.url),
        webhook=WebhookConfig(url=peer.url + "/w", secret_env="S_ENV", secret_header="X-Sig"),
    )
    notifier = Notifier(cfg, env={"T_ENV": TOKEN, "S_ENV": SECRET})
    notifier.notify(NOTE)
    assert await notifier.drain(5)
    paths = sorted(p for p, _, _ in peer.requests)
    assert paths == [f"/bot{TOKEN}/sendMessage", "/w"]
    assert next(h for p, h, _ in peer.requests if p == "/w")["X-Sig"] == SECRET
    tg = next(b for p, _, b in peer.requests if p != "/w")
    assert tg["chat_id"] == "@ops" and "message_thread_id" not in tg
    await notifier.aclose()


async def test_missing_token_disables_the_channel(caplog: pytest.LogCaptureFixture) -> None:
    cfg = NotifyConfig(telegram=TelegramConfig(bot_token_env="NOPE_UNSET", chat_id=1))
    notifier = Notifier(cfg, env={})
    assert notifier.channels == ["log"]
    assert "NOPE_UNSET" in caplog.text
    await notifier.aclose()


async def test_aclose_drains_with_a_timeout_and_counts_drops(peer: FakePeer) -> None:
    peer.delay = 3.0
    notifier = Notifier(telegram(peer, drain_timeout=0.2))
    notifier.notify(NOTE)
    await until(lambda: len(peer.requests) == 1)
    await notifier.aclose()
    # It gave up at the drain timeout: the peer (3 s) never answered, the message was dropped.
    stats = notifier.stats["telegram"]
    assert (stats.sent, stats.dropped) == (0, 1) and notifier.pending == 0
    notifier.notify(NOTE)  # after close: counted as dropped, never raises
    assert notifier.stats["telegram"].dropped == 2


async def test_pending_cap_drops_instead_of_piling_up(peer: FakePeer) -> None:
    peer.delay = 0.3
    notifier = Notifier(telegram(peer, max_pending=2))
    for _ in range(5):
        notifier.notify(NOTE)
    assert notifier.stats["telegram"].dropped == 3
    assert await notifier.drain(5)
    assert notifier.stats["telegram"].sent == 2
    await notifier.aclose()


def test_notify_without_a_loop_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier(NotifyConfig(webhook=WebhookConfig(url="http://127.0.0.1:9/x")))
    notifier.notify(NOTE)  # no running loop: logged, not raised
    assert "could not queue" in caplog.text


async def test_engine_stop_drains_pending_sends(peer: FakePeer, tmp_path: Any) -> None:
    """Engine.stop waits for the notifier (a slow peer still gets its message)."""
    from clawtui.config import EngineConfig, HostConfig, Settings
    from clawtui.engine.core import Engine

    peer.delay = 0.3
    settings = Settings(
        engine=EngineConfig(state_dir=tmp_path),
        hosts=[HostConfig(name="nowhere", url="unix:///nonexistent.sock")],
        notify=telegram(peer, drain_timeout=5.0),
    )
    engine = Engine(settings)
    await engine.start()
    engine.notifier.notify(NOTE)
    stop: Awaitable[None] = engine.stop()
    await stop
    assert engine.notifier.stats["telegram"].sent == 1
