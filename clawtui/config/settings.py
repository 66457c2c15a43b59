"""`Settings`: every section together, as config.toml spells it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final

from pydantic import (
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from clawtui.config.attach import AttachConfig
from clawtui.config.base import ConfigIssue, KeyBinding, Section
from clawtui.config.devboxes import DevboxesConfig
from clawtui.config.escalations import (
    AutohealConfig,
    BriefConfig,
    EscalationsConfig,
    MonitorConfig,
    check_autoheal,
)
from clawtui.config.ingress import RelayConfig, WebhookIngressConfig
from clawtui.config.notify import MemoryConfig, NotifyConfig
from clawtui.config.pools import PoolConfig, WorkloadConfig, check_pools
from clawtui.config.sections import EngineConfig, HostConfig, ServiceConfig, TuiConfig
from clawtui.config.threads import ThreadsConfig

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
    attach: AttachConfig = Field(
        default_factory=AttachConfig,
        description="SSH into containers' tmux sessions (attach, tmux listing, sending).",
    )
    threads: ThreadsConfig = Field(
        default_factory=ThreadsConfig,
        description="The agents' threads and their TinyClaw home.",
    )
    escalations: EscalationsConfig = Field(
        default_factory=EscalationsConfig,
        description="The stuck protocol: when the engine escalates for a thread.",
    )
    brief: BriefConfig = Field(
        default_factory=BriefConfig, description="The morning brief: when, in which zone."
    )
    monitors: list[MonitorConfig] = Field(
        default_factory=list,
        description="Hosts checked over SSH and HTTP status pages (health incidents).",
    )
    autoheal: AutohealConfig = Field(
        default_factory=AutohealConfig,
        description="Agent config files checked and repaired on an interval.",
    )
    webhook: WebhookIngressConfig = Field(
        default_factory=WebhookIngressConfig,
        description="The Azure DevOps build webhook (POST /webhook/azure-devops).",
    )
    relay: RelayConfig = Field(
        default_factory=RelayConfig,
        description="The inter-agent relay (POST /relay): agents, routes, limits.",
    )
    workloads: list[WorkloadConfig] = Field(
        default_factory=list,
        description="Kinds of pooled containers (`[[workloads]]`), see config/pools.py.",
    )
    pools: list[PoolConfig] = Field(
        default_factory=list,
        description="Warm pools of workloads claimed by tenants (`[[pools]]`).",
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

    @model_validator(mode="after")
    def _pools_refer_to_known_names(self) -> Settings:
        problems = check_pools(self.workloads, self.pools, [h.name for h in self.hosts])
        problems += check_autoheal(self.autoheal, self.monitors, [h.name for h in self.hosts])
        if problems:
            raise ValueError("; ".join(problems))
        return self

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
