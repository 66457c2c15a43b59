"""The morning brief on a fixture day (real store in tmp_path, real queue files), with and
without something that needs the human; the schedule in a configured zone."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from clawtui.config import EngineConfig, Settings
from clawtui.config.escalations import BriefConfig
from clawtui.engine.api.escalations import NewEscalation, Report
from clawtui.engine.core import Engine
from clawtui.engine.threads.queue import OutgoingMessage

DAY = "2026-11-23"
NOW = datetime(2026, 11, 23, 7, 0, tzinfo=UTC).timestamp()
HOUR = 3600.0


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    eng = Engine(Settings(engine=EngineConfig(state_dir=tmp_path)))
    await asyncio.to_thread(eng.store.open)
    yield eng
    await eng.notifier.aclose()
    await asyncio.to_thread(eng.store.close)


async def _set(engine: Engine, sql: str, *args: object) -> None:
    def run(conn: sqlite3.Connection) -> None:
        with engine.store.transaction():
            conn.execute(sql, args)

    await engine.store.arun(run)


async def _fixture_day(engine: Engine, *, pending_old: bool) -> None:
    esc = engine.escalations
    if pending_old:
        old = await esc.raise_(
            NewEscalation(
                agent="peter",
                doing="deploy machinemachine-api v2.1",
                need="fqdn set",
                proposed_fix="set fqdn in Coolify",
            )
        )
        await _set(
            engine, "UPDATE escalations SET created_at = ? WHERE id = ?", NOW - 5 * HOUR, old.id
        )
    fresh = await esc.raise_(NewEscalation(agent="maya", doing="spawn", need="approval"))
    await _set(engine, "UPDATE escalations SET created_at = ? WHERE id = ?", NOW - HOUR, fresh.id)
    shipped = await esc.raise_(NewEscalation(agent="m2", doing="destroy command", need="review"))
    await esc.resolve(shipped.id)
    await _set(
        engine, "UPDATE escalations SET resolved_at = ? WHERE id = ?", NOW - 10 * HOUR, shipped.id
    )
    older = await esc.raise_(NewEscalation(agent="m2", doing="ancient work", need="x"))
    await esc.resolve(older.id)
    await _set(
        engine, "UPDATE escalations SET resolved_at = ? WHERE id = ?", NOW - 40 * HOUR, older.id
    )
    inc = await engine.incidents.anomaly("staging", "disk:/var", Report(summary="disk /var 85%"))
    await engine.incidents.healthy("staging")
    await _set(engine, "UPDATE incidents SET resolved_at = ? WHERE id = ?", NOW - 12 * HOUR, inc.id)
    engine.queue.ensure()
    engine.queue.write(
        "outgoing",
        OutgoingMessage(
            channel="telegram",
            threadId=4,
            sender="peter",
            message="TopoDIM blog post 3",
            timestamp=int((NOW - HOUR) * 1000),
        ),
    )


async def test_brief_with_pending_items(engine: Engine) -> None:
    await _fixture_day(engine, pending_old=True)
    await engine.incidents.anomaly(
        "build-agent",
        "disk:/",
        Report(summary="disk / 92% used", recommended_fix="prune old build dirs nightly"),
    )
    sent_before = engine.notifier.stats["log"].sent
    brief = await engine.briefs.run(DAY, now=NOW)
    assert brief.sent and brief.needs_human
    assert engine.notifier.stats["log"].sent == sent_before + 1
    assert [n.agent for n in brief.needs_you] == ["peter"]  # maya's is < 4 h old
    text = brief.text()
    assert text.startswith(f"☀️ Morning Brief — {DAY}\n")
    assert "NEEDS YOU (1):\n  [✅ Approve] [❌ Skip]  #1 peter: deploy machinemachine-api" in text
    assert "→ set fqdn in Coolify" in text
    assert "HAPPENING:\n  peter → TopoDIM blog post 3" in text
    assert "SHIPPED YESTERDAY:" in text and "m2: destroy command" in text
    assert "incident resolved: disk /var 85%" in text
    assert "ancient work" not in text  # resolved two days ago
    assert "BLOCKED:\n  • build-agent: disk / 92% used → prune old build dirs nightly" in text
    assert text.index("NEEDS YOU") < text.index("HAPPENING") < text.index("SHIPPED")
    assert text.index("SHIPPED") < text.index("BLOCKED") < text.index("Fleet:")
    kept = await engine.briefs.get(DAY)
    assert kept is not None and kept.text() == text and kept.sent


async def test_no_brief_when_nothing_needs_the_human(engine: Engine) -> None:
    await _fixture_day(engine, pending_old=False)
    sent_before = engine.notifier.stats["log"].sent
    brief = await engine.briefs.run(DAY, now=NOW)
    assert not brief.needs_human and not brief.sent
    assert engine.notifier.stats["log"].sent == sent_before  # silence = all clear
    assert "NEEDS YOU" not in brief.text() and "BLOCKED" not in brief.text()
    assert "SHIPPED YESTERDAY" in brief.text()
    kept = await engine.briefs.get(DAY)
    assert kept is not None and not kept.sent
    assert await engine.briefs.get("2026-11-22") is None


async def test_next_run_in_zone(tmp_path: Path) -> None:
    settings = Settings(
        engine=EngineConfig(state_dir=tmp_path),
        brief=BriefConfig(time="07:30", timezone="Europe/Brussels"),
    )
    briefs = Engine(settings).briefs
    before = datetime(2026, 11, 23, 5, 0, tzinfo=UTC).timestamp()  # 06:00 in Brussels
    assert briefs.next_run(before) == datetime(2026, 11, 23, 6, 30, tzinfo=UTC).timestamp()
    after = datetime(2026, 11, 23, 7, 0, tzinfo=UTC).timestamp()
    assert briefs.next_run(after) == datetime(2026, 11, 24, 6, 30, tzinfo=UTC).timestamp()


def test_brief_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="time of day"):
        BriefConfig(time="7am")
    with pytest.raises(ValueError, match="unknown time zone"):
        BriefConfig(timezone="Mars/Olympus")


async def test_shipped_yesterday_has_the_threads_daily_reports(tmp_path: Path) -> None:
    """Daily reports recorded in the master knowledge base (a real git repo) the day before show
    in SHIPPED YESTERDAY; older ones and other sections do not."""
    from clawtui.config.threads import ThreadsConfig
    from clawtui.engine.kb import knowledge as kbmod

    kb = tmp_path / "kb"
    await kbmod.init(kb)
    await kbmod.record_report(
        kb, 4, "peter", "- merged the [bold]fqdn[/] fix\n- blog post 3", NOW - 8 * HOUR
    )
    await kbmod.record_report(kb, 5, "maya", "spawned two workers", NOW - 40 * HOUR)
    eng = Engine(
        Settings(engine=EngineConfig(state_dir=tmp_path / "s"), threads=ThreadsConfig(kb_dir=kb))
    )
    await asyncio.to_thread(eng.store.open)
    try:
        text = (await eng.briefs.build(DAY, now=NOW)).text()
    finally:
        await eng.notifier.aclose()
        await asyncio.to_thread(eng.store.close)
    assert "SHIPPED YESTERDAY:\n  • peter: merged the [bold]fqdn[/] fix" in text
    assert "maya" not in text  # reported two days ago


async def test_fleet_line_lists_threads_by_heartbeat_liveness(tmp_path: Path) -> None:
    """Fleet: one entry per thread from its HEARTBEAT.md quick stamp (8 min interval): alive
    🟢, 3+ missed beats 🟡, 6+ missed 🔴, never beaten 🔴; labelled containers are not listed."""
    import time

    from clawtui.config.threads import ThreadEntry, ThreadsConfig
    from clawtui.engine.api.models import ContainerInfo
    from clawtui.engine.heartbeats import md as hb

    now = time.time()
    ages = {"alive": 60.0, "slow": 4.5 * 480, "gone": 20 * 480}
    entries = []
    for i, (name, age) in enumerate(ages.items(), start=2):
        cwd = tmp_path / name
        cwd.mkdir()
        when = datetime.fromtimestamp(now - age, UTC)
        hb.write(cwd / "HEARTBEAT.md", hb.set_timestamps(hb.parse(hb.TEMPLATE), {"quick": when}))
        entries.append(ThreadEntry(id=i, name=name, cwd=cwd))
    entries.append(ThreadEntry(id=9, name="never", cwd=tmp_path / "nothing-here"))
    settings = Settings(
        engine=EngineConfig(state_dir=tmp_path / "state"),
        threads=ThreadsConfig(home=tmp_path / "home", threads=entries, heartbeat=False),
    )
    eng = Engine(settings)
    await asyncio.to_thread(eng.store.open)
    try:
        eng.threads.scan()
        eng.monitors["local"].containers["c1"] = ContainerInfo(
            id="c1", host="local", name="labelled-box", image="x", state="running",
            labels={"clawtui.role": "devbox"},
        )  # fmt: skip
        brief = await eng.briefs.build(DAY, now=NOW)
        assert brief.fleet == [
            ("alive", "ok"), ("slow", "warn"), ("gone", "down"), ("never", "down")
        ]  # fmt: skip
        assert "Fleet: alive 🟢 | slow 🟡 | gone 🔴 | never 🔴" in brief.text()
        assert "labelled-box" not in brief.text()
    finally:
        await eng.notifier.aclose()
        await asyncio.to_thread(eng.store.close)
