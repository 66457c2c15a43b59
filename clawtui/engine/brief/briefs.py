"""The morning brief (seed 001 §7.3): one message a day, only when something needs the human.

Built at `[brief] time` in `[brief] timezone` (07:00 UTC by default) in the seed's format:

    ☀️ Morning Brief — 2026-11-23

    NEEDS YOU (2):
      [✅ Approve] [❌ Skip]  #12 peter: deploy machinemachine-api v2.1 → set fqdn manually
    HAPPENING:
      peter → TopoDIM blog post 3
    SHIPPED YESTERDAY:
      • incident resolved: disk /var on staging
    BLOCKED:
      • staging: disk /var 91% used → add log rotation [fix]
    Fleet: m2 🟢 | peter 🔴

Fleet lists the agents (threads) by heartbeat liveness: 🟢 alive, 🟡 degraded (missed beats),
🔴 dead or never beaten.
NEEDS YOU lists escalations undecided for `[escalations] brief_after` (4 h); BLOCKED lists open
incidents with their recommended fix; SHIPPED YESTERDAY lists the threads' daily reports (their
sections of the master knowledge base's active-projects.md updated that day), escalations
resolved and incidents resolved during the previous day (in the brief's zone). If NEEDS YOU and
BLOCKED are both empty the brief is kept in the store but not sent (silence = all clear).

Stored in the `briefs` table (one row per day); `EventKind.BRIEF` with data `{"brief": Brief}`.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from clawtui.engine.api.escalations import Brief, NeedsYou, Status
from clawtui.engine.api.models import EventKind
from clawtui.engine.brief import store as brief_store
from clawtui.engine.brief.telegram import TelegramInbox, brief_buttons
from clawtui.engine.kb import knowledge as kbmod
from clawtui.engine.notifier import Notification
from clawtui.engine.tasks import BackgroundTask

if TYPE_CHECKING:
    from clawtui.engine.context import Context
    from clawtui.engine.escalations.incidents import Incidents
    from clawtui.engine.escalations.manager import Escalations
    from clawtui.engine.notifier import Notifier
    from clawtui.engine.stuck.detector import ActivityProvider
    from clawtui.engine.threads.manager import Threads

log = logging.getLogger(__name__)


_LIVENESS_STATE = {"alive": "ok", "degraded": "warn", "dead": "down", "unknown": "down"}
"""Heartbeat liveness (threads) -> the Fleet line's state (🟢 / 🟡 / 🔴)."""


