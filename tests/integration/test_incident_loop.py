"""The incident loop (seed 002 §12, issue 14) through a real `clawtui serve` (ServiceRunner on
loopback): the report handed to the dev agent's thread as a TinyClaw queue message (on
detection, by `fix_thread_id`; and on request), "PR ready" and "restarting" set from the CLI
(`clawtui --connect URL incidents ...`, the real argparse entry) and from REST, each transition
notified once on a real webhook channel (a loopback aiohttp server)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from clawtui.cli import main
from clawtui.config import load_settings
from clawtui.engine.api.escalations import LoopState, Report
from clawtui.engine.core import Engine
from clawtui.service.runner import ServiceRunner
from tests.integration.ingress_helpers import messages

pytestmark = pytest.mark.integration

TOKEN = "t" * 32
FIX_THREAD = 7


@pytest.fixture
async def notified() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/notify", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/notify", received
    await runner.cleanup()


def _config(tmp: Path, notify_url: str) -> Path:
    path = tmp / "config.toml"
    path.write_text(
        f'[engine]\nstate_dir = "{tmp}/state"\n'
        '[[hosts]]\nname = "local"\nurl = "unix:///nonexistent/clawtui-test.sock"\n'
        "[escalations]\nstuck_detector = false\n[brief]\nenabled = false\n"
        f'[notify]\nretries = 0\n[notify.webhook]\nurl = "{notify_url}"\n'
        # Monitors with neither host nor status page: incidents come from the test.
        f'[[monitors]]\nname = "staging"\nfix_thread_id = {FIX_THREAD}\n'
        '[[monitors]]\nname = "nofix"\n'
    )
    return path


def _kinds(received: list[dict[str, Any]], incident_id: int) -> list[str]:
    return [r["kind"] for r in received if r["data"].get("incident_id") == incident_id]


async def test_hand_off_pr_ready_restarting_each_notified_once(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    notified: tuple[str, list[dict[str, Any]]],
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    url, received = notified
    config = _config(tmp_path, url)
    settings = load_settings(config)
    engine = Engine(settings)
    await engine.start()
    runner = ServiceRunner(engine, settings, token=TOKEN, listen=("127.0.0.1", 0))
    await runner.start()
    remote = ["--config", str(config), "--connect", runner.url, "--token", TOKEN]

    def cli(*words: str) -> tuple[int, Any]:
        code = main([*remote, "incidents", *words, "--json"])
        out = capsys.readouterr().out
        return code, json.loads(out) if code == 0 else None

    try:
        report = Report(
            summary="container web on staging is exited",
            severity="critical",
            affected_services=["web"],
            evidence=["docker ps -a: web status=exited"],
            immediate_action="docker start web",
            recommended_fix="give web a restart policy",
        )
        inc = await engine.incidents.anomaly("staging", "container:web", report)
        # Detected: handed to the fix thread at once, in the seed's report format.
        [msg] = messages(engine.queue, FIX_THREAD)
        assert msg["incidentId"] == inc.id and msg["loopState"] == "detected"
        assert msg["senderId"] == f"incident:{inc.id}"
        for line in (
            "**Summary:** container web on staging is exited",
            "**Severity:** Critical",
            "**Affected services:** web",
            "**Evidence:**\n- docker ps -a: web status=exited",
            "**Immediate action taken:** docker start web",
            "**Recommended permanent fix:** give web a restart policy",
        ):
            assert line in msg["message"]
        # The anomaly persists: no new message, no new notification.
        await engine.incidents.anomaly("staging", "container:web", report)
        assert len(messages(engine.queue, FIX_THREAD)) == 1

        # PR ready from the CLI (over the service); a second time is refused (exit 1).
        code, data = await asyncio.to_thread(
            cli, "pr-ready", str(inc.id), "--pr-url", "https://git/pr/9"
        )
        assert code == 0 and data["state"] == "pr_ready" and data["pr_url"] == "https://git/pr/9"
        code, _ = await asyncio.to_thread(cli, "pr-ready", str(inc.id))
        assert code == 1

        # Restarting from the CLI: the fix did not hold; the report goes to the thread again.
        code, data = await asyncio.to_thread(cli, "restarting", str(inc.id), "--note", "502s again")
        assert code == 0 and data["state"] == "restarting"
        assert "restarting: 502s again" in data["report"]["evidence"]
        code, _ = await asyncio.to_thread(cli, "restarting", str(inc.id))
        assert code == 1  # already restarting
        states = sorted(m["loopState"] for m in messages(engine.queue, FIX_THREAD))
        assert states == ["detected", "restarting"]

        # PR ready again over REST, the check goes healthy, then restarting over REST.
        headers = {"Authorization": f"Bearer {TOKEN}"}
        base = f"{runner.url}/api/v1/incidents/{inc.id}"
        async with aiohttp.ClientSession(headers=headers) as s:
            async with s.post(f"{base}/pr_ready", json={}) as r:
                assert r.status == 200 and (await r.json())["state"] == "pr_ready"
            await engine.incidents.healthy("staging", {"container:web"})
            async with s.post(f"{base}/restarting", json={"note": "came back"}) as r:
                assert r.status == 200 and (await r.json())["state"] == "restarting"
            async with s.post(f"{base}/restarting", json={"bogus": 1}) as r:
                assert r.status == 400
            # Hand-off to another thread on request; a monitor without a fix thread refuses.
            async with s.post(f"{base}/hand_off", json={"thread_id": 9}) as r:
                assert r.status == 200
                done = await r.json()
            assert done["thread_id"] == 9 and done["incident_id"] == inc.id
            [to_nine] = messages(engine.queue, 9)
            assert to_nine["messageId"] == done["message_id"]
            other = await engine.incidents.anomaly("nofix", "docker", report)
            async with s.post(f"{runner.url}/api/v1/incidents/{other.id}/hand_off") as r:
                assert r.status == 409 and "fix_thread_id" in (await r.json())["error"]["message"]
        code, data = await asyncio.to_thread(cli, "hand-off", str(other.id), "--thread", "11")
        assert code == 0 and data["thread_id"] == 11
        assert len(messages(engine.queue, 11)) == 1

        await engine.notifier.drain(10)
        assert _kinds(received, inc.id) == [
            "incident.detected",
            "incident.pr_ready",
            "incident.restarting",
            "incident.pr_ready",
            "incident.resolved",
            "incident.restarting",
        ]
        final = await engine.incidents.get(inc.id)
        assert final is not None and final.state is LoopState.RESTARTING
    finally:
        await runner.stop()
        await engine.stop()
