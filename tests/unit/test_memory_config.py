"""`[memory]` and `[notify]` in config.toml: the documented example is valid, mistakes are
reported with their key and without revealing secrets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clawtui.config import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024


def test_example_sections_in_config_toml_are_valid(tmp_path: Path) -> None:
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    start, end = text.index("[memory]\n"), text.index("# One [[hosts]] table")
    block = "\n".join(
        re.sub(r"^# (\[|[a-z_]+ = )", r"\1", line) for line in text[start:end].split("\n")
    )
    path = tmp_path / "config.toml"
    path.write_text(text[:start] + block + text[end:], encoding="utf-8")
    settings = load_settings(path, use_state=False)
    assert settings.memory.floor == 256 * MIB and settings.memory.step == 64 * MIB
    assert settings.notify.telegram is not None and settings.notify.telegram.chat_id < 0
    assert settings.notify.webhook is not None
    assert settings.notify.webhook.secret_header == "X-Clawtui-Secret"
    assert [t.id for t in settings.threads.threads] == [2]  # every commented example is valid


def test_mistakes_are_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        "[memory]\nfloor = '1m'\nstep = 'big'\nwarn_ratio = 0.5\n"
        "[notify]\nretries = 99\n"
        "[notify.telegram]\nchat_id = 1\nbot_token = 'hunter2-secret'\napi_base = 'ftp://x'\n"
        "[notify.webhook]\nurl = 'hooks.example.com'\nsecret_header = 'bad header'\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path, use_state=False)
    text = str(caught.value)
    for key in (
        "memory.floor", "memory.step", "memory.warn_ratio", "notify.retries",
        "notify.telegram.api_base", "notify.webhook.url", "notify.webhook.secret_header",
    ):  # fmt: skip
        assert key in text, key
    assert "hunter2-secret" not in text


def test_telegram_needs_a_token(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[notify.telegram]\nchat_id = '@ops'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"notify\.telegram: set bot_token_env"):
        load_settings(path, use_state=False)
