"""Escalation lifecycle through the REST API and the CLI (a real `python -m clawtui` process),
with the decision delivered to the thread's TinyClaw queue; incidents and brief routes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from clawtui.config.escalations import BriefConfig, EscalationsConfig
from clawtui.engine.api.escalations import Report, Status
from clawtui.engine.api.models import EventKind
from clawtui.engine.core import Engine
from clawtui.engine.threads.queue import IncomingMessage
from clawtui.service.runner import ServiceRunner
from tests.integration.engine_helpers import make_settings, wait_for_event

pytestmark = pytest.mark.integration

TOKEN = "t0ken-for-escalation-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROOT = Path(__file__).resolve().parents[2]


def _settings(tmp_path: Path) -> Any:
    settings = make_settings(tmp_path / "state")
    settings.escalations = EscalationsConfig(stuck_detector=False)
    settings.brief = BriefConfig(enabled=False)
    return settings


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Engine, str]]:
    engine = Engine(_settings(tmp_path))
    await engine.start()
    runner = ServiceRunner(engine, engine.settings, token=TOKEN, listen=("127.0.0.1", 0))
    await runner.start()
    try:
        yield engine, runner.url
    finally:
        await runner.stop()
        await engine.stop()


def _incoming(engine: Engine) -> list[IncomingMessage]:
    msgs = [engine.queue.read(p) for p in engine.queue.files("incoming")]
    return [m for m in msgs if isinstance(m, IncomingMessage)]


def _cli(*args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CLAWTUI_API_TOKEN": TOKEN}
    cmd = [sys.executable, "-m", "clawtui"]
    if config is not None:
        cmd += ["--config", str(config)]
    return subprocess.run(
        [*cmd, *args], capture_output=True, text=True, env=env, timeout=60, cwd=ROOT
    )


async def test_lifecycle_through_the_api(served: tuple[Engine, str]) -> None:
    engine, url = served
    sub = engine.subscribe([EventKind.ESCALATION])
    body = {
        "agent": "peter",
        "thread_id": 7,
        "doing": "deploying machinemachine-api v2.1",
        "tried": ["curl deploy endpoint", "checked Coolify logs: 422 on fqdn field"],
        "need": "someone with Coolify API access to set fqdn manually",
        "proposed_fix": "set fqdn=api.example.com in Coolify",
        "detail": "Traceback (most recent call last):\n  File x\nValueError: fqdn",
    }
    async with aiohttp.ClientSession(headers=AUTH) as s:
        async with s.post(f"{url}/api/v1/escalations", json=body) as r:
            assert r.status == 201, await r.text()
            esc = await r.json()
        assert esc["status"] == "pending" and esc["tried"] == body["tried"]
        event = await wait_for_event(sub, lambda e: e.kind is EventKind.ESCALATION, 5)
        assert event.data["change"] == "raised"

        # Without the token: refused.
        async with aiohttp.ClientSession() as anon, anon.get(f"{url}/api/v1/escalations") as r:
            assert r.status == 401

        # Bad input names the field; nothing is stored.
        async with s.post(f"{url}/api/v1/escalations", json={"agent": "x", "doing": "y"}) as r:
            assert r.status == 400
            assert "'need'" in (await r.json())["error"]["message"]
        async with s.post(f"{url}/api/v1/escalations", data=b"{nope") as r:
            assert r.status == 400
        async with s.post(f"{url}/api/v1/escalations", json={**body, "colour": 1}) as r:
            assert "unknown field 'colour'" in (await r.json())["error"]["message"]
        async with s.get(f"{url}/api/v1/escalations?status=bogus") as r:
            assert r.status == 400

        async with s.get(f"{url}/api/v1/escalations") as r:
            listed = (await r.json())["escalations"]
        assert [e["id"] for e in listed] == [esc["id"]]

        async with s.post(
            f"{url}/api/v1/escalations/{esc['id']}/decision", json={"action": "modify"}
        ) as r:
            assert r.status == 400  # modify needs the text
        async with s.post(
            f"{url}/api/v1/escalations/{esc['id']}/decision",
            json={"action": "approve", "by": "jan", "text": "go"},
        ) as r:
            assert r.status == 200, await r.text()
            decided = await r.json()
        assert decided["status"] == "approved" and decided["decided_by"] == "jan"
        assert decided["delivered_message_id"]
        async with s.post(
            f"{url}/api/v1/escalations/{esc['id']}/decision", json={"action": "skip"}
        ) as r:
            assert r.status == 409  # no longer pending
        async with s.post(f"{url}/api/v1/escalations/999/decision", json={"action": "skip"}) as r:
            assert r.status == 404
        async with s.post(f"{url}/api/v1/escalations/{esc['id']}/resolve") as r:
            assert r.status == 200 and (await r.json())["status"] == "resolved"

    # The decision reached thread 7's queue in TinyClaw's format.
    msgs = _incoming(engine)
    assert len(msgs) == 1
    msg = msgs[0]
    assert msg.threadId == 7 and msg.source == "system" and msg.channel == "clawtui"
    assert msg.messageId == decided["delivered_message_id"]
    assert "APPROVED by jan" in msg.message
    assert "set fqdn=api.example.com in Coolify" in msg.message
    raw = json.loads((engine.queue.folder("incoming") / f"{msg.messageId}.json").read_text())
    assert isinstance(raw["threadId"], int) and isinstance(raw["timestamp"], int)
    assert raw["escalationId"] == esc["id"]


async def test_incident_and_brief_routes(served: tuple[Engine, str]) -> None:
    engine, url = served
    inc = await engine.incidents.anomaly("staging", "disk:/var", Report(summary="disk 91%"))
    async with aiohttp.ClientSession(headers=AUTH) as s:
        async with s.get(f"{url}/api/v1/incidents?open=1") as r:
            assert [i["id"] for i in (await r.json())["incidents"]] == [inc.id]
        async with s.post(
            f"{url}/api/v1/incidents/{inc.id}/pr_ready", json={"pr_url": "https://git/pr/1"}
        ) as r:
            assert r.status == 200 and (await r.json())["state"] == "pr_ready"
        async with s.post(f"{url}/api/v1/incidents/{inc.id}/pr_ready", json={}) as r:
            assert r.status == 409
        async with s.get(f"{url}/api/v1/brief") as r:
            assert r.status == 404
        async with s.get(f"{url}/api/v1/brief?date=yesterday") as r:
            assert r.status == 400
        async with s.post(f"{url}/api/v1/brief/preview") as r:
            preview = await r.json()
        assert preview["needs_human"] and "BLOCKED:" in preview["text"]
        await engine.briefs.run("2026-11-23")
        async with s.get(f"{url}/api/v1/brief?date=2026-11-23") as r:
            assert r.status == 200 and (await r.json())["sent"] is True


async def test_lifecycle_through_the_cli_over_the_api(served: tuple[Engine, str]) -> None:
    engine, url = served
    raised = await asyncio.to_thread(
        _cli,
        "--connect", url, "escalate", "--agent", "miauczek", "--thread", "3",
        "--doing", "processing pitch leads", "--tried", "retry", "--tried", "smaller batch",
        "--need", "a CRM API key", "--fix", "add CRM_KEY to the env", "--json",
    )  # fmt: skip
    assert raised.returncode == 0, raised.stderr
    esc = json.loads(raised.stdout)
    assert esc["tried"] == ["retry", "smaller batch"]

    listed = await asyncio.to_thread(_cli, "--connect", url, "escalations", "list")
    assert listed.returncode == 0 and f"#{esc['id']} [pending]" in listed.stdout

    bad = await asyncio.to_thread(
        _cli, "--connect", url, "escalations", "decide", str(esc["id"]), "modify"
    )
    assert bad.returncode == 2 and "--text" in bad.stderr
    decided = await asyncio.to_thread(
        _cli, "--connect", url, "escalations", "decide", str(esc["id"]), "modify",
        "--text", "use the sandbox CRM key instead",
    )  # fmt: skip
    assert decided.returncode == 0, decided.stderr
    assert "delivered to thread 3" in decided.stdout
    again = await asyncio.to_thread(
        _cli, "--connect", url, "escalations", "decide", str(esc["id"]), "skip"
    )
    assert again.returncode == 1 and "already modified" in again.stderr

    stored = await engine.escalations.get(esc["id"])
    assert stored is not None and stored.status is Status.MODIFIED
    assert stored.decided_by == "cli"
    msgs = [m for m in _incoming(engine) if m.threadId == 3]
    assert len(msgs) == 1 and "Do this instead: use the sandbox CRM key instead" in msgs[0].message


def test_cli_local_store_and_brief(tmp_path: Path) -> None:
    state = tmp_path / "state"
    config = tmp_path / "config.toml"
    config.write_text(f'[engine]\nstate_dir = "{state}"\n')
    out = _cli("escalate", "--agent", "a", "--doing", "d", "--need", "n", config=config)
    assert out.returncode == 0, out.stderr
    assert "escalation #1 raised" in out.stdout
    out = _cli("escalations", "decide", "1", "approve", config=config)
    assert out.returncode == 0 and "recorded (no thread" in out.stdout
    out = _cli("escalations", "decide", "9", "approve", config=config)
    assert out.returncode == 2 and "no escalation #9" in out.stderr
    out = _cli("brief", config=config)
    assert out.returncode == 1 and "--preview" in out.stderr
    out = _cli("brief", "--preview", config=config)
    assert out.returncode == 0 and "Morning Brief" in out.stdout
    assert "not sent" in out.stdout  # nothing pending: all clear
    out = _cli("brief", "--date", "2026-13-01", config=config)
    assert out.returncode == 2
    out = _cli("escalate", "--agent", "", "--doing", "d", "--need", "n", config=config)
    assert out.returncode == 2 and "--agent" in out.stderr
