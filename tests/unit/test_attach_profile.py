"""The attach profile cache: what it keys on, and that a damaged cache is only ever a miss."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from clawtui.config import load_settings
from clawtui.terminal import profile as attach_profile
from clawtui.terminal.profile import AttachProfile, profile_key


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "HOME": str(tmp_path / "home"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        "[attach]\nsession = 'work'\nusername = 'me'\nuse_agent = false\n"
        "identity_file = '/keys/id'\n[devboxes]\nbind_address = '0.0.0.0'\n"
        "[[hosts]]\nname = 'far'\nurl = 'tcp://10.0.0.7:2376'\ntimeout = 7\n"
    )
    return path


def test_profile_from_settings_and_json_round_trip(config: Path) -> None:
    settings = load_settings(config, use_state=False)
    profile = AttachProfile.from_settings(settings)
    assert profile.session == "work" and profile.username == "me" and not profile.use_agent
    assert profile.identity_file == Path("/keys/id") and profile.bind_address == "0.0.0.0"
    assert profile.known_hosts == settings.engine.resolved_state_dir / "known_hosts"
    far = profile.host("far")
    assert far is not None and not far.is_local and far.timeout == 7.0
    assert AttachProfile.from_json(json.loads(json.dumps(profile.to_json()))) == profile


def test_key_follows_every_input(config: Path, env: dict[str, str], tmp_path: Path) -> None:
    key = profile_key(config, env)
    assert key is not None and key == profile_key(config, env)
    # config bytes (even a comment: the cache never guesses what a change means)
    config.write_text(config.read_text() + "# note\n")
    edited = profile_key(config, env)
    assert edited not in (None, key)
    # the runtime settings file appearing, then changing
    runtime = tmp_path / "state" / "clawtui" / "settings.toml"
    runtime.parent.mkdir(parents=True)
    runtime.write_text("[attach]\nsession = 'x'\n")
    with_runtime = profile_key(config, env)
    assert with_runtime not in (None, edited)
    runtime.write_text("[attach]\nsession = 'y'\n")
    assert profile_key(config, env) not in (None, with_runtime)
    # the environment that steers loading; unrelated variables do not matter
    base = profile_key(config, env)
    assert profile_key(config, {**env, "CLAWTUI_API_TOKEN": "t"}) != base
    assert profile_key(config, {**env, "HOME": "/elsewhere"}) != base
    assert profile_key(config, {**env, "LANG": "C"}) == base
    # which config is in effect
    other = tmp_path / "other.toml"
    other.write_text(config.read_text())
    assert profile_key(other, env) != base
    assert profile_key(None, env) != base


def test_store_load_and_damaged_caches_are_misses(config: Path, env: dict[str, str]) -> None:
    profile = AttachProfile.from_settings(load_settings(config, use_state=False))
    key = profile_key(config, env)
    assert attach_profile.load(key, env) is None  # nothing cached yet
    attach_profile.store(key, profile, env)
    path = attach_profile.cache_path(env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert attach_profile.load(key, env) == profile
    assert attach_profile.load("another-key", env) is None
    assert attach_profile.load(None, env) is None
    doc = json.loads(path.read_text())
    for damage in (
        "not json",
        json.dumps([1, 2]),
        json.dumps({"key": key, "profile": {**doc["profile"], "use_agent": "yes"}}),
        json.dumps({"key": key, "profile": {**doc["profile"], "hosts": [{"name": 1}]}}),
        json.dumps({"key": key}),
        "x" * (300 << 10),
    ):
        path.write_text(damage)
        assert attach_profile.load(key, env) is None, damage[:60]


def test_unreadable_or_huge_config_is_never_cached(tmp_path: Path, env: dict[str, str]) -> None:
    huge = tmp_path / "huge.toml"
    huge.write_bytes(b"#" * (5 << 20))
    assert profile_key(huge, env) is None
    assert attach_profile.load(profile_key(huge, env), env) is None
    folder = tmp_path / "a-folder.toml"
    folder.mkdir()
    assert profile_key(folder, env) is None
