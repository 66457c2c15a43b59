"""Buttons on the brief (seed 001 §7.3: "All decisions have inline buttons"), over the Bot API.

When `[notify.telegram]` is set and `updates` is not "off", the brief's Telegram message carries
one row of inline buttons per NEEDS YOU item (✅ Approve / ❌ Skip / ✏️ Modify, `callback_data`
`esc:<id>:<action>`). Presses reach `TelegramInbox` by `getUpdates` long polling (default) or,
with `updates = "webhook"`, by Telegram POSTing each Update to `webhook_listen` (checked against
`X-Telegram-Bot-Api-Secret-Token`). For each press the inbox:

* refuses it unless it comes from the configured chat (`chat_id`, or `@name` of a channel);
* applies the decision through `Escalations.decide`, whose stored-state check makes it happen
  exactly once: a second press (or a re-delivered update, also dropped by `update_id`) is
  answered "already decided";
* answers the callback (`answerCallbackQuery`) in every case, so the button stops spinning;
* for Modify, asks for the new text with a `ForceReply` message and applies the text of the
  reply to that message (from the same chat).

Updates are untrusted input: validated with pydantic; anything unexpected is skipped and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import re
import sqlite3
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from clawtui.engine.api.escalations import Action, Brief, Decision, EscalationError
from clawtui.engine.brief import store as telegram_store

if TYPE_CHECKING:
    import aiohttp
    from aiohttp import web

    from clawtui.config import TelegramConfig
    from clawtui.engine.escalations.manager import Escalations
    from clawtui.engine.store import Store

log = logging.getLogger("clawtui.telegram")

CALLBACK_RE: Final = re.compile(r"^esc:(?P<id>\d{1,12}):(?P<action>approve|skip|modify)$")
_LABELS: Final = {"approve": "✅ Approve", "skip": "❌ Skip", "modify": "✏️ Modify"}
_DONE: Final = {"approve": "Approved", "skip": "Skipped", "modify": "Modified"}
_SEEN: Final = 2048


MAX_BUTTON_ROWS: Final = 30
"""Rows of buttons on one brief (Telegram takes at most 100 buttons per keyboard)."""


def brief_buttons(brief: Brief) -> tuple[tuple[tuple[str, str], ...], ...]:
    """One row (Approve / Skip / Modify) per NEEDS YOU item, labelled with its number (the
    first `MAX_BUTTON_ROWS` items; the others are decided in the TUI, CLI or API)."""
    return tuple(
        tuple(
            (f"{_LABELS[a]} #{n.escalation_id}", f"esc:{n.escalation_id}:{a}")
            for a in ("approve", "skip", "modify")
        )
        for n in brief.needs_you[:MAX_BUTTON_ROWS]
    )


# -- the Bot API's Update, as far as it is used (https://core.telegram.org/bots/api#update) ----
class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class TgChat(_Model):
    id: int
    username: str | None = None


class TgUser(_Model):
    id: int
    username: str | None = None


class TgMessage(_Model):
    message_id: int
    chat: TgChat
    from_: TgUser | None = Field(default=None, alias="from")
    text: str | None = Field(default=None, max_length=20000)
    reply_to_message: TgMessage | None = None


class TgCallbackQuery(_Model):
    id: str = Field(max_length=256)
    from_: TgUser = Field(alias="from")
    message: TgMessage | None = None
    data: str | None = Field(default=None, max_length=64)


class TgUpdate(_Model):
    update_id: int
    message: TgMessage | None = None
    callback_query: TgCallbackQuery | None = None


class TelegramError(Exception):
    """A Bot API call failed (the text never holds the token)."""


def _who(user: TgUser | None) -> str:
    if user is None:
        return "telegram"
    return f"telegram:@{user.username}" if user.username else f"telegram:{user.id}"


class TelegramInbox:
    """Receives button presses and Modify replies; applies them to escalations once."""

    def __init__(
        self,
        cfg: TelegramConfig,
        token: str,
        escalations: Escalations,
        *,
        timeout: float = 10.0,
        activity: Callable[..., None] | None = None,
        store: Store | None = None,
    ) -> None:
        self.cfg = cfg
        self._token = token
        self._base = f"{cfg.api_base}/bot{token}/"
        self.escalations = escalations
        self.timeout = timeout
        self._activity = activity
        self.store = store
        """Where Modify prompts and the getUpdates offset outlive a restart (None: memory)."""
        self._seen: deque[int] = deque(maxlen=_SEEN)
        self._modify_prompts: dict[int, int] = {}
        """message_id of a ForceReply prompt -> escalation id waiting for its new text."""
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self.handled = 0
        self.offset: int | None = None

    # -- Bot API ---------------------------------------------------------------------------
    def _redact(self, text: str) -> str:
        return text.replace(self._token, "<bot-token>")

    async def call(
        self, method: str, payload: dict[str, Any], *, timeout: float | None = None
    ) -> Any:
        """POST one Bot API method; its `result`. TelegramError when `ok` is not true."""
        import aiohttp

        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.post(
                self._base + method,
                json=payload,
                timeout=aiohttp.ClientTimeout(total=timeout or self.timeout),
            ) as resp:
                try:
                    body = await resp.json(content_type=None)
                except (ValueError, aiohttp.ContentTypeError, UnicodeDecodeError):
                    body = None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise TelegramError(
                self._redact(f"{method}: {exc.__class__.__name__}: {exc}")
            ) from None
        if not isinstance(body, dict) or body.get("ok") is not True:
            desc = body.get("description") if isinstance(body, dict) else None
            raise TelegramError(self._redact(f"{method}: HTTP {resp.status}: {desc}"[:300]))
        return body.get("result")

    async def _answer(self, query_id: str, text: str, alert: bool = False) -> None:
        with contextlib.suppress(TelegramError):
            await self.call(
                "answerCallbackQuery",
                {"callback_query_id": query_id, "text": text[:200], "show_alert": alert},
            )

    async def _send(self, text: str, **extra: Any) -> dict[str, Any] | None:
        payload: dict[str, Any] = {"chat_id": self.cfg.chat_id, "text": text[:4000], **extra}
        if self.cfg.message_thread_id is not None:
            payload["message_thread_id"] = self.cfg.message_thread_id
        try:
            result = await self.call("sendMessage", payload)
        except TelegramError as exc:
            log.warning("telegram: %s", exc)
            return None
        return result if isinstance(result, dict) else None

    # -- updates ---------------------------------------------------------------------------
    def _chat_ok(self, chat: TgChat | None) -> bool:
        if chat is None:
            return False
        want = self.cfg.chat_id
        if isinstance(want, int):
            return chat.id == want
        if want.startswith("@"):
            return (chat.username or "").lower() == want[1:].lower()
        return str(chat.id) == want

    async def handle(self, raw: Any) -> str:
        """Handle one Update (a parsed JSON value); returns what was done, in words."""
        try:
            update = TgUpdate.model_validate(raw)
        except ValidationError as exc:
            log.warning("telegram: skipped an update that is not a Bot API Update: %s", exc)
            return "invalid"
        if update.update_id in self._seen:
            return "duplicate"
        self._seen.append(update.update_id)
        self.handled += 1
        if update.callback_query is not None:
            return await self._press(update.callback_query)
        if update.message is not None:
            return await self._reply(update.message)
        return "ignored"

    async def _press(self, query: TgCallbackQuery) -> str:
        chat = query.message.chat if query.message is not None else None
        if not self._chat_ok(chat):
            await self._answer(query.id, "This chat cannot decide clawtui escalations.", True)
            self._note("warning", f"telegram: a press from chat {chat.id if chat else '?'} refused")
            return "refused"
        match = CALLBACK_RE.match(query.data or "")
        if match is None:
            await self._answer(query.id, "Unknown button.")
            return "unknown"
        esc_id, action = int(match["id"]), match["action"]
        if action == "modify":
            esc = await self.escalations.get(esc_id)
            if esc is None:
                await self._answer(query.id, f"No escalation #{esc_id}.")
                return "unknown"
            if not esc.pending:
                await self._answer(query.id, _already(esc_id, esc.status.value, esc.decided_by))
                return "already"
            sent = await self._send(
                f"New text for escalation #{esc_id} ({esc.agent}: {esc.need}): "
                "reply to this message with what to do instead.",
                reply_markup={"force_reply": True, "input_field_placeholder": "do this instead"},
            )
            if sent is None or not isinstance(sent.get("message_id"), int):
                await self._answer(query.id, "Could not ask for the text; try again.")
                return "failed"
            await self._remember_prompt(sent["message_id"], esc_id)
            await self._answer(query.id, f"Reply with the new text for #{esc_id}.")
            return "asked"
        return await self._decide(
            esc_id, Decision(action=Action(action), by=_who(query.from_)), query_id=query.id
        )

    async def _reply(self, message: TgMessage) -> str:
        parent = message.reply_to_message
        if parent is None or not await self._is_prompt(parent.message_id):
            return "ignored"
        if not self._chat_ok(message.chat):
            self._note("warning", f"telegram: a reply from chat {message.chat.id} refused")
            return "refused"
        text = (message.text or "").strip()
        if not text:
            await self._send("The new text is empty: reply again with what to do instead.")
            return "empty"
        esc_id = await self._take_prompt(parent.message_id)
        if esc_id is None:
            return "ignored"
        decision = Decision(action=Action.MODIFY, text=text[:20000], by=_who(message.from_))
        return await self._decide(esc_id, decision, query_id=None)

    async def _decide(self, esc_id: int, decision: Decision, *, query_id: str | None) -> str:
        try:
            await self.escalations.decide(esc_id, decision)
        except EscalationError as exc:
            esc = await self.escalations.get(esc_id)
            if exc.status == 409 and esc is not None:
                text, outcome = _already(esc_id, esc.status.value, esc.decided_by), "already"
            else:
                text, outcome = str(exc), "refused"
        else:
            text, outcome = f"{_DONE[decision.action.value]} #{esc_id}.", "decided"
        if query_id is not None:
            await self._answer(query_id, text)
        else:
            await self._send(text)
        return outcome

    # -- what outlives a restart ------------------------------------------------------------
    async def _remember_prompt(self, message_id: int, esc_id: int) -> None:
        if self.store is None:
            self._modify_prompts[message_id] = esc_id
            while len(self._modify_prompts) > telegram_store.MAX_PROMPTS:
                del self._modify_prompts[next(iter(self._modify_prompts))]
            return
        store = self.store

        def add(conn: sqlite3.Connection) -> None:
            with store.transaction():
                telegram_store.add_prompt(conn, message_id, esc_id)

        await store.arun(add)

    async def _is_prompt(self, message_id: int) -> bool:
        if self.store is None:
            return message_id in self._modify_prompts
        return await self.store.arun(lambda c: telegram_store.is_prompt(c, message_id))

    async def _take_prompt(self, message_id: int) -> int | None:
        if self.store is None:
            return self._modify_prompts.pop(message_id, None)
        store = self.store

        def take(conn: sqlite3.Connection) -> int | None:
            with store.transaction():
                return telegram_store.take_prompt(conn, message_id)

        return await store.arun(take)

    async def _load_offset(self) -> None:
        if self.store is not None and self.offset is None:
            self.offset = await self.store.arun(telegram_store.get_offset)

    async def _save_offset(self) -> None:
        if self.store is None or self.offset is None:
            return
        store, offset = self.store, self.offset

        def save(conn: sqlite3.Connection) -> None:
            with store.transaction():
                telegram_store.set_offset(conn, offset)

        await store.arun(save)

    def _note(self, level: str, text: str) -> None:
        log.info("%s", text)
        if self._activity is not None:
            self._activity(level, text)

    # -- long polling ----------------------------------------------------------------------
    async def poll_once(self) -> int:
        """One getUpdates call (long poll); returns how many updates came."""
        await self._load_offset()
        payload: dict[str, Any] = {
            "timeout": self.cfg.poll_timeout,
            "allowed_updates": ["message", "callback_query"],
        }
        if self.offset is not None:
            payload["offset"] = self.offset
        result = await self.call("getUpdates", payload, timeout=self.cfg.poll_timeout + 15)
        updates = result if isinstance(result, list) else []
        for raw in updates:
            try:
                await self.handle(raw)
            except Exception:  # one bad update must not stop the loop
                log.exception("telegram: handling an update failed")
            # confirmed once handled: an update cut short by a stop comes again (a decision
            # is applied once all the same: `decide` refuses a second one)
            update_id = raw.get("update_id") if isinstance(raw, dict) else None
            if isinstance(update_id, int) and not isinstance(update_id, bool):
                self.offset = max(self.offset or 0, update_id + 1)
                await self._save_offset()
        return len(updates)

    async def _poll_loop(self) -> None:
        failures = 0
        while True:
            try:
                await self.poll_once()
                failures = 0
            except asyncio.CancelledError:
                raise
            except TelegramError as exc:
                failures += 1
                log.warning("telegram: getUpdates failed (%d in a row): %s", failures, exc)
                await asyncio.sleep(min(30.0, 0.5 * 2 ** min(failures, 6)))

    # -- webhook ---------------------------------------------------------------------------
    async def _webhook(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        secret_env = self.cfg.webhook_secret_env
        secret = os.environ.get(secret_env, "") if secret_env else ""
        if secret_env:
            given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
            if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
                return web.json_response({"ok": False, "error": "bad secret token"}, status=401)
        if request.content_length is not None and request.content_length > 1 << 20:
            return web.json_response({"ok": False, "error": "too large"}, status=413)
        try:
            raw = await request.json()
        except ValueError:
            return web.json_response({"ok": False, "error": "body is not JSON"}, status=400)
        outcome = await self.handle(raw)
        status = 400 if outcome == "invalid" else 200
        return web.json_response({"ok": status == 200, "outcome": outcome}, status=status)

    async def start(self) -> None:
        if self.cfg.updates == "poll":
            self._task = asyncio.get_running_loop().create_task(
                self._poll_loop(), name="telegram:getUpdates"
            )
        elif self.cfg.updates == "webhook":
            from aiohttp import web

            app = web.Application(client_max_size=1 << 20)
            app.router.add_post("/telegram", self._webhook)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            host, _, port = self.cfg.webhook_listen.rpartition(":")
            site = web.TCPSite(self._runner, host, int(port))
            await site.start()

    @property
    def webhook_port(self) -> int | None:
        """The port the webhook listens on (useful with port 0)."""
        if self._runner is None:
            return None
        for addr in self._runner.addresses:
            if isinstance(addr, tuple):
                return int(addr[1])
        return None

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _already(esc_id: int, status: str, by: str | None) -> str:
    return f"Already decided: #{esc_id} is {status}" + (f" (by {by})." if by else ".")
