"""The command line: `config check` exit codes and messages, usage errors without tracebacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from clawtui.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_config_check_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", "--config", str(ROOT / "config.toml")]) == 0
    assert "ok" in capsys.readouterr().out


def test_config_check_reports_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text('[engine]\nstats_interval = "fast"\nbogus = 1\n[service]\nlisten = "nowhere"\n')
    assert main(["config", "check", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "engine.stats_interval" in err and "engine.bogus" in err and "service.listen" in err
    assert "3 problem(s)" in err
    assert "Traceback" not in err


def test_missing_explicit_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", "--config", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml" in capsys.readouterr().err


def test_serve_with_bad_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text("[[hosts]]\nname = 'a'\nurl = 'ftp://x'\n")
    assert main(["serve", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "hosts[0].url" in err and "config check" in err


def test_serve_with_bad_listen(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "config.toml"
    good.write_text("")
    assert main(["serve", "--config", str(good), "--listen", "localhost"]) == 2
    assert "--listen" in capsys.readouterr().err
