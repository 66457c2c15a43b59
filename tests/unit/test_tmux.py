"""Pure logic of clawtui.engine.api.tmux, engine.sessions.tmux / attach / cli_attach: names,
quoting, parsing."""

from __future__ import annotations

import shlex

import pytest

from clawtui.cli._common import UsageError
from clawtui.cli.attach import parse_hostport
from clawtui.engine.api import tmux as tmux_api
from clawtui.engine.sessions import tmux
from clawtui.terminal.attach import attach_command, docker_exec_fallback_argv

BAD = ["a;id", "$(id)", "`id`", "a b", "", "x" * 65, "a\nb", "é", "../x", "a:b", "a.b"]


@pytest.mark.parametrize("bad", BAD)
def test_bad_names_rejected(bad: str) -> None:
    with pytest.raises(tmux_api.InvalidName, match="invalid tmux session name"):
        tmux_api.validate_name(bad)
    with pytest.raises(tmux_api.InvalidName):
        attach_command(bad)
    with pytest.raises(tmux_api.InvalidName):
        tmux_api.run_argv(bad, ["true"])
    with pytest.raises(tmux_api.InvalidName):
        tmux_api.send_argv(bad, ["x"], line=True)
    with pytest.raises(tmux_api.InvalidName):
        tmux_api.run_argv("ok", ["true"], window=bad)
    with pytest.raises(tmux_api.InvalidName):
        docker_exec_fallback_argv("c", bad)


@pytest.mark.parametrize("good", ["main", "a", "A-b_9", "x" * 64])
def test_good_names(good: str) -> None:
    assert tmux_api.validate_name(good) == good


def test_attach_command_is_quoted() -> None:
    assert shlex.split(attach_command("work")) == ["tmux", "new-session", "-A", "-s", "work"]


def test_run_command_words_stay_words() -> None:
    evil = ["sh", "-c", "echo '$(id)'; `id` && rm -rf /nonexistent"]
    line = tmux_api.run_argv("s", evil, window="w", cwd="~/repos/a b")
    # The new-window part: the last argument is bash -lc <the command, quoted again>.
    new_window = line.split(" && ", 1)[1]
    words = shlex.split(new_window)
    assert words[:7] == ["tmux", "new-window", "-d", "-t", "=s:", "-n", "w"]
    assert words[7:9] == ["-c", "~/repos/a b"]
    inner = words[9]
    assert shlex.split(inner)[:2] == ["bash", "-lc"]
    assert shlex.split(shlex.split(inner)[2]) == evil


def test_run_needs_a_command_and_sane_cwd() -> None:
    with pytest.raises(tmux_api.TmuxError, match="no command"):
        tmux_api.run_argv("s", [])
    with pytest.raises(tmux_api.TmuxError, match="working directory"):
        tmux_api.run_argv("s", ["x"], cwd="a\nb")


def test_send_line_is_literal_then_enter() -> None:
    line = tmux_api.send_argv("s", ["echo", "$(id);"], line=True)
    literal, enter = line.split(" && ")
    assert shlex.split(literal) == ["tmux", "send-keys", "-t", "=s:", "-l", "--", "echo $(id);"]
    assert shlex.split(enter) == ["tmux", "send-keys", "-t", "=s:", "Enter"]
    keys = tmux_api.send_argv("s", ["C-c"], line=False, window="w1")
    assert shlex.split(keys) == ["tmux", "send-keys", "-t", "=s:w1", "--", "C-c"]


def test_parse_sessions_and_windows_skip_garbage() -> None:
    out = "main\t2\t1\t1700000000\nbroken line\nwork\tx\t0\t5\n"
    sessions = tmux.parse_sessions(out)
    assert [s.name for s in sessions] == ["main", "work"]
    assert sessions[0].windows == 2 and sessions[0].attached == 1
    assert sessions[1].windows == 0  # not a number → 0, not a crash
    wins = tmux.parse_windows("main\t0\tbash\t1\tbash\nmain\t1\tjob\t0\tsleep\n\t\t\n")
    assert [(w.index, w.name, w.active) for w in wins] == [(0, "bash", True), (1, "job", False)]


@pytest.mark.parametrize(
    ("stderr", "status", "want"),
    [
        ("bash: tmux: command not found", 127, "not installed"),
        ("no server running on /tmp/tmux-1000/default", 1, "no tmux server"),
        ("can't find session: x", 1, "no such tmux session"),
        ("sessions should be nested with care, unset $TMUX to force", 1, "$TMUX is set"),
        ("open terminal failed: missing or unsuitable terminal: foo", 1, "TERM="),
        ("weird", 3, "exit 3"),
    ],
)
def test_explain(stderr: str, status: int, want: str) -> None:
    assert want in tmux.explain(stderr, status)


def test_fallback_script_says_which() -> None:
    argv = docker_exec_fallback_argv("c1", "main")
    assert argv[:3] == ["docker", "exec", "-it"]
    script = argv[-1]
    assert "exec tmux new-session -A -s main" in script
    assert "login shell" in script and "bash -l" in script


@pytest.mark.parametrize(
    ("text", "want"),
    [("h", ("h", 22)), ("h:2201", ("h", 2201)), ("[127.0.0.1]:2202", ("127.0.0.1", 2202)),
     ("[::1]:22", ("::1", 22))],
)  # fmt: skip
def test_parse_hostport(text: str, want: tuple[str, int]) -> None:
    assert parse_hostport(text) == want


@pytest.mark.parametrize("bad", ["", "a b", "h:0", "h:99999", "[x]"])
def test_parse_hostport_bad(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_hostport(bad)
