"""The `[memory]` and `[notify]` sections (memory rebalancing and its notifier)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final, Literal

from pydantic import (
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from clawtui.config.base import GIB, MIB, ByteSize, Section
from clawtui.config.sections import _ENV_NAME_RE

DEFAULT_ADJUSTABLE_LABELS: tuple[str, ...] = (
    "clawtui.role=devbox",
    "clawtui.role=pool",
    "tinyclaw.type=dev-container",
    "borg.type=dev-container",
)
"""`[memory] adjustable_labels` by default: clawtui's dev boxes and pool containers, and
TinyClaw's dev containers: `tinyclaw.type=dev-container` in the seed, `borg.type=dev-container`
since TinyClaw's rename (lucianHymer/tinyclaw b64de8c scripts/create-dev-container.sh,
src/docker-client.ts). Anything else (its broker, bot, dashboard) stays refused."""

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
    adjustable_labels: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ADJUSTABLE_LABELS),
        max_length=50,
        description='Labels ("key=value", or "key" for any value) that make a container a '
        "dev container: resizable and shown in the Dev containers panel. Default: "
        "clawtui.role=devbox, clawtui.role=pool and TinyClaw's tinyclaw.type=dev-container / "
        "borg.type=dev-container. Other containers (infrastructure) are refused.",
    )

    @field_validator("adjustable_labels")
    @classmethod
    def _selectors(cls, value: list[str]) -> list[str]:
        for selector in value:
            key = selector.partition("=")[0]
            if not key or len(selector) > 256 or any(c.isspace() for c in key):
                raise ValueError(f'expected "key=value" or "key", got {selector!r}')
        return value


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
    updates: Literal["poll", "webhook", "off"] = Field(
        default="poll",
        description="How button presses on the brief reach the engine: poll (getUpdates long "
        "polling), webhook (Telegram POSTs to `webhook_listen`) or off (no buttons).",
    )
    poll_timeout: int = Field(
        default=30, ge=0, le=50, description="getUpdates long-polling timeout, seconds."
    )
    webhook_listen: str = Field(
        default="127.0.0.1:8771",
        pattern=r"^[^\s:]+:\d{1,5}$",
        description="updates = webhook: HOST:PORT the engine listens on for Telegram's POSTs "
        "(put it behind your HTTPS proxy; register the URL with setWebhook).",
    )
    webhook_secret_env: str | None = Field(
        default=None,
        description="updates = webhook: environment variable with the secret_token given to "
        "setWebhook; POSTs without a matching X-Telegram-Bot-Api-Secret-Token are refused.",
    )

    @field_validator("bot_token_env", "webhook_secret_env")
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
        if self.updates == "webhook" and self.webhook_secret_env is None:
            raise ValueError(
                'updates = "webhook" needs webhook_secret_env (the secret_token given to '
                "setWebhook): without it anyone reaching the route could forge button presses"
            )
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
