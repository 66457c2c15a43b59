"""Brief buttons over the Telegram Bot API, against a LOCAL STAND-IN of the Bot API.

`StandInBotAPI` is not Telegram: it is an aiohttp server on 127.0.0.1 that follows the documented
request and response shapes of https://core.telegram.org/bots/api for the three methods used:
`POST /bot<token>/<method>` with a JSON body, answered `{"ok": true, "result": ...}` (or
`{"ok": false, "error_code", "description"}`); `sendMessage` (chat_id, text, reply_markup with
`inline_keyboard` buttons of `text` + `callback_data` of at most 64 bytes, or `force_reply`)
returns a Message; `getUpdates` (offset, timeout: long polling; updates below `offset` are
confirmed and never returned again) returns a list of Update; `answerCallbackQuery`
(callback_query_id, text, show_alert) returns true.

The real engine runs its getUpdates loop (and, in the second test, its webhook route) against it:
a press is applied once, a duplicate update and a second press answer "already decided", a
press from another chat is refused, Modify asks with ForceReply and applies the reply.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from clawtui.config import TelegramConfig
from clawtui.config.notify import NotifyConfig
from clawtui.engine.api.escalations import NewEscalation, Status
from clawtui.engine.api.models import EventKind
from clawtui.engine.brief.telegram import TelegramInbox
from clawtui.engine.core import Engine
from tests.integration.engine_helpers import make_settings, wait_for_event

pytestmark = pytest.mark.integration

TOKEN = "123456:stand-in-token"
CHAT = -1001234
OTHER_CHAT = 555


class StandInBotAPI:
    """A stand-in for the Telegram Bot API (see the module docstring)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.answers: list[dict[str, Any]] = []
        self.offsets: list[int | None] = []
        self.pending: list[dict[str, Any]] = []
        self.changed = asyncio.Condition()
        self._next_message_id = 100
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    @staticmethod
    def error(code: int, description: str) -> web.Response:
        return web.json_response(
            {"ok": False, "error_code": code, "description": description}, status=code
        )

    async def push(self, *updates: dict[str, Any]) -> None:
        async with self.changed:
            self.pending += updates
            self.changed.notify_all()

    async def wait(self, what: str, count: int, timeout: float = 15.0) -> None:
        async def ready() -> None:
            async with self.changed:
                await self.changed.wait_for(lambda: len(getattr(self, what)) >= count)

        await asyncio.wait_for(ready(), timeout)

    async def wait_offset(self, offset: int, timeout: float = 15.0) -> None:
        async def ready() -> None:
            async with self.changed:
                await self.changed.wait_for(lambda: offset in self.offsets)

        await asyncio.wait_for(ready(), timeout)

    async def handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != TOKEN:
            return self.error(401, "Unauthorized")
        body = await request.json()
        method = request.match_info["method"]
        if method == "sendMessage":
            if "chat_id" not in body or not isinstance(body.get("text"), str):
                return self.error(400, "Bad Request: message text is empty")
            for row in body.get("reply_markup", {}).get("inline_keyboard", []):
                for button in row:
                    data = button["callback_data"]
                    assert isinstance(button["text"], str) and len(data.encode()) <= 64
            self._next_message_id += 1
            message = {
                "message_id": self._next_message_id,
                "date": 1,
                "chat": {"id": body["chat_id"], "type": "supergroup"},
                "text": body["text"],
            }
            async with self.changed:
                self.sent.append({**body, "result": message})
                self.changed.notify_all()
            return web.json_response({"ok": True, "result": message})
        if method == "getUpdates":
            offset = body.get("offset")
            timeout = float(body.get("timeout", 0))
            async with self.changed:
                self.offsets.append(offset)
                if offset is not None:  # confirmed: never returned again
                    self.pending = [u for u in self.pending if u["update_id"] >= offset]
                    self.changed.notify_all()
                with_timeout = asyncio.wait_for(
                    self.changed.wait_for(lambda: bool(self.pending)), timeout
                )
                with contextlib.suppress(TimeoutError):
                    await with_timeout
                result = list(self.pending)
            return web.json_response({"ok": True, "result": result})
        if method == "answerCallbackQuery":
            async with self.changed:
                self.answers.append(body)
                self.changed.notify_all()
            return web.json_response({"ok": True, "result": True})
        return self.error(404, "Not Found: method not found")


