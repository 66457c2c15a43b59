"""Unit tests of clawtui.config: models, loading, every error at once, layering, saving."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from clawtui.config import (
    STATE_FILE_HEADER,
    ConfigError,
    ConfigIssue,
    EngineConfig,
    HostConfig,
    ServiceConfig,
    Settings,
    check_config,
    find_config,
    load_settings,
    parse_size,
    save_runtime_settings,
    state_file_path,
)
from clawtui.config import loader as config_loader

REPO_ROOT = Path(__file__).resolve().parents[2]
GIB = 1 << 30


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the real ~/.local/state and the caller's variables out of every test."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    for name in ("CLAWTUI_API_TOKEN", "CLAWTUI_CONFIG", "MY_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_errors(path: Path) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, use_state=False)
    return caught.value.issues


def by_key(issues: list[ConfigIssue]) -> dict[str, ConfigIssue]:
    return {issue.key: issue for issue in issues}


# ---------------------------------------------------------------------------- defaults, valid


def test_defaults_with_no_file(tmp_path: Path) -> None:
    """No config.toml at all: every default, one local host, no warnings."""
    loaded = load_settings()
    assert loaded.source is None
    assert loaded.warnings == []
    assert loaded.engine.stats_interval == 1.0
    assert loaded.engine.resolved_state_dir == tmp_path / "state" / "clawtui"
    assert loaded.engine.db_path == tmp_path / "state" / "clawtui" / "clawtui.db"
    assert loaded.service.host_port == ("127.0.0.1", 8770)
    assert loaded.service.max_body_bytes == 1 << 20
    assert loaded.tui.theme == "clawtui-dark"
    assert loaded.keymap == {}
    [host] = loaded.hosts
    assert host.name == "local"
    assert host.is_local
    assert host.memory_reserve == 2 * GIB
    assert host.cgroup_root == "/sys/fs/cgroup"
    assert loaded.state_file == state_file_path()


def test_valid_full_file(tmp_path: Path) -> None:
    path = write(
        tmp_path / "conf" / "config.toml",
        """
        [engine]
        stats_interval = 0.5
        state_dir = "data"
        reconnect_max_backoff = 30
        event_log_keep_days = 30

        [service]
        listen = "[::1]:9000"
        token = "s3cret"
        token_env = "MY_TOKEN"
        max_body_bytes = "2m"
        serve_in_tui = true
        sse_heartbeat = 5

        [tui]
        theme = "nord"
        themes_dir = "~/themes"
        mouse = false

        [keymap]
        "panel.fleet" = "1"
        panel.memory = "2,f2"

        [[hosts]]
        name = "local"

        [[hosts]]
        name = "build-1"
        url = "ssh://admin@build-1"
        memory_reserve = "4GiB"
        cgroup_root = ""
        tls_verify = false
        timeout = 30
        """,
    )
    loaded = load_settings(path, use_state=False)
    assert loaded.source == path
    assert loaded.state_file is None
    assert loaded.engine.state_dir == tmp_path / "conf" / "data"
    assert loaded.engine.db_path == tmp_path / "conf" / "data" / "clawtui.db"
    assert loaded.engine.reconnect_max_backoff == 30.0
    assert loaded.service.host_port == ("::1", 9000)
    assert loaded.service.max_body_bytes == 2 << 20
    assert loaded.service.serve_in_tui
    assert loaded.tui.themes_dir == Path("~/themes").expanduser()
    assert not loaded.tui.mouse
    assert loaded.keymap == {"panel.fleet": "1", "panel.memory": "2,f2"}
    remote = loaded.hosts[1]
    assert (remote.name, remote.memory_reserve, remote.cgroup_root) == ("build-1", 4 * GIB, None)
    assert not remote.is_local
    assert not remote.tls_verify
    assert loaded.host("build-1") is remote
    assert loaded.host("nope") is None


def test_sample_config_in_repo_is_valid() -> None:
    """The commented config.toml the README opens must load and match the defaults."""
    sample = REPO_ROOT / "config.toml"
    assert check_config(sample, state_file=sample.with_name("no-such-state.toml")) == []
    loaded = load_settings(sample, use_state=False)
    assert loaded.service.token is None
    assert loaded.service.token_env == "CLAWTUI_API_TOKEN"
    assert [host.name for host in loaded.hosts] == ["local"]


# ---------------------------------------------------------------------------- errors


def test_many_errors_in_one_file_are_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path / "config.toml",
        """
        [engine]
        stats_interval = "abc"
        colour = "blue"

        [service]
        listen = "127.0.0.1:99999"

        [[hosts]]
        name = "local"

        [[hosts]]
        name = "two"
        memory_reserve = "2 lots"
        """,
    )
    issues = load_errors(path)
    found = by_key(issues)
    assert set(found) == {
        "engine.stats_interval",
        "engine.colour",
        "service.listen",
        "hosts[1].memory_reserve",
    }
    assert found["engine.stats_interval"].message == "expected a number, got 'abc'"
    assert found["engine.stats_interval"].line == 3
    assert found["engine.colour"].message.startswith("unknown key: remove it")
    assert found["engine.colour"].line == 4
    assert "1-65535" in found["service.listen"].message
    assert found["service.listen"].line == 7
    assert "invalid size '2 lots'" in found["hosts[1].memory_reserve"].message
    assert found["hosts[1].memory_reserve"].line == 14
    assert [issue.line for issue in issues] == sorted(issue.line or 0 for issue in issues)
    assert all(issue.file == str(path) for issue in issues)


def test_config_error_lists_one_issue_per_line() -> None:
    error = ConfigError(
        [
            ConfigIssue("c.toml", "service.listen", "bad", 3),
            ConfigIssue("c.toml", "(file)", "file not found"),
        ]
    )
    assert str(error) == "c.toml:3: service.listen: bad\nc.toml: (file): file not found"


@pytest.mark.parametrize(
    ("text", "key", "hint"),
    [
        ("bogus = 1", "bogus", None),
        ("enigne = {}", "enigne", "did you mean 'engine'?"),
        ("[engine]\nstats_intervall = 2.0", "engine.stats_intervall", "'stats_interval'"),
        ("[[hosts]]\nname = 'a'\nurls = 'x'", "hosts[0].urls", "did you mean 'url'?"),
    ],
)
def test_unknown_keys_top_level_and_nested(
    tmp_path: Path, text: str, key: str, hint: str | None
) -> None:
    [issue] = load_errors(write(tmp_path / "c.toml", text))
    assert issue.key == key
    assert issue.message.startswith("unknown key: remove it or check its spelling")
    if hint:
        assert hint in issue.message


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("[engine]\nevent_log_keep_days = 1.5", "engine.event_log_keep_days", "whole number"),
        ("[engine]\nstats_interval = 0.01", "engine.stats_interval", "at least 0.1"),
        ("[tui]\nmouse = 1", "tui.mouse", "expected true or false, got 1"),
        ("[tui]\ntheme = 5", "tui.theme", "expected text"),
        ("[tui]\ntheme = ''", "tui.theme", "must not be empty"),
        ("engine = 3", "engine", "expected a table, got 3"),
        ("hosts = {}", "hosts", "expected an array"),
        ("hosts = []", "hosts", "must not be empty"),
        ("[service]\nmax_body_bytes = '1g'", "service.max_body_bytes", "at most"),
        ("[service]\ntoken_env = '1BAD'", "service.token_env", "environment variable"),
        ("[[hosts]]\nname = '-x'", "hosts[0].name", "invalid host name"),
        ("[keymap]\n'a.b' = ''", 'keymap."a.b"', "cannot be empty"),
    ],
)
def test_wrong_types_and_values(tmp_path: Path, text: str, key: str, message: str) -> None:
    [issue] = load_errors(write(tmp_path / "c.toml", text))
    assert issue.key == key
    assert message in issue.message


def test_utf8_bom_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_bytes(b"\xef\xbb\xbf[tui]\ntheme = 'nord'\n")
    assert load_settings(path, use_state=False).tui.theme == "nord"


def test_invalid_utf8_names_the_byte_offset(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_bytes(b"[tui]\ntheme = '\xff'\n")
    [issue] = load_errors(path)
    assert issue.key == "(syntax)"
    assert "not valid UTF-8" in issue.message
    assert "0xff at byte offset 15" in issue.message
    assert issue.line == 2


def test_duplicate_key_is_a_config_issue(tmp_path: Path) -> None:
    [issue] = load_errors(write(tmp_path / "c.toml", "[tui]\ntheme = 'a'\ntheme = 'b'\n"))
    assert issue.key == "(syntax)"
    assert issue.message.startswith("duplicate key")
    assert issue.line == 3


def test_duplicate_table_is_a_config_issue(tmp_path: Path) -> None:
    [issue] = load_errors(write(tmp_path / "c.toml", "[tui]\nmouse = true\n[tui]\n"))
    assert issue.message.startswith("duplicate key")
    assert issue.line == 3


def test_deep_nesting_is_reported_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("a = " + "[" * 100_000 + "]" * 100_000)
    [issue] = load_errors(path)
    assert issue.key == "(syntax)"
    assert "nesting too deep" in issue.message
    assert check_config(path) == [issue]


@pytest.mark.parametrize(
    "text",
    [
        "x" + ".a" * 50_000 + " = 'x'\n",
        "[keymap]\n\n" + ".".join(["a"] * 50_000) + " = 'x'\n",
        "[" + ".".join(['"a"'] * 50_000) + "]\n",
        "t = { " + "a ." * 50_000 + " b = 1 }\n",
    ],
    ids=["bare", "in-table", "quoted-header", "inline-table"],
)
def test_overlong_dotted_keys_are_refused_quickly(tmp_path: Path, text: str) -> None:
    """tomllib is quadratic in dotted key parts: a 50,000-part key would take minutes."""
    path = tmp_path / "c.toml"
    path.write_text(text)
    [issue] = load_errors(path)
    assert issue.key == "(syntax)"
    assert "nesting too deep" in issue.message
    assert issue.line == text.count("\n", 0, text.index(".")) + 1


def test_deep_keymap_tables_are_an_issue(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", "[keymap]\n" + ".".join(["a"] * 50) + " = 'x'\n")
    [issue] = load_errors(path)
    assert issue.key == "keymap"
    assert "nested too deep" in issue.message


def test_many_dots_in_values_are_fine(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", "[tui]\ntheme = '" + "a." * 500 + "'\n")
    assert load_settings(path, use_state=False).tui.theme.startswith("a.a.")


def test_syntax_error_has_a_line(tmp_path: Path) -> None:
    [issue] = load_errors(write(tmp_path / "c.toml", "[engine]\n\nstats_interval = = 1\n"))
    assert issue.key == "(syntax)"
    assert issue.line == 3
    assert "column" in issue.message
    assert str(issue).startswith(f"{tmp_path / 'c.toml'}:3: (syntax): ")


def test_syntax_error_at_end_of_file(tmp_path: Path) -> None:
    [issue] = load_errors(write(tmp_path / "c.toml", "a = 1\nb = [1,\n"))
    assert issue.line == 2


def test_missing_file_directory_and_oversized_file(tmp_path: Path) -> None:
    [missing] = load_errors(tmp_path / "nope.toml")
    assert (missing.key, missing.message) == ("(file)", "file not found")
    [folder] = load_errors(tmp_path)
    assert "directory" in folder.message
    big = tmp_path / "big.toml"
    with big.open("wb") as handle:
        handle.truncate(5 << 20)
    [too_large] = load_errors(big)
    assert "too large" in too_large.message


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "c.toml", "")

    def refuse(path: Path, *, limit: int) -> tuple[bytes, bool]:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(config_loader, "read_bytes_capped", refuse)
    [issue] = load_errors(path)
    assert issue.message == "cannot read the file: Permission denied"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_loading_never_raises_anything_but_config_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_bytes(data)
    issues: list[ConfigIssue] = []
    try:
        load_settings(path, use_state=False)
    except ConfigError as error:  # anything else fails the test
        issues = error.issues or [ConfigIssue("", "", "ConfigError without issues")]
    assert all(issue.file == str(path) and issue.message for issue in issues)


def test_duplicate_host_names_name_both_indices(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.toml",
        """
        [[hosts]]
        name = "a"
        [[hosts]]
        name = "b"
        [[hosts]]
        name = "a"
        """,
    )
    [issue] = load_errors(path)
    assert issue.key == "hosts"
    assert "duplicate host name 'a'" in issue.message
    assert "hosts[0] and hosts[2]" in issue.message


@pytest.mark.parametrize(
    "url",
    [
        "unix:///var/run/docker.sock",
        "tcp://10.0.0.2:2376",
        "ssh://admin@build-1",
        "http://socket-proxy:2375",
        "https://docker.example:2376",
        "TCP://host:2375",
    ],
)
def test_accepted_docker_urls(url: str) -> None:
    assert HostConfig(url=url).url.lower() == url.lower()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://x", "unix://, tcp://, ssh://, http://, https://"),
        ("/var/run/docker.sock", "it must start with"),
        ("tcp://", "an address must follow"),
        ("unix://docker.sock", "absolute socket path"),
        ("tcp://a b", "an address must follow"),
    ],
)
def test_rejected_docker_urls(url: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        HostConfig(url=url)


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("127.0.0.1:8770", ("127.0.0.1", 8770)),
        ("0.0.0.0:1", ("0.0.0.0", 1)),
        ("localhost:65535", ("localhost", 65535)),
        ("[::1]:8770", ("::1", 8770)),
    ],
)
def test_listen_addresses(listen: str, expected: tuple[str, int]) -> None:
    assert ServiceConfig(listen=listen).host_port == expected


@pytest.mark.parametrize(
    "listen", ["8770", ":8770", "host:", "host:0", "host:70000", "host:80a", "::1:8770", "[x]:1"]
)
def test_bad_listen_addresses(listen: str) -> None:
    with pytest.raises(ValidationError, match="invalid listen address"):
        ServiceConfig(listen=listen)


def test_assignments_are_validated() -> None:
    loaded = Settings()
    loaded.tui.theme = "nord"
    with pytest.raises(ValidationError):
        loaded.engine.stats_interval = 1000.0
    assert isinstance(loaded.engine, EngineConfig)


# ---------------------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        (1024, 1024),
        ("1024", 1024),
        ("64k", 64 * 1024),
        ("64KB", 64 * 1024),
        ("512m", 512 << 20),
        ("512MiB", 512 << 20),
        ("2g", 2 * GIB),
        ("2G", 2 * GIB),
        ("2GiB", 2 * GIB),
        ("2 GiB", 2 * GIB),
        ("1.5g", 3 * GIB // 2),
        (".5k", 512),
        ("1t", 1 << 40),
        ("10b", 10),
        (" 3m ", 3 << 20),
    ],
)
def test_parse_size(value: int | str, expected: int) -> None:
    assert parse_size(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "negative"),
        ("-1g", "negative"),
        ("", "invalid size"),
        ("g", "invalid size"),
        ("2x", "invalid size"),
        ("2gg", "invalid size"),
        ("1e9", "invalid size"),
        ("nan", "invalid size"),
        ("1.5", "whole"),
        ("9999999p", "too large"),
        (True, "expected a size"),
        (1.5, "expected a size"),
        (None, "expected a size"),
    ],
)
def test_parse_size_rejects(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_size(value)  # type: ignore[arg-type]


@given(
    number=st.integers(min_value=0, max_value=1 << 30),
    unit=st.sampled_from([("", 1), ("k", 1 << 10), ("MiB", 1 << 20), ("g", 1 << 30)]),
)
def test_parse_size_scales_by_binary_units(number: int, unit: tuple[str, int]) -> None:
    suffix, multiplier = unit
    assert parse_size(f"{number}{suffix}") == number * multiplier


def test_byte_size_fields_accept_whole_floats() -> None:
    assert HostConfig.model_validate({"memory_reserve": 2e9}).memory_reserve == 2_000_000_000
    with pytest.raises(ValidationError):
        HostConfig.model_validate({"memory_reserve": 2.5})


# ---------------------------------------------------------------------------- token, secrets


def test_token_resolution_order() -> None:
    service = ServiceConfig(token=SecretStr("from-file"), token_env="MY_TOKEN")
    assert service.resolved_token({}) == "from-file"
    assert service.resolved_token({"MY_TOKEN": ""}) == "from-file"
    assert service.resolved_token({"MY_TOKEN": "from-named"}) == "from-named"
    both = {"MY_TOKEN": "from-named", "CLAWTUI_API_TOKEN": "from-api-env"}
    assert service.resolved_token(both) == "from-api-env"
    assert service.resolved_token({"CLAWTUI_API_TOKEN": "", "MY_TOKEN": "n"}) == "n"
    assert ServiceConfig().resolved_token({}) is None
    assert ServiceConfig(token=SecretStr("")).resolved_token({}) is None


def test_token_resolution_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAWTUI_API_TOKEN", "env-token")
    assert ServiceConfig().resolved_token() == "env-token"


def test_secrets_stay_out_of_repr_and_errors(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", "[service]\ntoken = 'hunter2-very-secret'\n")
    loaded = load_settings(path, use_state=False)
    assert loaded.service.resolved_token({}) == "hunter2-very-secret"
    for shown in (repr(loaded), str(loaded), loaded.model_dump_json(), repr(loaded.service)):
        assert "hunter2" not in shown
    bad = write(tmp_path / "bad.toml", "[service]\ntoken = 123456789\n")
    [issue] = load_errors(bad)
    assert issue.key == "service.token"
    assert "123456789" not in str(issue)


# ---------------------------------------------------------------------------- finding the file


def test_find_config_order(tmp_path: Path) -> None:
    cwd = tmp_path / "cwd"
    xdg = tmp_path / "xdg"
    explicit = write(tmp_path / "explicit.toml", "")
    from_env = write(tmp_path / "env.toml", "")
    env = {"CLAWTUI_CONFIG": str(from_env), "XDG_CONFIG_HOME": str(xdg), "HOME": str(tmp_path)}
    cwd.mkdir()

    assert find_config(None, env={"XDG_CONFIG_HOME": str(xdg)}, cwd=cwd) is None
    in_xdg = write(xdg / "clawtui" / "config.toml", "")
    assert find_config(None, env={"XDG_CONFIG_HOME": str(xdg)}, cwd=cwd) == in_xdg
    in_cwd = write(cwd / "config.toml", "")
    assert find_config(None, env={"XDG_CONFIG_HOME": str(xdg)}, cwd=cwd) == in_cwd
    assert find_config(None, env=env, cwd=cwd) == from_env
    assert find_config(explicit, env=env, cwd=cwd) == explicit


def test_find_config_named_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        find_config(tmp_path / "missing.toml", env={}, cwd=tmp_path)
    with pytest.raises(ConfigError, match="CLAWTUI_CONFIG"):
        find_config(None, env={"CLAWTUI_CONFIG": str(tmp_path / "gone.toml")}, cwd=tmp_path)


# ---------------------------------------------------------------------------- runtime layering


CONFIG_TEXT = """\
# my hand-written config; clawtui must never touch it
[tui]
theme = "clawtui-dark"   # the house theme

