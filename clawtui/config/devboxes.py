"""The `[devboxes]` section: dev containers reached over SSH."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from pydantic import (
    Field,
    field_validator,
)

from clawtui.config.base import GIB, MIB, ByteSize, ConfigPath, Section
from clawtui.config.sections import _ENV_NAME_RE

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
        "broker is on: TinyClaw's compose network, `tinyclaw_internal` in the seed, "
        "`borg_dev` / `borg_internal` since its rename); absent means Docker's default bridge. "
        "Creating a dev box says so when the network does not exist.",
    )
    github_installations: ConfigPath | None = Field(
        default=None,
        description="The credential broker's org -> GitHub App installation id map "
        '({"acme": 12345}, seed 000 secrets/github-installations.json) on the Docker host: '
        "mounted read-only at /secrets/github-installations.json, where the image's git "
        "credential helper and gh wrapper read it.",
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
