"""`[webhook]` and `[relay]`: what may come in from CI and from agents (seed 002 §2.1, §2.4, §10).

Secrets never live in config files: each is named by an environment variable or a file (one
secret per file, surrounding whitespace ignored), so `clawtui config check`, logs and the
runtime settings file never carry one. The webhook accepts several secrets at once so one can
be rotated: add the new one, switch Azure DevOps over, remove the old one.

The relay's routes are a whitelist of (from, to) pairs between configured agents. The seed's
table is the documented example (it is not a default: an empty list lets nothing through)::

    [[relay.agents]]
    name = "ryan"
    thread_id = 1
    secret_env = "RYAN_RELAY_SECRET"
    # ... sam, cody likewise

    [relay]
    routes = [
      {from = "ryan", to = "cody", note = "Pipeline failure details, build agent fix details"},
      {from = "cody", to = "ryan", note = "Fix pushed, monitor next build"},
      {from = "sam",  to = "cody", note = "Diagnostic reports + recommended fixes"},
      {from = "sam",  to = "ryan", note = "Infrastructure coordination (if needed)"},
      {from = "ryan", to = "sam",  note = "Infrastructure coordination (if needed)"},
    ]

Routes added or removed from the TUI are written to the runtime settings file (the whole
`relay.routes` list, which then replaces config.toml's).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from pydantic import ConfigDict, Field, field_validator, model_validator

from clawtui.config.base import KIB, MIB, ByteSize, ConfigPath, Section
from clawtui.config.sections import _ENV_NAME_RE

AGENT_NAME_RE: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
MAX_SECRET_FILE_BYTES: Final = 4096


def _check_env(value: str) -> str:
    if not _ENV_NAME_RE.fullmatch(value):
        raise ValueError(
            f"invalid environment variable name {value!r}: use letters, digits and '_', "
            "not starting with a digit"
        )
    return value


def _read_secret_file(path: Path) -> str | None:
    """One secret from a file (stripped); None when missing, unreadable or empty."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_SECRET_FILE_BYTES + 1)
    except OSError:
        return None
    if len(raw) > MAX_SECRET_FILE_BYTES:
        return None
    text = raw.decode("utf-8", errors="replace").strip()
    return text or None


def _resolve(env_names: list[str], files: list[Path], env: Mapping[str, str] | None) -> list[str]:
    environ = os.environ if env is None else env
    out: list[str] = []
    for name in env_names:
        value = environ.get(name, "").strip()
        if value:
            out.append(value)
    for path in files:
        from_file = _read_secret_file(path)
        if from_file:
            out.append(from_file)
    return out


class WebhookIngressConfig(Section):
    """The Azure DevOps build webhook, `POST /webhook/azure-devops` (`[webhook]`)."""

    secrets_env: list[str] = Field(
        default_factory=list,
        description="Environment variables each holding an accepted `x-webhook-secret` "
        "(several: rotation).",
    )
    secret_files: list[ConfigPath] = Field(
        default_factory=list,
        description="Files each holding one accepted secret (whitespace around it ignored).",
    )
    thread_id: int | None = Field(
        default=None,
        ge=0,
        description="TinyClaw thread that gets failed builds (the seed's Ryan). Unset: "
        "deliveries are stored and wait until it is set.",
    )
    channel: str = Field(
        default="azure-devops",
        min_length=1,
        max_length=64,
        description="`channel` of the queue messages the webhook writes.",
    )
    max_body_bytes: ByteSize = Field(
        default=3 * MIB,
        ge=64 * KIB,
        le=32 * MIB,
        description="Largest webhook body accepted (Azure DevOps sends up to 2 MB).",
    )
    escalate_after: int = Field(
        default=3,
        ge=2,
        le=100,
        description="Consecutive failed builds of one pipeline (and branch) that raise an "
        "escalation.",
    )

    @field_validator("secrets_env")
    @classmethod
    def _check_envs(cls, value: list[str]) -> list[str]:
        return [_check_env(v) for v in value]

    def resolved_secrets(self, env: Mapping[str, str] | None = None) -> list[str]:
        """Every accepted secret that is set now (read at call time: rotation needs no
        restart)."""
        return _resolve(self.secrets_env, self.secret_files, env)


class RelayAgent(Section):
    """One agent that may use the relay (`[[relay.agents]]`)."""

    name: str = Field(description="Short name agents use in `from` / `to`, e.g. 'ryan'.")
    thread_id: int = Field(ge=0, description="The agent's TinyClaw thread.")
    secret_env: str | None = Field(
        default=None, description="Environment variable holding this agent's X-Relay-Secret."
    )
    secret_file: ConfigPath | None = Field(
        default=None, description="File holding this agent's X-Relay-Secret."
    )

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not AGENT_NAME_RE.fullmatch(value):
            raise ValueError(
                f"invalid agent name {value!r}: 1-32 lower-case letters, digits, '_' or '-'"
            )
        return value

    @field_validator("secret_env")
    @classmethod
    def _check_secret_env(cls, value: str | None) -> str | None:
        return None if value is None else _check_env(value)

    def resolved_secret(self, env: Mapping[str, str] | None = None) -> str | None:
        """The agent's secret now: `secret_env` when set and not empty, else `secret_file`."""
        found = _resolve(
            [self.secret_env] if self.secret_env else [],
            [self.secret_file] if self.secret_file else [],
            env,
        )
        return found[0] if found else None