def press(update_id: int, data: str, *, chat: int = CHAT, user: str = "alice") -> dict[str, Any]:
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"cq{update_id}",
            "from": {"id": 7, "is_bot": False, "first_name": user, "username": user},
            "message": {"message_id": 101, "date": 1, "chat": {"id": chat, "type": "supergroup"}},
            "chat_instance": "ci",
            "data": data,
        },
    }


@pytest.fixture
async def bot() -> Any:
    api = StandInBotAPI()
    await api.start()
    yield api
    await api.stop()


def settings_for(tmp_path: Path, bot: StandInBotAPI, **telegram: Any) -> Any:
    settings = make_settings(tmp_path / "state")
    settings.notify = NotifyConfig(
        telegram=TelegramConfig(
            bot_token=TOKEN, chat_id=CHAT, api_base=bot.url, poll_timeout=1, **telegram
        ),
        backoff=0.01,
    )
    settings.brief.enabled = False  # built by the test, not at 07:00
    return settings


async def test_brief_buttons_polling(tmp_path: Path, bot: StandInBotAPI) -> None:
    engine = Engine(settings_for(tmp_path, bot))
    sub = engine.subscribe([EventKind.ESCALATION])
    await engine.start()
    try:
        esc = engine.escalations
        a = await esc.raise_(NewEscalation(agent="peter", doing="deploy v2", need="fqdn"))
        b = await esc.raise_(NewEscalation(agent="maya", doing="spawn", need="approval"))
        brief = await engine.briefs.run(now=a.created_at + 5 * 3600)
        assert [n.escalation_id for n in brief.needs_you] == [a.id, b.id]
        await bot.wait("sent", 1)
        keyboard = bot.sent[0]["reply_markup"]["inline_keyboard"]
        assert [[k["callback_data"] for k in row] for row in keyboard] == [
            [f"esc:{i}:approve", f"esc:{i}:skip", f"esc:{i}:modify"] for i in (a.id, b.id)
        ]
        assert bot.sent[0]["chat_id"] == CHAT and "NEEDS YOU (2)" in bot.sent[0]["text"]

        # a press, the same update again, a second press, a press from another chat
        first = press(1, f"esc:{a.id}:approve")
        await bot.push(
            first, first, press(2, f"esc:{a.id}:skip", user="carol"),
            press(3, f"esc:{b.id}:approve", chat=OTHER_CHAT),
        )  # fmt: skip
        await bot.wait("answers", 3)
        by_id = {x["callback_query_id"]: x for x in bot.answers}
        assert len(bot.answers) == 3  # the duplicate update is not answered twice
        assert by_id["cq1"]["text"] == f"Approved #{a.id}."
        assert by_id["cq2"]["text"] == (
            f"Already decided: #{a.id} is approved (by telegram:@alice)."
        )
        assert by_id["cq3"]["show_alert"] is True and "cannot decide" in by_id["cq3"]["text"]
        decided = await esc.get(a.id)
        assert decided is not None and decided.status is Status.APPROVED
        assert decided.decided_by == "telegram:@alice"
        still = await esc.get(b.id)
        assert still is not None and still.status is Status.PENDING
        changes = []
        while (event := sub.get_nowait()) is not None:
            changes.append((event.data["escalation"].id, event.data["change"]))
        assert changes.count((a.id, "decided")) == 1 and (b.id, "decided") not in changes

        # Modify: ForceReply prompt, then the reply's text is applied
        await bot.push(press(4, f"esc:{b.id}:modify", user="bob"))
        await bot.wait("sent", 2)
        prompt = bot.sent[1]
        assert prompt["reply_markup"]["force_reply"] is True and f"#{b.id}" in prompt["text"]
        await bot.wait("answers", 4)
        await bot.wait_offset(5)  # engine 1 confirmed update 4 before it stops
    finally:
        await engine.stop()

    # the engine restarts between the Modify press and the reply: the prompt and the
    # getUpdates offset come back from the store
    before_restart = len(bot.offsets)
    engine = Engine(settings_for(tmp_path, bot))
    sub = engine.subscribe([EventKind.ESCALATION])
    await engine.start()
    try:
        reply = {
            "update_id": 5,
            "message": {
                "message_id": 500,
                "date": 2,
                "chat": {"id": CHAT, "type": "supergroup"},
                "from": {"id": 8, "is_bot": False, "first_name": "bob", "username": "bob"},
                "text": "spawn with the small plan",
                "reply_to_message": prompt["result"],
            },
        }
        await bot.push(reply)
        await wait_for_event(
            sub, lambda e: e.data["escalation"].id == b.id and e.data["change"] == "decided", 15
        )
        modified = await engine.escalations.get(b.id)
        assert modified is not None and modified.status is Status.MODIFIED
        assert modified.decision == "spawn with the small plan"
        assert modified.decided_by == "telegram:@bob"
        await bot.wait("sent", 3)
        assert bot.sent[2]["text"] == f"Modified #{b.id}."
        assert bot.offsets[before_restart] == 5  # not None: the offset was kept
        # offsets confirm what was handled: never going back, never past the last update + 1
        seen = [o for o in bot.offsets if o is not None]
        assert seen == sorted(seen) and max(seen) <= 6
    finally:
        await engine.stop()


