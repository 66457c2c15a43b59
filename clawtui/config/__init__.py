"""The settings of clawtui: the models of config.toml, and how they are found, loaded and saved.

Two files make up the settings a process runs with:

* `config.toml`, written by a person (with comments), found by `find_config`. clawtui never
  writes it.
* the runtime settings file (`state_file_path()`, `$XDG_STATE_HOME/clawtui/settings.toml`),
  written by clawtui when the admin changes something from the TUI (theme, key bindings, ...).
  `load_settings` layers it over config.toml: tables merge key by key, arrays and plain values
  replace.

Loading never lets a traceback out. Every problem of a file is reported at once as a
`ConfigIssue` (file, line when known, key path such as `hosts[1].url`, message), gathered in a
`ConfigError`. A broken runtime settings file does not stop start-up: it is ignored and its
issues land on `Settings.warnings`.

Adding a section: subclass `Section` (strict types, unknown keys rejected), give every field a
`Field(description=...)`, and add one field to `Settings` with `default_factory`. Nothing else
in this module needs to change: error key paths, "did you mean" hints, layering and saving all
work from the models.

This module must never import textual or rich (an import-linter contract checks it).
"""

from __future__ import annotations

from clawtui.config.attach import AttachConfig
from clawtui.config.base import (
    API_TOKEN_ENV,
    MAX_CONFIG_BYTES,
    STATE_FILE_HEADER,
    ByteSize,
    ConfigError,
    ConfigIssue,
    ConfigPath,
    Section,
    parse_size,
)
from clawtui.config.devboxes import DevboxesConfig
from clawtui.config.loader import (
    check_config,
    find_config,
    load_settings,
    save_runtime_settings,
    state_file_path,
)
from clawtui.config.notify import MemoryConfig, NotifyConfig, TelegramConfig, WebhookConfig
from clawtui.config.sections import EngineConfig, HostConfig, ServiceConfig, TuiConfig, split_listen
from clawtui.config.settings import Settings
from clawtui.fsutil import CONFIG_ENV

__all__ = [
    "API_TOKEN_ENV",
    "CONFIG_ENV",
    "MAX_CONFIG_BYTES",
    "STATE_FILE_HEADER",
    "AttachConfig",
    "ByteSize",
    "ConfigError",
    "ConfigIssue",
    "ConfigPath",
    "DevboxesConfig",
    "EngineConfig",
    "HostConfig",
    "MemoryConfig",
    "NotifyConfig",
    "Section",
    "ServiceConfig",
    "Settings",
    "TelegramConfig",
    "TuiConfig",
    "WebhookConfig",
    "check_config",
    "find_config",
    "load_settings",
    "parse_size",
    "save_runtime_settings",
    "split_listen",
    "state_file_path",
]