class RelayRoute(Section):
    """One allowed path (`relay.routes` item): `{from = "ryan", to = "cody", note = "..."}`."""

    model_config = ConfigDict(populate_by_name=True)

    sender: str = Field(alias="from", description="Agent allowed to send.")
    to: str = Field(description="Agent it may send to.")
    note: str = Field(default="", max_length=200, description="What the path is used for.")

    @field_validator("sender", "to")
    @classmethod
    def _check_names(cls, value: str) -> str:
        if not AGENT_NAME_RE.fullmatch(value):
            raise ValueError(f"invalid agent name {value!r}")
        return value

    @model_validator(mode="after")
    def _not_to_self(self) -> RelayRoute:
        if self.sender == self.to:
            raise ValueError(f"a route from {self.sender!r} to itself is not allowed")
        return self

    def as_toml(self) -> dict[str, str]:
        out = {"from": self.sender, "to": self.to}
        if self.note:
            out["note"] = self.note
        return out


class RelayConfig(Section):
    """The inter-agent relay, `POST /relay` (`[relay]`)."""

    agents: list[RelayAgent] = Field(
        default_factory=list, description="Agents that may send or receive through the relay."
    )
    routes: list[RelayRoute] = Field(
        default_factory=list,
        description="Whitelist of allowed (from, to) paths; anything else is refused.",
    )
    max_message_bytes: ByteSize = Field(
        default=64 * KIB,
        ge=1 * KIB,
        le=512 * KIB,
        description="Largest relayed message text, UTF-8 bytes.",
    )
    rate_limit: int = Field(
        default=30, ge=1, le=100_000, description="Messages one sender may relay per window."
    )
    rate_window: float = Field(
        default=60.0, gt=0, le=86_400, description="Seconds of the rate-limit window."
    )
    max_hops: int = Field(
        default=3,
        ge=1,
        le=32,
        description="Relays one message may pass through (A → B → A counts 2), so loops die.",
    )
    channel: str = Field(
        default="relay", min_length=1, max_length=64, description="`channel` of relayed messages."
    )
    shared_secret_env: str | None = Field(
        default=None,
        description="Shared-secret mode (Nanoclaw's seed setup: one RELAY_SECRET for every "
        "agent): the environment variable holding it. A request with this secret is trusted "
        "to be from the agent its `from` names (still only a known agent, the route whitelist, "
        "hop limit and rate limit apply), so any agent holding it can speak as any other: "
        "`clawtui config check` warns. Unset (the default): each agent has its own secret.",
    )

    @field_validator("shared_secret_env")
    @classmethod
    def _check_shared_env(cls, value: str | None) -> str | None:
        return None if value is None else _check_env(value)

    def resolved_shared_secret(self, env: Mapping[str, str] | None = None) -> str | None:
        """The shared secret now (None when shared-secret mode is off or it is not set)."""
        if not self.shared_secret_env:
            return None
        found = _resolve([self.shared_secret_env], [], env)
        return found[0] if found else None

    @field_validator("agents")
    @classmethod
    def _unique_agents(cls, agents: list[RelayAgent]) -> list[RelayAgent]:
        seen: set[str] = set()
        for agent in agents:
            if agent.name in seen:
                raise ValueError(f"duplicate agent name {agent.name!r}")
            seen.add(agent.name)
        return agents

    def agent(self, name: str) -> RelayAgent | None:
        return next((a for a in self.agents if a.name == name), None)

    def route_problems(self) -> list[str]:
        """Routes that name agents not in `agents` (they let nothing through)."""
        names = {a.name for a in self.agents}
        return [
            f"relay route {r.sender} → {r.to} names an unknown agent"
            for r in self.routes
            if r.sender not in names or r.to not in names
        ]


MIN_SECRET_LENGTH: Final = 16
"""Shortest webhook or relay secret `config check` accepts (characters)."""


def _short(where: str, secret: str) -> str:
    return (
        f"the {where} is {len(secret)} characters: too short to resist guessing, use at least "
        f"{MIN_SECRET_LENGTH} (e.g. `openssl rand -hex 24`)"
    )


def secret_problems(
    webhook: WebhookIngressConfig, relay: RelayConfig, env: Mapping[str, str] | None = None
) -> list[tuple[str, str]]:
    """(key, problem) for every secret set now that is too short, and for relay agents that
    share one secret (the relay takes the sender from the secret: all their messages would
    count as from the first). Secrets themselves are never part of a message."""
    problems: list[tuple[str, str]] = []
    for index, name in enumerate(webhook.secrets_env):
        value = _resolve([name], [], env)
        if value and len(value[0]) < MIN_SECRET_LENGTH:
            problems.append(
                (f"webhook.secrets_env[{index}]", _short(f"secret in ${name}", value[0]))
            )
    for index, path in enumerate(webhook.secret_files):
        value = _resolve([], [path], env)
        if value and len(value[0]) < MIN_SECRET_LENGTH:
            problems.append(
                (f"webhook.secret_files[{index}]", _short(f"secret in {path}", value[0]))
            )
    owners: dict[str, list[str]] = {}
    for index, agent in enumerate(relay.agents):
        secret = agent.resolved_secret(env)
        if secret is None:
            continue
        owners.setdefault(secret, []).append(agent.name)
        if len(secret) < MIN_SECRET_LENGTH:
            problems.append(
                (f"relay.agents[{index}]", _short(f"secret of agent {agent.name!r}", secret))
            )
    for names in owners.values():
        if len(names) > 1:
            problems.append((
                "relay.agents",
                f"agents {', '.join(repr(n) for n in names)} share one secret: the relay takes "
                f"the sender from the secret, so all their messages would count as from "
                f"{names[0]!r}; give each agent its own",
            ))  # fmt: skip
    return problems
