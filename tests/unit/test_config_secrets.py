"""`clawtui config check` reports relay and webhook secrets that are too short and relay agents
that share one secret (the relay would take every message signed with it as from the first
of them) (issue 20)."""

from __future__ import annotations

from pathlib import Path

import pytest

from clawtui.cli import main


def _config(tmp_path: Path, secrets: dict[str, str]) -> Path:
    folder = tmp_path / "secrets"
    folder.mkdir()
    for name, value in secrets.items():
        (folder / name).write_text(value + "\n")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[engine]\nstate_dir = "{tmp_path}/state"\n'
        f'[webhook]\nthread_id = 1\nsecret_files = ["{folder}/webhook"]\n'
        "[relay]\n"
        f'[[relay.agents]]\nname = "ryan"\nthread_id = 1\nsecret_file = "{folder}/ryan"\n'
        f'[[relay.agents]]\nname = "sam"\nthread_id = 2\nsecret_file = "{folder}/sam"\n'
        f'[[relay.agents]]\nname = "cody"\nthread_id = 3\nsecret_file = "{folder}/cody"\n'
    )
    return config


def test_short_and_shared_secrets_are_reported_all_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    shared = "Zq" * 20
    config = _config(tmp_path, {"webhook": "Wh5x!", "ryan": shared, "sam": shared, "cody": "Cq7y"})
    assert main(["config", "check", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "webhook" in err and "at least 16" in err
    assert "cody" in err
    assert "ryan" in err and "sam" in err and "share" in err
    assert "3 problem(s)" in err
    assert shared not in err and "Wh5x!" not in err and "Cq7y" not in err  # never shown


def test_long_distinct_secrets_are_ok(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    config = _config(
        tmp_path, {n: f"{n}-secret-0123456789abcdef" for n in ("webhook", "ryan", "sam", "cody")}
    )
    assert main(["config", "check", "--config", str(config)]) == 0, capsys.readouterr().err
