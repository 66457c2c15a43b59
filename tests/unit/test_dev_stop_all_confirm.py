"""`clawtui dev stop-all` asks first: on a real terminal (a pty) a "no" stops nothing, and with
no terminal and no --yes it refuses with the way out. Neither starts an engine (no Docker)."""

from __future__ import annotations

import os
import pty
import sys
from pathlib import Path

import pytest

from clawtui.cli import main


def _config(tmp_path: Path) -> list[str]:
    config = tmp_path / "config.toml"
    # its own state dir: nothing here touches the real one
    config.write_text(f'[engine]\nstate_dir = "{tmp_path}"\n')
    return ["--config", str(config)]


def test_no_on_a_terminal_stops_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    leader, follower = pty.openpty()
    os.write(leader, b"n\n")
    with os.fdopen(follower, "r") as tty:
        monkeypatch.setattr(sys, "stdin", tty)
        assert main(["dev", "stop-all", *_config(tmp_path)]) == 1
    os.close(leader)
    err = capsys.readouterr().err
    assert "stop every running dev box? [y/N]" in err and "nothing stopped" in err


def test_no_terminal_and_no_yes_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    read, write = os.pipe()
    os.close(write)
    with os.fdopen(read, "r") as pipe:
        monkeypatch.setattr(sys, "stdin", pipe)
        assert main(["dev", "stop-all", *_config(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no terminal to ask on, pass --yes" in err and "Traceback" not in err