async def test_webhook_route_checks_the_secret(
    tmp_path: Path, bot: StandInBotAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TG_HOOK_SECRET", "s3cret-hook")
    settings = settings_for(
        tmp_path,
        bot,
        updates="webhook",
        webhook_listen="127.0.0.1:0",
        webhook_secret_env="TG_HOOK_SECRET",
    )
    engine = Engine(settings)
    await engine.start()
    try:
        inbox = engine.briefs.telegram
        assert isinstance(inbox, TelegramInbox) and inbox.webhook_port
        url = f"http://127.0.0.1:{inbox.webhook_port}/telegram"
        a = await engine.escalations.raise_(NewEscalation(agent="p", doing="d", need="n"))
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json=press(10, f"esc:{a.id}:skip")) as resp:
                assert resp.status == 401
            hdr = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-hook"}
            async with http.post(url, json=press(10, f"esc:{a.id}:skip"), headers=hdr) as resp:
                assert resp.status == 200 and (await resp.json())["outcome"] == "decided"
            async with http.post(url, json=press(10, f"esc:{a.id}:skip"), headers=hdr) as resp:
                assert (await resp.json())["outcome"] == "duplicate"
            async with http.post(url, json={"update_id": "x"}, headers=hdr) as resp:
                assert resp.status == 400
        skipped = await engine.escalations.get(a.id)
        assert skipped is not None and skipped.status is Status.SKIPPED
        assert [x["callback_query_id"] for x in bot.answers] == ["cq10"]
    finally:
        await engine.stop()


def test_webhook_mode_needs_a_secret() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="webhook_secret_env"):
        TelegramConfig(bot_token=TOKEN, chat_id=CHAT, updates="webhook")


def test_button_rows_fit_telegrams_keyboard_limit() -> None:
    from clawtui.engine.api.escalations import Brief, NeedsYou
    from clawtui.engine.brief.telegram import brief_buttons

    brief = Brief(
        day="2026-11-23",
        needs_you=[NeedsYou(escalation_id=i, agent="a", text="t") for i in range(1, 41)],
    )
    rows = brief_buttons(brief)
    assert len(rows) == 30 and sum(len(r) for r in rows) <= 100
    assert rows[0] == (
        ("✅ Approve #1", "esc:1:approve"), ("❌ Skip #1", "esc:1:skip"),
        ("✏️ Modify #1", "esc:1:modify"),
    )  # fmt: skip
