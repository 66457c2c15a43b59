"""`clawtui relay routes|add|rm` on a real config and runtime settings file, and
`clawtui webhook test` against a real service."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path

import pytest

from clawtui.cli import main
from clawtui.config import load_settings
from clawtui.engine.core import Engine
from clawtui.service.runner import ServiceRunner
from tests.integration.ingress_helpers import RYAN_THREAD, messages, wait_for_files, write_secrets


def _config(tmp: Path, port: int = 8770) -> Path:
    secrets = write_secrets(tmp / "secrets")
    path = tmp / "config.toml"
    path.write_text(
        f'[engine]\nstate_dir = "{tmp}/state"\n[service]\nlisten = "127.0.0.1:{port}"\n'
        '[[hosts]]\nname = "local"\nurl = "unix:///nonexistent/clawtui-test.sock"\n'
        f'[webhook]\nsecret_files = ["{secrets["webhook"]}"]\nthread_id = {RYAN_THREAD}\n'
        '[relay]\nroutes = [{from = "ryan", to = "cody", note = "pipeline failures"}]\n'
        f'[[relay.agents]]\nname = "ryan"\nthread_id = 1\nsecret_file = "{secrets["ryan"]}"\n'
        '[[relay.agents]]\nname = "cody"\nthread_id = 3\n'
    )
    return path


def test_relay_routes_add_rm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    config = _config(tmp_path)
    assert main(["relay", "routes", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "ryan → cody  (pipeline failures)" in out
    assert "agent cody: thread 3, NO SECRET" in out
    assert (
        main(["relay", "add", "cody", "ryan", "--note", "fix pushed", "--config", str(config)]) == 0
    )
    assert main(["relay", "add", "cody", "maya", "--config", str(config)]) == 2
    assert "unknown agent 'maya'" in capsys.readouterr().err
    state = tmp_path / "xdg" / "clawtui" / "settings.toml"
    routes = tomllib.loads(state.read_text())["relay"]["routes"]
    assert routes == [
        {"from": "ryan", "to": "cody", "note": "pipeline failures"},
        {"from": "cody", "to": "ryan", "note": "fix pushed"},
    ]
    assert len(load_settings(config, state_file=state).relay.routes) == 2
    assert main(["relay", "rm", "ryan", "cody", "--config", str(config)]) == 0
    assert main(["relay", "rm", "ryan", "cody", "--config", str(config)]) == 2
    routes = tomllib.loads(state.read_text())["relay"]["routes"]
    assert routes == [{"from": "cody", "to": "ryan", "note": "fix pushed"}]


async def test_webhook_test_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    config = _config(tmp_path)
    settings = load_settings(config)
    engine = Engine(settings)
    await engine.start()
    runner = ServiceRunner(engine, settings, token="t" * 32, listen=("127.0.0.1", 0))
    await runner.start()
    try:
        code = await asyncio.to_thread(
            main, ["webhook", "test", "--url", runner.url, "--config", str(config)]
        )
        assert code == 0
        assert '"status": "queued"' in capsys.readouterr().out
        await wait_for_files(engine.queue, 1)
        [msg] = messages(engine.queue, RYAN_THREAD)
        assert "Build 20260302.1 FAILED on feature/test-webhook" in msg["message"]
        code = await asyncio.to_thread(
            main, ["webhook", "test", "--url", "http://127.0.0.1:9", "--config", str(config)]
        )
        assert code == 1
        assert "cannot reach" in capsys.readouterr().err
    finally:
        await runner.stop()
        await engine.stop()
