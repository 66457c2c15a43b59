"""`clawtui thread` and `clawtui kb` from a shell (real files, real git, no Docker)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from clawtui.cli import main
from clawtui.engine.threads.queue import TinyClawQueue


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "x.txt").write_text("dirty\n")
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[engine]\nstate_dir = "{tmp_path / "state"}"\n'
        f'[threads]\nhome = "{tmp_path / "home"}"\n'
        f'[[threads.threads]]\nid = 2\nname = "repo"\ncwd = "{repo}"\n'
    )
    return cfg


def test_thread_ls_json_and_send(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["thread", "ls", "--json", "--config", str(config)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 1
    row = rows[0]
    assert row["thread"]["id"] == 2 and row["thread"]["name"] == "repo"
    assert row["repo"]["is_repo"] and row["repo"]["dirty"] == 1
    assert row["queue_in"] == 0 and row["queue_out"] == 0
    assert set(row["tiers"]) == {"quick", "hourly", "daily"}
    assert row["tiers"]["hourly"]["due"] is True
    assert row["heartbeat"]["liveness"] == "unknown"
    assert main(["thread", "send", "2", "hello", "--config", str(config)]) == 0
    home = config.parent / "home"
    (path,) = list(TinyClawQueue(home).files("incoming"))
    assert json.loads(path.read_text())["message"] == "hello"
    assert main(["thread", "send", "9", "hello", "--config", str(config)]) == 2
    assert "no thread 9" in capsys.readouterr().err
    assert main(["thread", "ls", "--config", str(config)]) == 0
    assert "repo" in capsys.readouterr().out


def test_kb_init_show_and_refusal(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kb = config.parent / "kb"
    assert main(["kb", "init", str(kb), "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "git init" in out and "kb_dir" in out
    assert (kb / ".git").is_dir()
    assert subprocess.run(["git", "-C", str(kb), "remote"], capture_output=True,
                          text=True).stdout == ""  # fmt: skip
    threads = json.loads((config.parent / "home" / "threads.json").read_text())
    assert threads["1"]["cwd"] == str(kb) and threads["1"]["isMaster"] is True
    assert main(["kb", "show", "decisions.md", "--config", str(config)]) == 0
    assert "Decision" in capsys.readouterr().out
    for bad in ("../config.toml", ".git/config", "notes.md"):
        assert main(["kb", "show", bad, "--config", str(config)]) == 2
        assert "not a knowledge base file" in capsys.readouterr().err
    assert main(["kb", "log", "--config", str(config)]) == 0
    assert "Initialise knowledge base" in capsys.readouterr().out
    # running init again changes nothing and still succeeds
    assert main(["kb", "init", str(kb), "--config", str(config)]) == 0
