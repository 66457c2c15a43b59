"""Autoheal on real files: an invalid key is dropped, 21 repairs keep 20 backups, a broken file
is restored from the newest valid backup, and one that cannot be repaired escalates."""

from __future__ import annotations

import asyncio
import json
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from clawtui.config import EngineConfig, Settings
from clawtui.config.escalations import AutohealConfig, AutohealFile
from clawtui.engine.api.escalations import Source, Status
from clawtui.engine.api.models import EventKind
from clawtui.engine.core import Engine

GOOD = {"gateway": {"port": 18789}, "agents": {"list": ["m2"]}}


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[Engine, AutohealFile]]:
    cfg_file = tmp_path / "openclaw.json"
    entry = AutohealFile(path=cfg_file, agent="peter", allowed_keys=["gateway", "agents"])
    settings = Settings(
        engine=EngineConfig(state_dir=tmp_path / "state"),
        autoheal=AutohealConfig(files=[entry], interval=0.05),
    )
    engine = Engine(settings)
    await asyncio.to_thread(engine.store.open)
    yield engine, entry
    await engine.notifier.aclose()
    await asyncio.to_thread(engine.store.close)


async def test_invalid_key_is_dropped(setup: tuple[Engine, AutohealFile]) -> None:
    engine, entry = setup
    sub = engine.subscribe([EventKind.INCIDENT])
    entry.path.write_text(json.dumps({**GOOD, "meta": {"generated": True}, "colour": "red"}))
    outcome = await engine.autoheal.check(entry)
    assert outcome.ok and outcome.action == "dropped_keys"
    assert sorted(outcome.dropped) == ["colour", "meta"]
    assert json.loads(entry.path.read_text()) == GOOD
    backups = engine.autoheal.backups(entry)
    assert len(backups) == 1 and "meta" in backups[0].read_text()
    assert backups[0].name.startswith("openclaw.json.backup.")
    event = sub.get_nowait()
    assert event.data["change"] == "autoheal" and event.data["autoheal"].action == "dropped_keys"
    again = await engine.autoheal.check(entry)
    assert again.action == "healthy"
    assert len(engine.autoheal.backups(entry)) == 1


async def test_21_repairs_keep_20_backups(setup: tuple[Engine, AutohealFile]) -> None:
    engine, entry = setup
    for n in range(21):
        entry.path.write_text(json.dumps({**GOOD, "meta": {"n": n}}))
        assert (await engine.autoheal.check(entry)).action == "dropped_keys"
    backups = engine.autoheal.backups(entry)
    assert len(backups) == 20
    kept = sorted(json.loads(b.read_text())["meta"]["n"] for b in backups)
    assert kept == list(range(1, 21))  # the oldest one was pruned


async def test_broken_file_restored_from_newest_valid_backup(
    setup: tuple[Engine, AutohealFile],
) -> None:
    engine, entry = setup
    entry.path.write_text(json.dumps({**GOOD, "meta": 1}))
    await engine.autoheal.check(entry)  # backup holds the invalid 'meta' version
    good_backup = engine.autoheal.backup_dir(entry) / "openclaw.json.backup.20260101-000000-000000"
    good_backup.write_text(json.dumps(GOOD))
    entry.path.write_text('{"gateway": {"port": 18789},')  # cut short: does not parse
    outcome = await engine.autoheal.check(entry)
    assert outcome.ok and outcome.action == "restored"
    assert outcome.restored_from == str(good_backup)
    assert json.loads(entry.path.read_text()) == GOOD


async def test_unrepairable_config_escalates(setup: tuple[Engine, AutohealFile]) -> None:
    engine, entry = setup
    entry.path.write_text("{not json at all")
    outcome = await engine.autoheal.check(entry)
    assert not outcome.ok and outcome.action == "failed"
    assert "no valid backup to restore" in outcome.problems
    assert entry.path.read_text() == "{not json at all"  # left as it was, backed up
    pending = await engine.escalations.find(status=Status.PENDING)
    assert len(pending) == 1
    esc = pending[0]
    assert esc.source is Source.AUTOHEAL and esc.agent == "peter"
    assert "does not parse as JSON" in (esc.detail or "")
    # Checked again: still one escalation (dedupe), then fixed by hand: resolved.
    await engine.autoheal.check(entry)
    assert len(await engine.escalations.find(status=Status.PENDING)) == 1
    entry.path.write_text(json.dumps(GOOD))
    assert (await engine.autoheal.check(entry)).action == "healthy"
    assert await engine.escalations.find(status=Status.PENDING) == []