def _one_line(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class Briefs:
    """Builds, stores and schedules the morning brief (an engine component)."""

    def __init__(
        self,
        ctx: Context,
        *,
        escalations: Escalations,
        incidents: Incidents,
        notifier: Notifier,
        threads: Threads | None = None,
        activity: ActivityProvider | None = None,
    ) -> None:
        self.ctx = ctx
        self.escalations = escalations
        self.incidents = incidents
        self.notifier = notifier
        self.threads = threads
        self.activity = activity
        self._task = BackgroundTask("escalations:brief")
        self.telegram: TelegramInbox | None = None
        tg = ctx.settings.notify.telegram
        token = tg.resolved_token() if tg is not None else None
        if tg is not None and token and tg.updates != "off":
            self.telegram = TelegramInbox(
                tg,
                token,
                escalations,
                timeout=ctx.settings.notify.timeout,
                activity=ctx.log_activity,
                store=ctx.store,
            )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.ctx.settings.brief.timezone)

    def today(self, now: float | None = None) -> str:
        return datetime.fromtimestamp(now or time.time(), self.zone).date().isoformat()

    async def build(self, day: str | None = None, *, now: float | None = None) -> Brief:
        """The brief of `day` (default: today in the brief's zone), built from current state."""
        now = time.time() if now is None else now
        day = day or self.today(now)
        the_day = date.fromisoformat(day)
        zone = self.zone
        start = datetime.combine(the_day - timedelta(days=1), datetime.min.time(), zone)
        yesterday = (start.timestamp(), start.timestamp() + 86400)
        brief = Brief(day=day, created_at=now)
        cutoff = now - self.ctx.settings.escalations.brief_after
        for esc in await self.escalations.find(status=Status.PENDING):
            if esc.created_at <= cutoff:
                fix = f" → {esc.proposed_fix}" if esc.proposed_fix else f" → needs: {esc.need}"
                brief.needs_you.append(
                    NeedsYou(
                        escalation_id=esc.id,
                        agent=esc.agent,
                        text=_one_line(f"#{esc.id} {esc.agent}: {esc.doing}{fix}", 240),
                    )
                )
        for esc in await self.escalations.find(status=Status.RESOLVED):
            if esc.resolved_at and yesterday[0] <= esc.resolved_at < yesterday[1]:
                brief.shipped.append(_one_line(f"{esc.agent}: {esc.doing} (#{esc.id})"))
        brief.shipped += await asyncio.to_thread(self._daily_summaries, *yesterday)
        for inc in await self.incidents.find():
            if inc.open:
                fix = inc.report.recommended_fix or inc.report.immediate_action or "investigate"
                brief.blocked.append(_one_line(f"{inc.monitor}: {inc.summary} → {fix}", 240))
            elif inc.resolved_at and yesterday[0] <= inc.resolved_at < yesterday[1]:
                brief.shipped.append(_one_line(f"incident resolved: {inc.summary}"))
        if self.activity is not None:
            try:
                for act in await self.activity.activity():
                    what = act.doing or act.last_reply
                    if what:
                        brief.happening.append(_one_line(f"{act.agent} → {what}", 120))
            except Exception as exc:  # the brief goes out without HAPPENING rather than not
                log.warning("brief: thread activity unavailable: %s", exc)
        brief.fleet = self._fleet()
        return brief

    def _fleet(self) -> list[tuple[str, str]]:
        """The agents (threads) by heartbeat liveness: alive 🟢, degraded 🟡, dead or never
        beaten 🔴. Without threads, the labelled containers (running or not), as before."""
        progress = self.threads.progress() if self.threads is not None else []
        if progress:
            return [(p.name, _LIVENESS_STATE.get(p.liveness, "down")) for p in progress]
        return [
            (c.name, "ok" if c.state == "running" else "down")
            for c in self.ctx.containers()
            if c.role is not None
        ]

    def _daily_summaries(self, start: float, end: float) -> list[str]:
        """Each thread's daily report of the day, from the master's knowledge base."""
        threads = self.threads
        kb = threads.kb_dir() if threads is not None else None
        if kb is None:
            return []
        out = []
        for name, _tid, body in kbmod.reports_between(kb, start, end):
            first = next((ln.strip("-• \t") for ln in body.splitlines() if ln.strip()), "")
            if first:
                out.append(_one_line(f"{name}: {first}"))
        return out

    async def save(self, brief: Brief) -> None:
        def write(conn: sqlite3.Connection) -> None:
            with self.ctx.store.transaction():
                brief_store.save(conn, brief)

        await self.ctx.store.arun(write)

    async def get(self, day: str) -> Brief | None:
        return await self.ctx.store.arun(lambda conn: brief_store.get(conn, day))

    async def latest(self) -> Brief | None:
        return await self.ctx.store.arun(brief_store.latest)

    async def run(self, day: str | None = None, *, now: float | None = None) -> Brief:
        """Build, store, and send when something needs the human."""
        brief = await self.build(day, now=now)
        if brief.needs_human:
            brief.sent = True
            buttons = brief_buttons(brief) if self.telegram is not None else ()
            self.notifier.notify(
                Notification(
                    kind="brief", text=brief.text(), data={"day": brief.day}, buttons=buttons
                )
            )
            self.ctx.log_activity("info", f"morning brief {brief.day} sent")
        else:
            self.ctx.log_activity("info", f"morning brief {brief.day}: all clear, not sent")
        await self.save(brief)
        self.ctx.bus.publish(EventKind.BRIEF, brief=brief)
        return brief

    def next_run(self, now: float) -> float:
        """Epoch seconds of the next `[brief] time` after `now`."""
        hour, minute = self.ctx.settings.brief.hour_minute()
        local = datetime.fromtimestamp(now, self.zone)
        at = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if at.timestamp() <= now:
            at = datetime.combine(
                local.date() + timedelta(days=1), at.timetz().replace(tzinfo=None), self.zone
            )
        return at.timestamp()

    async def start(self) -> None:
        if self.ctx.settings.brief.enabled:
            self._task.start(self._loop())
        if self.telegram is not None:
            await self.telegram.start()

    async def stop(self) -> None:
        await self._task.stop()
        if self.telegram is not None:
            await self.telegram.stop()

    @staticmethod
    async def _sleep_until(due: float) -> None:
        for _ in range(10_000):  # at most ~1 week in 60 s steps
            left = due - time.time()
            if left <= 0:
                return
            await asyncio.sleep(min(left, 60.0))

    async def _loop(self) -> None:
        while True:
            due = self.next_run(time.time())
            # Sleep in short steps so a wall-clock jump (suspend, NTP) is noticed.
            await self._sleep_until(due)
            day = self.today(due + 1)
            try:
                if await self.get(day) is None:
                    await self.run(day)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("building the morning brief failed")
