"""`clawtui --connect URL COMMAND`: every command either goes to the remote service or refuses;
none answers from this machine's engine and state (issue 19).

The service is a closed loopback port: a command that goes remote fails naming the URL; one that
cannot refuses before touching anything. Either way the exit code is not 0 and nothing is
printed on stdout (local data would be).
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from clawtui.cli import main
from clawtui.cli.entry import build_parser, works_remotely

# One invocation of each verb of each group (the group is the first word).
INVOCATIONS: list[list[str]] = [
    ["serve"],
    ["config", "check"],
    *[["dev", verb] for verb in ("ls", "status", "count", "stop-all")],
    ["dev", "create", "sam", "--key", "k.pub"],
    ["dev", "rm", "sam"],
    ["dev", "logs", "sam"],
    ["mem", "history"],
    ["mem", "set", "sam", "512m"],
    ["thread", "ls"],
    ["thread", "send", "1", "hello"],
    ["thread", "beat", "1"],
    ["kb", "init"],
    ["kb", "show", "context"],
    ["kb", "log"],
    ["escalate", "--agent", "a", "--doing", "d", "--need", "n"],
    ["escalations", "list"],
    ["escalations", "decide", "1", "approve"],
    ["escalations", "resolve", "1"],
    ["incidents"],
    ["brief"],
    ["brief", "--preview"],
    ["relay", "routes"],
    ["relay", "add", "a", "b"],
    ["relay", "rm", "a", "b"],
    ["webhook", "test"],
    ["pool", "ls"],
    ["pool", "status"],
    ["pool", "claim", "--pool", "p", "t"],
    ["pool", "release", "t"],
    ["pool", "sync", "t"],
    ["pool", "scale", "p", "1"],
    ["pool", "containers", "p"],
    ["pool", "workers"],
    ["pool", "drain", "p"],
    ["attach", "sam"],
    ["tmux", "ls", "sam"],
    ["tmux", "run", "sam", "ls"],
    ["tmux", "send", "sam", "main", "ls"],
    ["tmux", "broadcast", "--line", "ls", "sam"],
    ["ssh", "trust", "--fingerprint", "SHA256:x", "h"],
    ["mcp"],
    ["token", "ls"],
    ["token", "create", "bot", "--scope", "read"],
    ["token", "revoke", "bot"],
    ["audit"],
]


@pytest.fixture
def closed_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_the_table_covers_every_command() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert commands is not None
    assert set(commands) == {words[0] for words in INVOCATIONS}


@pytest.mark.parametrize("words", INVOCATIONS, ids=" ".join)
def test_connect_goes_remote_or_refuses(
    words: list[str],
    closed_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    config = tmp_path / "config.toml"
    config.write_text("")
    monkeypatch.setenv("CLAWTUI_CONFIG", str(config))
    try:
        code = main(["--connect", closed_url, "--token", "t", *words])
    except SystemExit as exc:  # argparse: a verb's own usage error
        pytest.fail(f"usage error for {words}: {exc}")
    out, err = capsys.readouterr()
    assert code != 0
    assert out == ""
    assert closed_url in err
    if works_remotely(words[0], build_parser().parse_args(words)):
        assert "does not work with --connect" not in err  # it went remote and failed there
    else:
        assert "does not work with --connect" in err
    assert not (tmp_path / "state").exists()  # nothing local was opened
