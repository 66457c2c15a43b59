"""The core sections: hosts, engine, service and TUI."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from pydantic import (
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from clawtui.config.base import API_TOKEN_ENV, GIB, KIB, MIB, ByteSize, ConfigPath, Section
from clawtui.fsutil import (
    xdg_state_dir,
)

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
    tls_ca: ConfigPath | None = Field(
        default=None,
        description="CA certificate (PEM) that signed the tcp:// host's server certificate "
        "(dockerd --tlscacert). Setting any tls_* key turns TLS on for a tcp:// URL.",
    )
    tls_cert: ConfigPath | None = Field(
        default=None,
        description="Client certificate (PEM) presented to a dockerd started with --tlsverify; "
        "set together with tls_key.",
    )
    tls_key: ConfigPath | None = Field(
        default=None,
        description="Private key (PEM) of tls_cert; set together with tls_cert.",
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

    @model_validator(mode="after")
    def _check_tls_pair(self) -> HostConfig:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError(
                f"host {self.name!r}: set tls_cert and tls_key together (the client certificate "
                "and its private key)"
            )
        if self.uses_tls_files and not self.url.startswith(("tcp://", "https://")):
            raise ValueError(
                f"host {self.name!r}: tls_ca/tls_cert/tls_key apply only to tcp:// or https:// "
                f"URLs, not {self.url!r}"
            )
        return self

    @property
    def is_local(self) -> bool:
        """Whether the host is reached through a local unix socket."""
        return self.url.startswith("unix://")

    @property
    def uses_tls_files(self) -> bool:
        """Whether any of tls_ca, tls_cert, tls_key is set."""
        return any(p is not None for p in (self.tls_ca, self.tls_cert, self.tls_key))

    def docker_client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for docker-py's ``APIClient`` that reach this host.

        A tcp:// or https:// URL with tls_* files gets a ``TLSConfig`` (client certificate,
        CA, and tls_verify); ssh:// goes through paramiko (docker-py's own SSH transport,
        reading ~/.ssh/config, ~/.ssh/known_hosts and the user's keys).
        """
        kwargs: dict[str, Any] = {
            "base_url": self.url,
            "version": "auto",
            "timeout": self.timeout,
        }
        if self.uses_tls_files:
            from docker.tls import TLSConfig

            cert = (str(self.tls_cert), str(self.tls_key)) if self.tls_cert else None
            kwargs["tls"] = TLSConfig(
                client_cert=cert,
                ca_cert=str(self.tls_ca) if self.tls_ca else None,
                verify=self.tls_verify,
            )
        return kwargs


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