[keymap]
panel.fleet = "1"
"panel.memory" = "2"
"""


def test_state_file_layers_over_config(tmp_path: Path) -> None:
    config_path = write(tmp_path / "config.toml", CONFIG_TEXT)
    state = write(
        tmp_path / "state.toml",
        """
        [tui]
        theme = "nord"
        [keymap]
        "panel.fleet" = "f1"
        "panel.pools" = "3"
        """,
    )
    loaded = load_settings(config_path, state_file=state)
    assert loaded.tui.theme == "nord"
    assert loaded.tui.mouse is True
    assert loaded.keymap == {"panel.fleet": "f1", "panel.memory": "2", "panel.pools": "3"}
    assert loaded.state_file == state
    assert loaded.warnings == []
    assert load_settings(config_path, state_file=state, use_state=False).tui.theme == (
        "clawtui-dark"
    )


def test_state_file_defaults_to_xdg_state(tmp_path: Path) -> None:
    write(state_file_path(), "[tui]\ntheme = 'nord'\n")
    assert state_file_path() == tmp_path / "state" / "clawtui" / "settings.toml"
    assert load_settings().tui.theme == "nord"


@pytest.mark.parametrize(
    ("state_text", "key"),
    [
        ("[tui\ntheme = 'x'", "(syntax)"),
        ("[tui]\ntheme = 7\n", "tui.theme"),
        ("[tui]\nfont = 'x'\n", "tui.font"),
    ],
)
def test_broken_state_file_only_warns(tmp_path: Path, state_text: str, key: str) -> None:
    config_path = write(tmp_path / "config.toml", CONFIG_TEXT)
    state = write(tmp_path / "state.toml", state_text)
    loaded = load_settings(config_path, state_file=state)
    assert loaded.tui.theme == "clawtui-dark"
    [warning] = loaded.warnings
    assert warning.file == str(state)
    assert warning.key == key
    assert check_config(config_path, state_file=state) == [warning]


def test_config_errors_win_over_a_state_file(tmp_path: Path) -> None:
    """A broken config.toml is an error even when the state file would override the key."""
    config_path = write(tmp_path / "config.toml", "[tui]\ntheme = 5\n")
    state = write(tmp_path / "state.toml", "[tui]\ntheme = 'nord'\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config_path, state_file=state)
    [issue] = caught.value.issues
    assert (issue.file, issue.key) == (str(config_path), "tui.theme")


def test_check_config_reports_both_files(tmp_path: Path) -> None:
    config_path = write(tmp_path / "config.toml", "[engine]\nbogus = 1\n")
    state = write(tmp_path / "state.toml", "[tui]\nmouse = 'yes'\n")
    issues = check_config(config_path, state_file=state)
    assert [(issue.file, issue.key) for issue in issues] == [
        (str(config_path), "engine.bogus"),
        (str(state), "tui.mouse"),
    ]
    assert check_config(None, state_file=tmp_path / "none.toml") == []


def test_save_runtime_settings_round_trip(tmp_path: Path) -> None:
    config_path = write(tmp_path / "config.toml", CONFIG_TEXT)
    before = config_path.read_bytes()
    state = tmp_path / "state" / "settings.toml"

    assert save_runtime_settings({"tui": {"theme": "nord"}}, state_file=state) == state
    save_runtime_settings({"keymap": {"panel.fleet": "f1"}}, state_file=state)
    text = state.read_text()
    assert text.startswith(STATE_FILE_HEADER)
    assert "panel.fleet" in text

    loaded = load_settings(config_path, state_file=state)
    assert loaded.tui.theme == "nord"
    assert loaded.keymap == {"panel.fleet": "f1", "panel.memory": "2"}
    assert config_path.read_bytes() == before

    save_runtime_settings({"tui": {"theme": None}}, state_file=state)
    loaded = load_settings(config_path, state_file=state)
    assert loaded.tui.theme == "clawtui-dark"
    assert loaded.keymap["panel.fleet"] == "f1"
    assert "[tui]" not in state.read_text()
    assert config_path.read_bytes() == before


def test_save_runtime_settings_defaults_to_state_file_path() -> None:
    written = save_runtime_settings({"tui": {"mouse": False}})
    assert written == state_file_path()
    assert load_settings().tui.mouse is False


def test_save_runtime_settings_rejects_bad_changes(tmp_path: Path) -> None:
    state = write(tmp_path / "state.toml", "[tui]\ntheme = 'nord'\n")
    before = state.read_bytes()
    with pytest.raises(ConfigError) as caught:
        save_runtime_settings({"tui": {"theme": 3, "colour": "x"}}, state_file=state)
    assert {issue.key for issue in caught.value.issues} == {"tui.theme", "tui.colour"}
    assert state.read_bytes() == before


def test_save_runtime_settings_sets_aside_a_broken_state_file(tmp_path: Path) -> None:
    state = write(tmp_path / "state.toml", "[tui\nbroken")
    save_runtime_settings({"tui": {"theme": "nord"}}, state_file=state)
    assert (tmp_path / "state.toml.broken").read_text() == "[tui\nbroken"
    assert load_settings(state_file=state).tui.theme == "nord"


def test_config_modules_do_not_import_textual_or_rich() -> None:
    code = (
        "import sys, clawtui.config, clawtui.fsutil; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')]; "
        "sys.exit(f'imported {bad}' if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=False
    )
    assert result.returncode == 0, result.stderr


def test_host_tls_files_make_a_tls_client_and_must_be_consistent(tmp_path: Path) -> None:
    from docker.tls import TLSConfig

    from clawtui.config import HostConfig

    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("x")
    host = HostConfig(
        name="gpu",
        url="tcp://127.0.0.1:2376",
        tls_ca=tmp_path / "ca.pem",
        tls_cert=tmp_path / "cert.pem",
        tls_key=tmp_path / "key.pem",
    )
    kwargs = host.docker_client_kwargs()
    tls = kwargs["tls"]
    assert isinstance(tls, TLSConfig)
    assert tls.cert == (str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"))
    assert tls.ca_cert == str(tmp_path / "ca.pem") and tls.verify is True
    assert "tls" not in HostConfig(name="plain", url="tcp://127.0.0.1:2375").docker_client_kwargs()
    with pytest.raises(ValueError, match="tls_cert and tls_key together"):
        HostConfig(name="half", url="tcp://h:2376", tls_cert=tmp_path / "cert.pem")
    with pytest.raises(ValueError, match="only to tcp:// or https://"):
        HostConfig(name="sock", url="unix:///var/run/docker.sock", tls_ca=tmp_path / "ca.pem")
