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


def test_a_broken_settings_file_is_reported_by_every_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not only `config check`: a command that runs says the runtime settings file is ignored,
    then does its work."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    broken = tmp_path / "state" / "clawtui" / "settings.toml"
    broken.parent.mkdir(parents=True)
    broken.write_text("[tui\ntheme = ")
    config = tmp_path / "config.toml"
    config.write_text(f'[engine]\nstate_dir = "{tmp_path / "engine"}"\n')
    assert main(["escalations", "list", "--config", str(config)]) == 0
    out, err = capsys.readouterr()
    assert "no escalations" in out
    assert str(broken) in err and "warning" in err
    assert main(["config", "check", "--config", str(config)]) == 2  # and check still says so
    assert str(broken) in capsys.readouterr().err


def test_config_check_reports_the_tuis_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Unknown binding ids, key names that are not keys, two bindings on one key and a theme
    that does not exist: all reported at once, as the TUI would find them."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    config = tmp_path / "config.toml"
    config.write_text(
        '[tui]\ntheme = "no-such-theme"\n'
        '[keymap]\n"panel.threads" = "1"\n"panel.nope" = "x"\n"app.help" = "ctrl+zz"\n'
    )
    assert main(["config", "check", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "keymap.panel.nope" in err  # unknown id
    assert "'ctrl+zz'" in err  # not a key
    assert "panel.fleet and panel.threads" in err  # both on "1"
    assert "tui.theme" in err and "no-such-theme" in err
    assert "4 problem(s)" in err


def test_config_check_keeps_good_keymaps_quiet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    config = tmp_path / "config.toml"
    config.write_text(
        '[tui]\ntheme = "nord"\n[keymap]\n"panel.fleet" = "f1,question_mark"\n"app.help" = "h"\n'
    )
    assert main(["config", "check", "--config", str(config)]) == 0, capsys.readouterr().err


def test_config_check_reports_a_duplicate_host_with_another_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[[hosts]]\nname = "a"\n[[hosts]]\nname = "a"\nurl = "ftp://x"\n'
        '[engine]\nstats_interval = "fast"\n'
    )
    assert main(["config", "check", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "duplicate host name 'a'" in err
    assert "hosts[1].url" in err and "engine.stats_interval" in err


def test_dev_create_prints_an_ssh_command_with_the_key_it_needs(tmp_path: Path) -> None:
    from clawtui.cli.dev import ssh_command_with_key

    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    command = "ssh -p 2201 dev@127.0.0.1"
    for name in ("id_ed25519", "work_key"):
        (home / ".ssh" / name).write_text("private")
        (home / ".ssh" / f"{name}.pub").write_text("public")
    default = str(home / ".ssh" / "id_ed25519.pub")
    assert ssh_command_with_key(command, default, home) == command
    other = str(home / ".ssh" / "work_key.pub")
    assert ssh_command_with_key(command, other, home) == (
        f"ssh -i {home / '.ssh' / 'work_key'} -p 2201 dev@127.0.0.1"
    )
    # no private half next to it (a key from elsewhere): nothing to add
    assert ssh_command_with_key(command, str(tmp_path / "lonely.pub"), home) == command


def test_config_check_reports_the_keymap_next_to_a_broken_settings_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    broken = tmp_path / "state" / "clawtui" / "settings.toml"
    broken.parent.mkdir(parents=True)
    broken.write_text("[tui\n")
    config = tmp_path / "config.toml"
    config.write_text('[keymap]\n"panel.nope" = "x"\n')
    assert main(["config", "check", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert str(broken) in err and "keymap.panel.nope" in err and "2 problem(s)" in err