async def test_toml_config_and_the_interval_loop(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text('name = "m2"\n[meta]\nstale = true\n')
    settings = Settings(
        engine=EngineConfig(state_dir=tmp_path / "state"),
        autoheal=AutohealConfig(files=[AutohealFile(path=path)], interval=0.05),
    )
    engine = Engine(settings)
    await engine.start()
    try:
        for _ in range(200):
            if "meta" not in tomllib.loads(path.read_text()):
                break
            await asyncio.sleep(0.05)
        assert tomllib.loads(path.read_text()) == {"name": "m2"}
    finally:
        await engine.stop()


async def test_a_deeply_nested_file_is_checked_on_its_own(tmp_path: Path) -> None:
    """JSON and TOML nested past the recursion limit among good files (issue 20, item 6): each
    file gets its outcome; the deep JSON (no backup) escalates, the deep TOML is restored from
    its valid backup, and the file after them is still repaired."""
    deep_json = tmp_path / "deep.json"
    deep_json.write_text("[" * 100_000 + "]" * 100_000)
    deep_toml = tmp_path / "deep.toml"
    deep_toml.write_text("a = " + "[" * 100_000 + "]" * 100_000 + "\n")
    good = tmp_path / "good.json"
    good.write_text(json.dumps(GOOD))
    last = tmp_path / "last.json"
    last.write_text(json.dumps({**GOOD, "colour": "red"}))
    entries = [
        AutohealFile(path=p, agent=p.stem, allowed_keys=["gateway", "agents", "a"])
        for p in (good, deep_json, deep_toml, last)
    ]
    settings = Settings(
        engine=EngineConfig(state_dir=tmp_path / "state"),
        autoheal=AutohealConfig(files=entries, interval=60),
    )
    engine = Engine(settings)
    await asyncio.to_thread(engine.store.open)
    try:
        backup = engine.autoheal.backup_dir(entries[2]) / "deep.toml.backup.20260101-000000-000000"
        backup.parent.mkdir(parents=True, exist_ok=True)
        backup.write_text("a = [[1]]\n")
        outcomes = await engine.autoheal.check_all()
        assert [(o.path, o.action) for o in outcomes] == [
            (str(good), "healthy"),
            (str(deep_json), "failed"),
            (str(deep_toml), "restored"),
            (str(last), "dropped_keys"),
        ]
        assert any("nested too deeply" in p for p in outcomes[1].problems), outcomes[1]
        assert any("nested too deeply" in p for p in outcomes[2].problems), outcomes[2]
        assert tomllib.loads(deep_toml.read_text()) == {"a": [[1]]}
        assert json.loads(last.read_text()) == GOOD
        pending = await engine.escalations.find(status=Status.PENDING)
        assert [(e.source, e.agent) for e in pending] == [(Source.AUTOHEAL, "deep")]
        assert "nested too deeply" in (pending[0].detail or "")
    finally:
        await engine.notifier.aclose()
        await asyncio.to_thread(engine.store.close)


def test_config_check_reports_autoheal_entries_naming_unknown_monitors(tmp_path: Path) -> None:
    """`[[autoheal.hosts]]` must name a `[[monitors]]` entry with an SSH host, and
    `[[autoheal.containers]] host` a `[[hosts]]` entry: `clawtui config check` says which."""
    from clawtui.config import check_config

    config = tmp_path / "config.toml"
    config.write_text(
        '[[monitors]]\nname = "staging"\nhost = "staging.example.com"\n'
        '[[monitors]]\nname = "page"\nstatus_url = "https://status.example.com/"\n'
        '[[autoheal.hosts]]\nmonitor = "staging"\nfiles = ["/etc/agent/config.toml"]\n'
        'gateway_process = "openclaw"\nrestart_command = ["systemctl", "restart", "gw"]\n'
        '[[autoheal.hosts]]\nmonitor = "nowhere"\n'
        '[[autoheal.hosts]]\nmonitor = "page"\n'
        '[[autoheal.containers]]\ncontainer = "peter"\nhost = "far"\n'
    )
    issues = [str(i) for i in check_config(config, state_file=tmp_path / "none.toml")]
    text = "\n".join(issues)
    assert "autoheal.hosts[1]: unknown monitor 'nowhere' (known: page, staging)" in text
    assert "autoheal.hosts[2]: monitor 'page' has no SSH host" in text
    assert "autoheal.containers[0] (peter): unknown host 'far'" in text
    assert "autoheal.hosts[0]" not in text

    config.write_text(
        '[[monitors]]\nname = "staging"\nhost = "staging.example.com"\n'
        '[[autoheal.hosts]]\nmonitor = "staging"\nfiles = ["relative/config.toml"]\n'
        "restart_command = []\n"
    )
    text = "\n".join(str(i) for i in check_config(config, state_file=tmp_path / "none.toml"))
    assert "autoheal.hosts[0].files" in text and "expected an absolute file path" in text
    assert "autoheal.hosts[0].restart_command" in text
