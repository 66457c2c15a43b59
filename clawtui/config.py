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

import contextlib
import difflib
import ipaddress
import os
import re
import stat
import tomllib
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Final, Union, get_args, get_origin

import tomli_w
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from clawtui.fsutil import (
    UTF8_BOM,
    atomic_write,
    read_bytes_capped,
    xdg_config_dir,
    xdg_state_dir,
)

__all__ = [
    "API_TOKEN_ENV",
    "CONFIG_ENV",
    "MAX_CONFIG_BYTES",
    "STATE_FILE_HEADER",
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

KIB: Final = 1 << 10
MIB: Final = 1 << 20
GIB: Final = 1 << 30

MAX_CONFIG_BYTES: Final = 4 * MIB
"""A config or runtime settings file larger than this is refused, not read."""

CONFIG_ENV: Final = "CLAWTUI_CONFIG"
"""Environment variable naming the config file (after `--config`, before `./config.toml`)."""

API_TOKEN_ENV: Final = "CLAWTUI_API_TOKEN"
"""Environment variable holding the service's API token; it wins over the config file."""

STATE_FILE_HEADER: Final = "# written by clawtui; edit config.toml instead\n"
"""First line of the runtime settings file (tomli-w cannot write comments)."""

FILE_KEY: Final = "(file)"
"""`ConfigIssue.key` of problems with the file itself: missing, unreadable, too large."""

SYNTAX_KEY: Final = "(syntax)"
"""`ConfigIssue.key` of problems that stop the file from being parsed as TOML."""


# --------------------------------------------------------------------------------------------
# Errors


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in one settings file."""

    file: str
    """The file, as given (a path)."""
    key: str
    """Where in the file: a key path like `hosts[1].url`, or `(file)` / `(syntax)`."""
    message: str
    """What is wrong, and when possible what to do about it."""
    line: int | None = None
    """The 1-based line the problem is on, when known."""

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.key}: {self.message}"


class ConfigError(Exception):
    """Settings could not be loaded; `issues` holds every problem found, in file order."""

    def __init__(self, issues: Iterable[ConfigIssue]) -> None:
        self.issues: list[ConfigIssue] = list(issues)
        super().__init__(self.issues)

    def __str__(self) -> str:
        return "\n".join(str(issue) for issue in self.issues)


# --------------------------------------------------------------------------------------------
# Value types

_SIZE_RE = re.compile(
    r"(?P<num>\d+(?:\.\d+)?|\.\d+)\s*(?P<unit>(?P<prefix>[kmgtp])(?:i?b)?|b)?",
    re.IGNORECASE,
)
_SIZE_UNITS: Final = {"b": 1, "k": KIB, "m": MIB, "g": GIB, "t": 1 << 40, "p": 1 << 50}
_MAX_SIZE: Final = (1 << 63) - 1


def parse_size(value: int | str) -> int:
    """Return a number of bytes from an int or a text like "2g", "512MiB", "1.5g", "1024".

    Units are binary whatever their spelling: k, kb, kib = 1024; m = 1024², g, t, p likewise;
    case does not matter, and a space may separate number and unit. A fraction is allowed
    with a unit ("1.5g") and rounded down to whole bytes. Raises `ValueError` with a message
    fit for a person on negatives, bools, junk and sizes beyond 2⁶³-1.
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(
            "expected a size: a whole number of bytes or text like '512m' or '2g', "
            f"got {_describe(value)}"
        )
    if isinstance(value, int):
        size = value
    else:
        text = value.strip()
        match = _SIZE_RE.fullmatch(text)
        if match is None:
            if text.startswith("-"):
                raise ValueError(f"a size cannot be negative, got {value!r}")
            raise ValueError(
                f"invalid size {value!r}: use a number of bytes or a number with a unit, "
                "like '64k', '512m', '2g' or '1.5GiB'"
            )
        prefix = (match["prefix"] or "b").lower()
        scaled = Fraction(match["num"]) * _SIZE_UNITS[prefix]
        if scaled.denominator != 1 and prefix == "b":
            raise ValueError(f"a number of bytes must be whole, got {value!r}")
        size = int(scaled)
    if size < 0:
        raise ValueError(f"a size cannot be negative, got {value!r}")
    if size > _MAX_SIZE:
        raise ValueError(f"size {value!r} is too large (the limit is 2^63-1 bytes)")
    return size


def _size_before(value: Any) -> int:
    # TOML writes 2e9 as a float; accept it when it is a whole number of bytes.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return parse_size(value)


ByteSize = Annotated[int, BeforeValidator(_size_before)]
"""An int of bytes that config files may write as 1073741824, "1g" or "1GiB" (`parse_size`)."""


def _to_path(value: Any) -> Any:
    if isinstance(value, str):
        if not value.strip():
            raise ValueError("a path cannot be empty")
        return Path(value)
    return value


def _expand_path(value: Path, info: ValidationInfo) -> Path:
    value = value.expanduser()
    base = info.context.get("base_dir") if isinstance(info.context, dict) else None
    if not value.is_absolute() and isinstance(base, Path):
        value = base / value
    return value


ConfigPath = Annotated[Path, BeforeValidator(_to_path), AfterValidator(_expand_path)]
"""A path: `~` is expanded; a relative path is taken from the folder of the config file."""


def _check_key_binding(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("a key binding cannot be empty: write keys like 'f1' or 'ctrl+q,1'")
    return value


KeyBinding = Annotated[str, AfterValidator(_check_key_binding)]


# --------------------------------------------------------------------------------------------
# Models


class Section(BaseModel):
    """Base of every settings model: unknown keys are errors, types are strict.

    TOML values are typed, so strict validation catches `port = "8770"` or `mouse = 1` instead
    of guessing. Assignments are validated too, so the TUI cannot set a bad value at run time.
    """

    model_config = ConfigDict(extra="forbid", strict=True, validate_assignment=True)


_HOST_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_DOCKER_SCHEMES: Final = ("unix", "tcp", "ssh", "http", "https")


class HostConfig(Section):
    """One Docker host the engine manages (`[[hosts]]`)."""

    name: str = Field(
        default="local",
        description="Short unique name of the host, shown in the TUI and used in the API "
        "(1-63 letters, digits, '_', '.', '-'; starts with a letter or digit).",
    )
    url: str = Field(
        default="unix:///var/run/docker.sock",
        description="Where the Docker Engine API listens: unix:///path/to/docker.sock, "
        "tcp://host:2376, ssh://user@host, http:// or https:// (e.g. a socket proxy).",
    )
    memory_reserve: ByteSize = Field(
        default=2 * GIB,
        ge=0,
        description="Memory kept for the host OS: the sum of container memory limits may not "
        "exceed the host's RAM minus this. A size such as '2g' or a number of bytes.",
    )
    cgroup_root: str | None = Field(
        default="/sys/fs/cgroup",
        description="Where the engine may read container cgroup files directly (faster stats "
        "on a local host). Empty or absent disables direct reads.",
    )
    tls_verify: bool = Field(
        default=True,
        description="Verify the TLS certificate of tcp:// and https:// hosts.",
    )
    timeout: float = Field(
        default=10.0,
        ge=1,
        le=120,
        description="Seconds to wait for one Docker API call before giving up (1-120).",
    )

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _HOST_NAME_RE.fullmatch(value):
            raise ValueError(
                f"invalid host name {value!r}: use 1 to 63 letters, digits, '_', '.' or '-', "
                "starting with a letter or digit"
            )
        return value

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        accepted = ", ".join(f"{scheme}://" for scheme in _DOCKER_SCHEMES)
        scheme, sep, rest = value.partition("://")
        if not sep or scheme.lower() not in _DOCKER_SCHEMES:
            raise ValueError(f"unsupported Docker URL {value!r}: it must start with {accepted}")
        if not rest or any(char.isspace() for char in value):
            raise ValueError(f"invalid Docker URL {value!r}: an address must follow {scheme}://")
        scheme = scheme.lower()
        if scheme == "unix" and not rest.startswith("/"):
            raise ValueError(
                f"invalid Docker URL {value!r}: a unix:// URL needs an absolute socket path, "
                "like unix:///var/run/docker.sock"
            )
        return f"{scheme}://{rest}"

    @field_validator("cgroup_root", mode="before")
    @classmethod
    def _empty_cgroup_root(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @property
    def is_local(self) -> bool:
        """Whether the host is reached through a local unix socket."""
        return self.url.startswith("unix://")


class EngineConfig(Section):
    """How the engine samples, reconnects and keeps its state (`[engine]`)."""

    stats_interval: float = Field(
        default=1.0,
        ge=0.1,
        le=60,
        description="Seconds between two samples of container stats (0.1-60).",
    )
    state_dir: ConfigPath | None = Field(
        default=None,
        description="Folder for the engine's database and runtime files; absent means "
        "$XDG_STATE_HOME/clawtui (~/.local/state/clawtui).",
    )
    reconnect_max_backoff: float = Field(
        default=5.0,
        ge=0.5,
        le=300,
        description="Longest wait, in seconds, between two attempts to reconnect to a lost "
        "Docker host (0.5-300); waits grow up to this.",
    )
    event_log_keep_days: int = Field(
        default=14,
        ge=1,
        le=3650,
        description="Days of events the engine keeps in its database (1-3650).",
    )

    @property
    def resolved_state_dir(self) -> Path:
        """`state_dir`, or the XDG state folder when it is not set."""
        return self.state_dir if self.state_dir is not None else xdg_state_dir()

    @property
    def db_path(self) -> Path:
        """The engine's SQLite database."""
        return self.resolved_state_dir / "clawtui.db"


_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def split_listen(value: str) -> tuple[str, int]:
    """Split "HOST:PORT" or "[IPv6]:PORT"; raise ValueError with a message for a person.

    Used for `[service] listen` and for `clawtui serve --listen`.
    """
    example = "like '127.0.0.1:8770' or '[::1]:8770'"
    if any(char.isspace() for char in value):
        raise ValueError(f"invalid listen address {value!r}: no spaces allowed, {example}")
    if value.startswith("["):
        host, sep, port_text = value[1:].partition("]:")
        if not sep:
            raise ValueError(f"invalid listen address {value!r}: expected {example}")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(
                f"invalid listen address {value!r}: {host!r} is not an IPv6 address"
            ) from None
    else:
        host, sep, port_text = value.rpartition(":")
        if not sep:
            raise ValueError(f"invalid listen address {value!r}: a port is missing, {example}")
        if ":" in host:
            raise ValueError(
                f"invalid listen address {value!r}: put an IPv6 address in brackets, {example}"
            )
    if not host:
        raise ValueError(f"invalid listen address {value!r}: a host is missing, {example}")
    if not port_text.isdigit() or not port_text.isascii():
        raise ValueError(f"invalid listen address {value!r}: the port must be a number")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError(f"invalid listen address {value!r}: the port must be 1-65535")
    return host, port


_split_listen = split_listen  # the name clawtui.cli imported first


class ServiceConfig(Section):
    """The headless HTTP service: REST API, webhooks, relay, metrics (`[service]`)."""

    listen: str = Field(
        default="127.0.0.1:8770",
        description="Address the service listens on, 'HOST:PORT' or '[IPv6]:PORT'.",
    )
    token: SecretStr | None = Field(
        default=None,
        description="API token clients must send. Prefer `token_env` or the "
        "CLAWTUI_API_TOKEN environment variable over writing it in a file.",
    )
    token_env: str | None = Field(
        default=None,
        description="Name of an environment variable that holds the API token.",
    )
    max_body_bytes: ByteSize = Field(
        default=1 * MIB,
        ge=1 * KIB,
        le=64 * MIB,
        description="Largest request body the service accepts (1 KiB - 64 MiB), "
        "e.g. '1m' or 1048576.",
    )
    serve_in_tui: bool = Field(
        default=False,
        description="Also run the service inside the TUI process (`clawtui` alone).",
    )
    sse_heartbeat: float = Field(
        default=15.0,
        ge=1,
        le=300,
        description="Seconds between keep-alive comments on the event stream (1-300).",
    )

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        split_listen(value)
        return value

    @field_validator("token_env")
    @classmethod
    def _check_token_env(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME_RE.fullmatch(value):
            raise ValueError(
                f"invalid environment variable name {value!r}: use letters, digits and '_', "
                "not starting with a digit"
            )
        return value

    @property
    def host_port(self) -> tuple[str, int]:
        """`listen` split into host (without IPv6 brackets) and port."""
        return split_listen(self.listen)

    def resolved_token(self, env: Mapping[str, str] | None = None) -> str | None:
        """The API token in effect, or None when the service runs without one.

        Order: $CLAWTUI_API_TOKEN when set and not empty; else the variable named by
        `token_env` when set and not empty; else `token`. `env` replaces `os.environ`.
        """
        environ = os.environ if env is None else env
        from_env = environ.get(API_TOKEN_ENV, "")
        if from_env:
            return from_env
        if self.token_env:
            named = environ.get(self.token_env, "")
            if named:
                return named
        if self.token is not None and self.token.get_secret_value():
            return self.token.get_secret_value()
        return None


class TuiConfig(Section):
    """The look and feel of the terminal UI (`[tui]`)."""

    theme: str = Field(
        default="clawtui-dark",
        min_length=1,
        description="Name of the theme: a built-in Textual theme or one in the themes folder.",
    )
    themes_dir: ConfigPath | None = Field(
        default=None,
        description="Extra folder of theme files (*.toml); absent means only the themes "
        "shipped with clawtui.",
    )
    mouse: bool = Field(
        default=True,
        description="Let the TUI use the mouse (turn off to select text with the terminal).",
    )


_HTTP_SCHEMES: Final = ("http://", "https://")


def _check_http_url(value: str, what: str) -> str:
    value = value.strip()
    if not value.lower().startswith(_HTTP_SCHEMES) or len(value) <= len("https://"):
        raise ValueError(f"invalid {what} {value!r}: it must start with http:// or https://")
    if any(char.isspace() for char in value):
        raise ValueError(f"invalid {what} {value!r}: no spaces allowed")
    return value


def _check_env_name(value: str | None) -> str | None:
    if value is not None and not _ENV_NAME_RE.fullmatch(value):
        raise ValueError(
            f"invalid environment variable name {value!r}: use letters, digits and '_', "
            "not starting with a digit"
        )
    return value


def _secret_from(
    secret: SecretStr | None, env_name: str | None, env: Mapping[str, str] | None
) -> str | None:
    environ = os.environ if env is None else env
    if env_name and environ.get(env_name):
        return environ[env_name]
    if secret is not None and secret.get_secret_value():
        return secret.get_secret_value()
    return None


class MemoryConfig(Section):
    """Rules of live memory rebalancing (`[memory]`); budgets: `hosts[].memory_reserve`."""

    floor: ByteSize = Field(
        default=256 * MIB,
        ge=6 * MIB,
        description="Lowest memory limit the engine sets on a container (Docker's own minimum "
        "is 6 MiB), e.g. '256m'.",
    )
    step: ByteSize = Field(
        default=64 * MIB,
        ge=1 * MIB,
        le=1 * GIB,
        description="New limits must be multiples of this (the TUI slider snaps to it), "
        "e.g. '64m'. A limit left at its current value is always accepted.",
    )
    warn_ratio: float = Field(
        default=1.25,
        ge=1.0,
        le=10.0,
        description="Warn when a new limit is below this many times the container's current "
        "memory use (1.0-10.0).",
    )
    batch_wait: float = Field(
        default=10.0,
        ge=0,
        le=300,
        description="Seconds a batch waits for another batch on the same host to finish "
        "before it is refused as 'batch in flight' (0-300).",
    )


class TelegramConfig(Section):
    """The Telegram Bot API channel of the notifier (`[notify.telegram]`)."""

    bot_token: SecretStr | None = Field(
        default=None,
        description="The bot's token from @BotFather. Prefer `bot_token_env`.",
    )
    bot_token_env: str | None = Field(
        default=None,
        description="Name of an environment variable that holds the bot token.",
    )
    chat_id: int | str = Field(
        description="The chat to post to: a number such as -1001234567890, or '@channelname'.",
    )
    message_thread_id: int | None = Field(
        default=None,
        description="Topic (forum thread) of the chat to post in; absent: the main thread.",
    )
    api_base: str = Field(
        default="https://api.telegram.org",
        description="Base URL of the Bot API (change only for a self-hosted Bot API server).",
    )

    @field_validator("bot_token_env")
    @classmethod
    def _check_token_env(cls, value: str | None) -> str | None:
        return _check_env_name(value)

    @field_validator("api_base")
    @classmethod
    def _check_api_base(cls, value: str) -> str:
        return _check_http_url(value, "API base URL").rstrip("/")

    @model_validator(mode="after")
    def _needs_a_token(self) -> TelegramConfig:
        if self.bot_token is None and self.bot_token_env is None:
            raise ValueError("set bot_token_env (or bot_token): the bot's token is required")
        return self

    def resolved_token(self, env: Mapping[str, str] | None = None) -> str | None:
        """The bot token: the variable named by `bot_token_env` when set, else `bot_token`."""
        return _secret_from(self.bot_token, self.bot_token_env, env)


class WebhookConfig(Section):
    """A generic webhook channel of the notifier (`[notify.webhook]`): JSON POSTed to a URL."""

    url: str = Field(description="Where to POST each notification (http:// or https://).")
    secret: SecretStr | None = Field(
        default=None,
        description="Shared secret sent in `secret_header` so the receiver can trust the "
        "sender. Prefer `secret_env`.",
    )
    secret_env: str | None = Field(
        default=None,
        description="Name of an environment variable that holds the shared secret.",
    )
    secret_header: str = Field(
        default="X-Clawtui-Secret",
        pattern=r"^[A-Za-z0-9-]{1,64}$",
        description="HTTP header that carries the shared secret.",
    )

    @field_validator("secret_env")
    @classmethod
    def _check_secret_env(cls, value: str | None) -> str | None:
        return _check_env_name(value)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _check_http_url(value, "webhook URL")

    def resolved_secret(self, env: Mapping[str, str] | None = None) -> str | None:
        """The shared secret: the variable named by `secret_env` when set, else `secret`."""
        return _secret_from(self.secret, self.secret_env, env)


class NotifyConfig(Section):
    """Where the engine tells people about changes it made (`[notify]`).

    Every notification is logged; Telegram and the webhook are used when configured. Sending
    happens in the background with retries and never delays or fails the change itself.
    """

    telegram: TelegramConfig | None = Field(
        default=None, description="Post notifications to a Telegram chat."
    )
    webhook: WebhookConfig | None = Field(
        default=None, description="POST notifications as JSON to a URL."
    )
    retries: int = Field(
        default=4,
        ge=0,
        le=10,
        description="Retries of a failed send before it is given up and counted (0-10).",
    )
    backoff: float = Field(
        default=1.0,
        ge=0.01,
        le=60,
        description="Seconds before the first retry; each next wait doubles (0.01-60).",
    )
    backoff_max: float = Field(
        default=30.0,
        ge=0.01,
        le=600,
        description="Longest wait between two retries, seconds (0.01-600).",
    )
    timeout: float = Field(
        default=10.0,
        ge=0.5,
        le=120,
        description="Seconds one HTTP request of a channel may take (0.5-120).",
    )
    drain_timeout: float = Field(
        default=5.0,
        ge=0,
        le=120,
        description="On engine stop, seconds to wait for pending sends before dropping them.",
    )
    max_pending: int = Field(
        default=100,
        ge=1,
        le=10_000,
        description="Sends in flight at most; beyond this new notifications are dropped "
        "(and counted) rather than piling up while a channel is down.",
    )


_PORT_RANGE_RE = re.compile(r"(\d{1,5})\s*-\s*(\d{1,5})")
_DEVBOX_RESERVED_ENV = re.compile(r"^(CLAWTUI_.*|PATH|HOME|USER|LOGNAME|SHELL|LD_.*)$")


def _check_env_names(names: Iterable[str]) -> None:
    for name in names:
        if not _ENV_NAME_RE.fullmatch(name):
            raise ValueError(
                f"invalid environment variable name {name!r}: use letters, digits and '_', "
                "not starting with a digit"
            )
        if _DEVBOX_RESERVED_ENV.fullmatch(name):
            raise ValueError(f"{name!r} is set by clawtui or the container; use another name")


class DevboxesConfig(Section):
    """Dev containers: one per developer, SSH into tmux, home on a named volume (`[devboxes]`)."""

    image: str = Field(
        default="clawtui/dev-container:1",
        min_length=1,
        description="Tag of the dev-container image; built from `build_context` when missing.",
    )
    build_context: ConfigPath | None = Field(
        default=None,
        description="Folder the image is built from (it holds `dockerfile`); absent means the "
        "docker/ folder of the clawtui source tree.",
    )
    dockerfile: str = Field(
        default="Dockerfile.dev-container",
        min_length=1,
        description="The Dockerfile, relative to `build_context`.",
    )
    build_args: dict[str, str] = Field(
        default_factory=dict,
        description='Build arguments, e.g. {INSTALL_CLAUDE = "1"} to install the Claude Code '
        'CLI, or {BASE = "debian:bookworm"} where a registry answers.',
    )
    build_timeout: float = Field(
        default=1800.0,
        ge=30,
        le=7200,
        description="Seconds one image build may stay silent before it is abandoned (30-7200).",
    )
    port_range: str = Field(
        default="2201-2299",
        description="Host ports from which each dev box's SSH port is picked, 'LOW-HIGH'.",
    )
    bind_address: str = Field(
        default="127.0.0.1",
        description="Host address the SSH ports are published on; 0.0.0.0 exposes them to "
        "the network.",
    )
    memory: ByteSize = Field(
        default=2 * GIB,
        ge=64 * MIB,
        description="Default memory limit of a dev box (swap is disabled: memory-swap equals "
        "it), e.g. '2g'.",
    )
    cpus: float = Field(
        default=2.0,
        gt=0,
        le=1024,
        description="Default number of CPUs a dev box may use (may be fractional, e.g. 1.5).",
    )
    pids_limit: int = Field(
        default=512,
        ge=32,
        le=4_194_304,
        description="Most processes a dev box may run (workers use 100; a developer with "
        "tmux, an editor and a build needs more).",
    )
    validate_keys: bool = Field(
        default=True,
        description="Accept only OpenSSH public keys (ssh-ed25519, ssh-rsa, ecdsa-sha2-*, sk-*) "
        "for authorized_keys; off accepts any printable text.",
    )
    ready_timeout: float = Field(
        default=60.0,
        ge=1,
        le=600,
        description="Seconds to wait for sshd to answer in a new dev box (1-600).",
    )
    network: str | None = Field(
        default=None,
        description="Docker network to attach dev boxes to (e.g. the one the credential "
        "broker is on); absent means Docker's default bridge.",
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Environment of every dev box, e.g. {CREDENTIAL_BROKER_URL = "
        '"http://broker:3000"}; SSH login shells see these variables too.',
    )
    env_passthrough: list[str] = Field(
        default_factory=list,
        description="Names of variables copied from clawtui's own environment into every dev "
        'box when set, e.g. ["BROKER_SECRET"], so secrets stay out of this file.',
    )
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="Extra labels on every dev container and home volume.",
    )

    @field_validator("port_range")
    @classmethod
    def _check_port_range(cls, value: str) -> str:
        _port_bounds(value)
        return value

    @field_validator("bind_address")
    @classmethod
    def _check_bind_address(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(
                f"invalid bind address {value!r}: use an IP address like 127.0.0.1 or 0.0.0.0"
            ) from None
        return value

    @field_validator("env")
    @classmethod
    def _check_env(cls, value: dict[str, str]) -> dict[str, str]:
        _check_env_names(value)
        return value

    @field_validator("env_passthrough")
    @classmethod
    def _check_env_passthrough(cls, value: list[str]) -> list[str]:
        _check_env_names(value)
        return value

    @property
    def port_bounds(self) -> tuple[int, int]:
        """`port_range` as (low, high), both included."""
        return _port_bounds(self.port_range)


def _port_bounds(value: str) -> tuple[int, int]:
    match = _PORT_RANGE_RE.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"invalid port range {value!r}: write 'LOW-HIGH', like '2201-2299'")
    low, high = int(match[1]), int(match[2])
    if not 1 <= low <= high <= 65535:
        raise ValueError(
            f"invalid port range {value!r}: ports are 1-65535 and LOW may not exceed HIGH"
        )
    return low, high


_KEYMAP_MAX_DEPTH: Final = 16


def _flatten_keymap(value: Any) -> Any:
    """Turn `panel.fleet = "1"` (a nested table in TOML) into {"panel.fleet": "1"}.

    Binding ids contain dots; written without quotes, TOML reads them as nested tables.
    Values that are not tables are left for validation to report.
    """
    if not isinstance(value, Mapping):
        return value
    flat: dict[str, Any] = {}

    def walk(prefix: str, table: Mapping[str, Any], depth: int) -> None:
        if depth > _KEYMAP_MAX_DEPTH:
            raise ValueError("key map tables are nested too deep")
        for key, item in table.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(item, Mapping):
                walk(name, item, depth + 1)
            else:
                flat[name] = item

    walk("", value, 0)
    return flat


class Settings(Section):
    """Everything clawtui reads from config.toml (and the runtime settings file)."""

    engine: EngineConfig = Field(
        default_factory=EngineConfig,
        description="How the engine samples stats, reconnects and keeps its state.",
    )
    service: ServiceConfig = Field(
        default_factory=ServiceConfig,
        description="The headless HTTP service.",
    )
    tui: TuiConfig = Field(
        default_factory=TuiConfig,
        description="The terminal UI.",
    )
    keymap: dict[Annotated[str, Field(min_length=1)], KeyBinding] = Field(
        default_factory=dict,
        description='Key bindings by binding id, e.g. {"panel.fleet" = "1"}; a value may '
        "list several keys separated by commas.",
    )
    memory: MemoryConfig = Field(
        default_factory=MemoryConfig,
        description="Rules of live memory rebalancing.",
    )
    notify: NotifyConfig = Field(
        default_factory=NotifyConfig,
        description="Where the engine sends notifications (log, Telegram, webhook).",
    )
    devboxes: DevboxesConfig = Field(
        default_factory=DevboxesConfig,
        description="Dev containers reached over SSH.",
    )
    hosts: list[HostConfig] = Field(
        default_factory=lambda: [HostConfig()],
        min_length=1,
        description="The Docker hosts the engine manages; names must be unique.",
    )

    _source: Path | None = PrivateAttr(default=None)
    _state_file: Path | None = PrivateAttr(default=None)
    _warnings: list[ConfigIssue] = PrivateAttr(default_factory=list)

    @field_validator("keymap", mode="before")
    @classmethod
    def _flat_keymap(cls, value: Any) -> Any:
        return _flatten_keymap(value)

    @field_validator("hosts")
    @classmethod
    def _unique_host_names(cls, hosts: list[HostConfig]) -> list[HostConfig]:
        first: dict[str, int] = {}
        problems: list[str] = []
        for index, host in enumerate(hosts):
            if host.name in first:
                problems.append(
                    f"duplicate host name {host.name!r}: hosts[{first[host.name]}] and "
                    f"hosts[{index}] both use it"
                )
            else:
                first[host.name] = index
        if problems:
            raise ValueError("; ".join(problems))
        return hosts

    @property
    def source(self) -> Path | None:
        """The config.toml these settings were loaded from (None: built-in defaults)."""
        return self._source

    @property
    def state_file(self) -> Path | None:
        """The runtime settings file in effect (it may not exist yet); None when not used."""
        return self._state_file

    @property
    def warnings(self) -> list[ConfigIssue]:
        """Problems that did not stop loading, e.g. a broken runtime settings file."""
        return self._warnings

    def host(self, name: str) -> HostConfig | None:
        """The host called `name`, if any."""
        return next((host for host in self.hosts if host.name == name), None)


# --------------------------------------------------------------------------------------------
# Turning pydantic errors into issues


def _describe(value: Any) -> str:
    """A short description of a value for an error message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, str):
        text = repr(value)
        return text if len(text) <= 60 else text[:56] + "...'"
    if isinstance(value, int | float):
        return repr(value)
    return f"a {type(value).__name__}"


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated and Optional from a type."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin is Union or origin is types.UnionType:
            args = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _annotation_at(loc: tuple[str | int, ...]) -> Any:
    """The type of the setting at `loc` in `Settings`, or None when unknown."""
    annotation: Any = Settings
    for segment in loc:
        annotation = _unwrap(annotation)
        origin = get_origin(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(segment))
            if field is None:
                return None
            annotation = field.annotation
        elif origin is list and isinstance(segment, int):
            annotation = get_args(annotation)[0]
        elif origin is dict and isinstance(segment, str):
            annotation = get_args(annotation)[1]
        else:
            return None
    return _unwrap(annotation)


_SECRET_WORDS: Final = ("token", "secret", "password", "passwd")


def _is_secret(loc: tuple[str | int, ...]) -> bool:
    if _annotation_at(loc) is SecretStr:
        return True
    last = next((seg for seg in reversed(loc) if isinstance(seg, str)), "")
    return last != "token_env" and any(word in last.lower() for word in _SECRET_WORDS)


_BARE_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key_path(loc: tuple[str | int, ...]) -> str:
    """("hosts", 1, "url") -> "hosts[1].url"; keys that need it are quoted as in TOML."""
    out = ""
    for segment in loc:
        if isinstance(segment, int):
            out += f"[{segment}]"
        else:
            name = segment if _BARE_KEY_RE.fullmatch(segment) else f'"{segment}"'
            out += f".{name}" if out else name
    return out or "(top level)"


def _error_message(error: Mapping[str, Any], loc: tuple[str | int, ...]) -> str:
    kind: str = error["type"]
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    got = "a hidden value" if _is_secret(loc) else _describe(error.get("input"))
    if kind == "extra_forbidden":
        message = "unknown key: remove it or check its spelling"
        parent = _annotation_at(loc[:-1])
        if loc and isinstance(parent, type) and issubclass(parent, BaseModel):
            close = difflib.get_close_matches(str(loc[-1]), list(parent.model_fields), n=1)
            if close:
                message += f" (did you mean {close[0]!r}?)"
        return message
    simple = {
        "missing": "required key is missing",
        "int_type": f"expected a whole number, got {got}",
        "int_parsing": f"expected a whole number, got {got}",
        "int_from_float": f"expected a whole number, got {got}",
        "float_type": f"expected a number, got {got}",
        "float_parsing": f"expected a number, got {got}",
        "bool_type": f"expected true or false, got {got}",
        "bool_parsing": f"expected true or false, got {got}",
        "string_type": f"expected text (a quoted string), got {got}",
        "model_type": f"expected a table, got {got}",
        "model_attributes_type": f"expected a table, got {got}",
        "dict_type": f"expected a table, got {got}",
        "list_type": f"expected an array, got {got}",
        "is_instance_of": f"expected {ctx.get('class', 'another type')}, got {got}",
    }
    if kind in simple:
        return simple[kind]
    bounds = {
        "greater_than_equal": ("at least", "ge"),
        "greater_than": ("more than", "gt"),
        "less_than_equal": ("at most", "le"),
        "less_than": ("less than", "lt"),
    }
    if kind in bounds:
        words, name = bounds[kind]
        return f"must be {words} {ctx.get(name)}, got {got}"
    if kind == "too_short" and ctx.get("min_length") == 1:
        return "must not be empty"
    if kind == "string_too_short":
        if ctx.get("min_length") == 1:
            return "must not be empty"
        return f"must be at least {ctx.get('min_length')} characters long"
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    return f"{error.get('msg', 'invalid value')}, got {got}"


# --------------------------------------------------------------------------------------------
# Finding the line of a key in TOML text (best effort: used only to point people at a line)

_KEY_PART_RE = re.compile(r"""\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*""")
_MAX_INDEXED_DEPTH: Final = 64


def _split_dotted(text: str, pos: int = 0) -> tuple[list[str], int] | None:
    """Parse a dotted TOML key at `pos`; return its parts and the position after it."""
    parts: list[str] = []
    while True:
        match = _KEY_PART_RE.match(text, pos)
        if match is None:
            return None
        parts.append(next(group for group in match.groups() if group is not None))
        pos = match.end()
        if pos < len(text) and text[pos] == ".":
            pos += 1
            continue
        return parts, pos


class _KeyLines:
    """Maps key paths like ("hosts", 1, "url") to the line that defines them."""

    def __init__(self, text: str) -> None:
        self._lines: dict[tuple[str | int, ...], int] = {}
        arrays: dict[tuple[str | int, ...], int] = {}
        table: tuple[str | int, ...] = ()
        closer: str | None = None
        for number, line in enumerate(text.splitlines(), 1):
            if closer is not None:  # inside a multi-line string
                if line.count(closer) % 2 == 1:
                    closer = None
                continue
            stripped = line.lstrip()
            if stripped.startswith("[["):
                parsed = _split_dotted(stripped, 2)
                if parsed and stripped[parsed[1] :].startswith("]]"):
                    parent = self._resolve(parsed[0][:-1], arrays)
                    array = (*parent, parsed[0][-1])
                    arrays[array] = arrays.get(array, 0) + 1
                    table = (*array, arrays[array] - 1)
                    self._add(table, number)
                continue
            if stripped.startswith("["):
                parsed = _split_dotted(stripped, 1)
                if parsed and stripped[parsed[1] :].startswith("]"):
                    table = self._resolve(parsed[0], arrays)
                    self._add(table, number)
                continue
            parsed = _split_dotted(stripped)
            if parsed and stripped[parsed[1] :].startswith("="):
                self._add((*table, *parsed[0]), number)
                value = stripped[parsed[1] + 1 :].lstrip()
                for quote in ('"""', "'''"):
                    if value.startswith(quote) and value.count(quote) == 1:
                        closer = quote

    @staticmethod
    def _resolve(
        parts: list[str], arrays: Mapping[tuple[str | int, ...], int]
    ) -> tuple[str | int, ...]:
        """A header's parts as a path; a part naming an array of tables means its last table."""
        path: tuple[str | int, ...] = ()
        for part in parts[:_MAX_INDEXED_DEPTH]:
            path = (*path, part)
            if path in arrays:
                path = (*path, arrays[path] - 1)
        return path

    def _add(self, path: tuple[str | int, ...], line: int) -> None:
        for size in range(1, min(len(path), _MAX_INDEXED_DEPTH) + 1):
            self._lines.setdefault(path[:size], line)

    def line_of(self, loc: tuple[str | int, ...]) -> int | None:
        """The line of `loc`, else of its closest parent found in the text, else None."""
        # Keymap ids are flattened ("panel.fleet"); the file may spell them as nested keys.
        split = tuple(
            part
            for segment in loc
            for part in (segment.split(".") if isinstance(segment, str) else [segment])
        )
        for candidate in (loc, split):
            if candidate in self._lines:
                return self._lines[candidate]
        for size in range(len(loc) - 1, 0, -1):
            if loc[:size] in self._lines:
                return self._lines[loc[:size]]
        return None


# --------------------------------------------------------------------------------------------
# Reading and validating files


@dataclass
class _Document:
    """One settings file as read: its data (None when unusable), text and problems."""

    path: Path
    data: dict[str, Any] | None
    text: str
    issues: list[ConfigIssue]

    @property
    def label(self) -> str:
        return str(self.path)


_TOML_POS_RE = re.compile(r"\s*\((?:at line (\d+), column (\d+)|at end of document)\)\s*$")


def _syntax_issue(label: str, text: str, exc: tomllib.TOMLDecodeError) -> ConfigIssue:
    raw = str(exc)
    match = _TOML_POS_RE.search(raw)
    message = raw[: match.start()] if match else raw
    line: int | None = None
    if match and match.group(1):
        line = int(match.group(1))
        message += f" (column {match.group(2)})"
    elif match:
        line = max(1, text.count("\n") + (0 if text.endswith("\n") else 1))
        message += " (at the end of the file)"
    if message.startswith(("Cannot overwrite a value", "Cannot declare")):
        message = f"duplicate key: a key or table is defined twice: {message}"
    elif message.startswith("Cannot mutate immutable namespace"):
        message = f"a table is defined twice (once inline): {message}"
    return ConfigIssue(label, SYNTAX_KEY, message, line)


def _read_toml(path: Path) -> _Document:
    """Read and parse one TOML file; problems become issues, never exceptions."""
    label = str(path)

    def fail(message: str, key: str = FILE_KEY, line: int | None = None) -> _Document:
        return _Document(path, None, "", [ConfigIssue(label, key, message, line)])

    try:
        info = path.stat()
    except FileNotFoundError:
        return fail("file not found")
    except OSError as exc:
        return fail(f"cannot read the file: {exc.strerror or exc}")
    if stat.S_ISDIR(info.st_mode):
        return fail("is a directory, not a TOML file")
    if not stat.S_ISREG(info.st_mode):
        return fail("is not a regular file")
    too_large = f"file is too large: the limit is {MAX_CONFIG_BYTES // MIB} MiB"
    if info.st_size > MAX_CONFIG_BYTES:
        return fail(f"{too_large}, this one has {info.st_size} bytes")
    try:
        raw, truncated = read_bytes_capped(path, limit=MAX_CONFIG_BYTES)
    except OSError as exc:
        return fail(f"cannot read the file: {exc.strerror or exc}")
    if truncated:
        return fail(too_large)

    skipped = len(UTF8_BOM) if raw.startswith(UTF8_BOM) else 0
    try:
        text = raw[skipped:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + skipped
        return fail(
            f"not valid UTF-8: byte 0x{raw[offset]:02x} at byte offset {offset} cannot be "
            "decoded; save the file as UTF-8",
            SYNTAX_KEY,
            raw.count(b"\n", 0, offset) + 1,
        )
    deep_line = _overlong_dotted_key(text)
    if deep_line is not None:
        message = f"nesting too deep: a dotted key has more than {_MAX_KEY_PARTS} parts"
        return _Document(path, None, text, [ConfigIssue(label, SYNTAX_KEY, message, deep_line)])
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return _Document(path, None, text, [_syntax_issue(label, text, exc)])
    except RecursionError:
        return _Document(path, None, text, [_too_deep(label)])
    except Exception as exc:  # tomllib bugs must not become tracebacks
        return _Document(path, None, text, [ConfigIssue(label, SYNTAX_KEY, f"cannot parse: {exc}")])
    return _Document(path, data, text, [])


_MAX_KEY_PARTS: Final = 100
_KEY_TOKEN_RE = re.compile(r"""\s*(?:[A-Za-z0-9_-]+|"(?:[^"\\\n]|\\.)*"|'[^'\n]*')\s*""")


def _overlong_dotted_key(text: str) -> int | None:
    """The line of the first dotted key with more than `_MAX_KEY_PARTS` parts, if any.

    tomllib takes time quadratic in the number of parts of a dotted key (minutes for a
    50,000-part key), so such files are refused before parsing. Only lines with that many
    dots are scanned, in linear time.
    """
    if text.count(".") < _MAX_KEY_PARTS:
        return None
    for number, line in enumerate(text.splitlines(), 1):
        if line.count(".") < _MAX_KEY_PARTS:
            continue
        parts, pos = 0, 0
        while pos < len(line):
            match = _KEY_TOKEN_RE.match(line, pos)
            if match is None:
                parts, pos = 0, pos + 1
                continue
            parts, pos = parts + 1, match.end()
            if parts > _MAX_KEY_PARTS:
                return number
            if pos < len(line) and line[pos] == ".":
                pos += 1
            else:
                parts = 0
    return None


def _too_deep(label: str) -> ConfigIssue:
    return ConfigIssue(label, SYNTAX_KEY, "nesting too deep: arrays or tables are nested too far")


def _validate(
    data: Mapping[str, Any], doc: _Document | None, label: str, base_dir: Path | None
) -> tuple[Settings | None, list[ConfigIssue]]:
    """Validate `data` as Settings; on failure return every problem as an issue."""
    context = {"base_dir": base_dir}
    try:
        return Settings.model_validate(data, context=context), []
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
    except RecursionError:
        return None, [_too_deep(label)]
    except Exception as exc:  # a validator bug must not become a traceback
        return None, [ConfigIssue(label, "(top level)", f"cannot validate: {exc}")]
    lines = _KeyLines(doc.text) if doc is not None and doc.text else None
    issues: list[ConfigIssue] = []
    seen: set[tuple[str, str]] = set()
    for error in errors:
        loc = tuple(error["loc"])
        key, message = _key_path(loc), _error_message(error, loc)
        if (key, message) in seen:
            continue
        seen.add((key, message))
        issues.append(ConfigIssue(label, key, message, lines.line_of(loc) if lines else None))
    # In file order, so a person can fix them top to bottom; issues without a line go last.
    issues.sort(key=lambda issue: issue.line if issue.line is not None else 1 << 62)
    return None, issues


def _normalized(data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a document with the key map flattened, so layers merge id by id."""
    out = dict(data)
    if isinstance(out.get("keymap"), Mapping):
        with contextlib.suppress(ValueError):  # too deep: validation reports it
            out["keymap"] = _flatten_keymap(out["keymap"])
    return out


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge `over` onto `base`: tables merge key by key; everything else replaces.

    A None in `over` removes the key (and tables left empty by a removal are dropped).
    """
    out = dict(base)
    for key, value in over.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            merged = _merge(out[key], value)
            if merged:
                out[key] = merged
            else:
                out.pop(key)
        elif isinstance(value, Mapping):
            out[key] = _merge({}, value)
            if not out[key]:
                out.pop(key)
        else:
            out[key] = value
    return out


def state_file_path(env: Mapping[str, str] | None = None) -> Path:
    """The runtime settings file: `$XDG_STATE_HOME/clawtui/settings.toml`."""
    return xdg_state_dir(env) / "settings.toml"


def find_config(
    explicit: Path | None, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> Path | None:
    """Find config.toml; None when there is none (built-in defaults then apply).

    Order: `explicit` (from `--config`), then $CLAWTUI_CONFIG, then `./config.toml`, then
    `$XDG_CONFIG_HOME/clawtui/config.toml`. A file named by `--config` or $CLAWTUI_CONFIG must
    exist: a ConfigError says so rather than quietly using another file.
    """
    environ = os.environ if env is None else env
    origin = "--config"
    chosen = explicit
    if chosen is None and environ.get(CONFIG_ENV):
        origin, chosen = f"${CONFIG_ENV}", Path(environ[CONFIG_ENV])
    if chosen is not None:
        chosen = Path(chosen).expanduser()
        if not chosen.exists():
            raise ConfigError(
                [ConfigIssue(str(chosen), FILE_KEY, f"file not found (named by {origin})")]
            )
        return chosen
    for candidate in ((cwd or Path.cwd()) / "config.toml", xdg_config_dir(env) / "config.toml"):
        if candidate.is_file():
            return candidate
    return None


def _layers(
    path: Path | None, state_file: Path | None, use_state: bool
) -> tuple[Settings | None, list[ConfigIssue], list[ConfigIssue], Path | None]:
    """Load config.toml and the state file over it.

    Returns the settings (None when config.toml is broken), the issues of config.toml, the
    issues of the state file, and the state file in effect.
    """
    config = _read_toml(path) if path is not None else None
    base_dir = path.parent if path is not None else None
    if config is not None and config.data is None:
        return None, config.issues, [], None
    config_data = _normalized(config.data if config and config.data else {})
    label = config.label if config is not None else "(defaults)"
    settings, config_issues = _validate(config_data, config, label, base_dir)

    state_path = (state_file or state_file_path()) if use_state else None
    if state_path is None or not os.path.lexists(state_path):
        return settings, config_issues, [], state_path
    state = _read_toml(state_path)
    if state.data is None:
        return settings, config_issues, state.issues, state_path
    state_data = _normalized(state.data)
    if settings is not None:
        layered, state_issues = _validate(
            _merge(config_data, state_data), state, state.label, base_dir
        )
        if layered is not None:
            settings = layered
    else:  # config.toml is broken: check the state file on its own
        _, state_issues = _validate(state_data, state, state.label, base_dir)
    return settings, config_issues, state_issues, state_path


def load_settings(
    path: Path | None = None, *, state_file: Path | None = None, use_state: bool = True
) -> Settings:
    """Load config.toml at `path` (built-in defaults when None) with the state file over it.

    Raises ConfigError listing every problem of config.toml. Problems of the runtime
    settings file (`state_file`, default `state_file_path()`) do not fail: that file is then
    ignored and its issues are on `settings.warnings`. `use_state=False` skips it.
    """
    label = str(path) if path is not None else "(defaults)"
    try:
        settings, config_issues, state_issues, state_path = _layers(path, state_file, use_state)
    except RecursionError:
        raise ConfigError([_too_deep(label)]) from None
    except Exception as exc:  # never let a traceback out of loading
        raise ConfigError([ConfigIssue(label, FILE_KEY, f"cannot load: {exc}")]) from exc
    if settings is None or config_issues:
        raise ConfigError(config_issues)
    settings._source = path
    settings._state_file = state_path
    settings._warnings = list(state_issues)
    return settings


def check_config(path: Path | None, *, state_file: Path | None = None) -> list[ConfigIssue]:
    """Every issue of config.toml at `path` and of the runtime settings file (empty: all good).

    This is `clawtui config check`. `state_file` defaults to `state_file_path()`.
    """
    label = str(path) if path is not None else "(defaults)"
    try:
        _, config_issues, state_issues, _ = _layers(path, state_file, use_state=True)
    except RecursionError:
        return [_too_deep(label)]
    except Exception as exc:
        return [ConfigIssue(label, FILE_KEY, f"cannot check: {exc}")]
    return config_issues + state_issues


def _plain(value: Any) -> Any:
    """Turn a value into something tomli-w can write (Path -> str, tuple -> list)."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, SecretStr):
        raise TypeError("secrets are not saved in the runtime settings file")
    return value


def save_runtime_settings(changes: Mapping[str, Any], *, state_file: Path | None = None) -> Path:
    """Merge `changes` into the runtime settings file and write it atomically; return its path.

    `changes` is shaped like config.toml, e.g. {"tui": {"theme": "nord"}} or
    {"keymap": {"panel.fleet": "f1"}}; a None value removes a key, so config.toml's value
    applies again. Invalid changes raise ConfigError and nothing is written. A state file that
    cannot be parsed or no longer validates is kept next to it as `<name>.broken` and replaced.
    config.toml is never written.
    """
    target = state_file or state_file_path()
    label = str(target)
    plain = _normalized(_plain(changes))
    _, issues = _validate(_merge({}, plain), None, label, None)
    if issues:
        raise ConfigError(issues)

    if target.is_dir():
        raise ConfigError([ConfigIssue(label, FILE_KEY, "is a directory, not a TOML file")])
    existing: dict[str, Any] = {}
    broken = False
    if os.path.lexists(target):
        current = _read_toml(target)
        if current.data is None:
            broken = True
        else:
            existing = _normalized(current.data)
    merged = _merge(existing, plain)
    if not broken and existing:
        _, issues = _validate(merged, None, label, None)
        if issues:
            broken = True
    if broken:
        merged = _merge({}, plain)
        with contextlib.suppress(OSError):
            os.replace(target, target.with_name(target.name + ".broken"))
    atomic_write(target, STATE_FILE_HEADER + tomli_w.dumps(merged))
    return target
