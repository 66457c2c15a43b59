"""`[[workloads]]` and `[[pools]]`: warm container pools claimed by tenants (seed 004).

A workload says how to run one container (image, command, environment, volumes, health check,
resources, security, tenant config schema, state sync); a pool keeps containers of one workload
warm on one host (`host`), or across several (`hosts = ["a", "b"]`: each new container on the
online one with the most free memory budget; see `clawtui/engine/pools/placement.py` and
`failover.py`). Example:

    [[workloads]]
    name = "agent"
    image = "clawtui-test/busybox:1"
    command = ["sleep", "infinity"]
    env = { TENANT_HOME = "/state/${tenantId}" }
    healthcheck = { command = ["true"], interval = 1.0 }
    resources = { memory = "128m", cpus = 0.5, pids = 64 }

    [workloads.sync]
    sink = { type = "s3", endpoint = "http://127.0.0.1:9000", bucket = "state" }
    mappings = [{ name = "sessions", path = "/state/sessions", pattern = "*.jsonl",
                  sink_path = "sessions", direction = "bidirectional", mode = "sync" }]
    policy = { on_claim = true, on_release = true, interval = 300 }

    [[pools]]
    name = "agents"
    workload = "agent"
    min_warm = 3
    max = 10

On a local host (a unix:// Docker URL) volumes are folders on the engine's machine
(`<state_dir>/pools/<container>/<volume>`) bind-mounted into the container: config and secrets
land there at claim time without a Docker call, and state sync reads and writes them with rclone
directly. On a remote host they are anonymous Docker volumes of the container, filled with the
Docker archive API (config and secrets are then mounted read-write: Docker refuses archive
uploads into read-only mounts); see `clawtui/engine/pools/provision.py`.

`${tenantId}` is replaced in env values (written to `<config>/tenant.env`, since a warm
container started before it had a tenant), the sink prefix and the mapping sink paths.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from clawtui.config.base import MIB, ByteSize, ConfigPath, Section

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")
TENANT_VAR = "${tenantId}"
RESERVED_LABELS = frozenset(
    {"clawtui.role", "clawtui.pool", "clawtui.workload", "clawtui.spec", "clawtui.managed"}
)


def _check_name(value: str, what: str) -> str:
    if not NAME_RE.fullmatch(value):
        raise ValueError(
            f"{what} {value!r} must be 1-40 characters: lowercase letters, digits, '_', '.', '-', "
            "starting with a letter or digit"
        )
    return value


def _check_container_path(value: str) -> str:
    path = PurePosixPath(value)
    if not path.is_absolute() or ".." in path.parts or str(path) == "/":
        raise ValueError(f"{value!r} must be an absolute path inside the container, not '/'")
    return str(path)


class VolumeSpec(Section):
    """A folder of the engine's machine bind-mounted into the container (local host), or an
    anonymous Docker volume (remote host)."""

    path: str = Field(description="Absolute path inside the container.")
    read_only: bool = Field(default=False, description="Mount read-only in the container.")

    @field_validator("path")
    @classmethod
    def _check_path(cls, value: str) -> str:
        return _check_container_path(value)


class CustomVolume(VolumeSpec):
    """An extra named volume (`volumes.custom`)."""

    name: str = Field(description="Folder name on the host side; unique within the workload.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if value in ("state", "secrets", "config"):
            raise ValueError(f"custom volume name {value!r} is reserved")
        return _check_name(value, "volume name")


class VolumesSpec(Section):
    """Where the state, the secrets and the tenant config appear inside the container."""

    state: VolumeSpec = Field(
        default_factory=lambda: VolumeSpec(path="/state"),
        description="The tenant's state: what sync mappings read and write.",
    )
    secrets: VolumeSpec = Field(
        default_factory=lambda: VolumeSpec(path="/run/secrets", read_only=True),
        description="One file per secret (0600), written at claim time.",
    )
    config: VolumeSpec = Field(
        default_factory=lambda: VolumeSpec(path="/run/clawtui", read_only=True),
        description="tenant.json (the tenant config) and tenant.env, written at claim time.",
    )
    custom: list[CustomVolume] = Field(default_factory=list, description="More volumes.")

    def all(self) -> dict[str, VolumeSpec]:
        """Host folder name -> volume."""
        out: dict[str, VolumeSpec] = {
            "state": self.state,
            "secrets": self.secrets,
            "config": self.config,
        }
        out.update({v.name: v for v in self.custom})
        return out

    @model_validator(mode="after")
    def _distinct(self) -> VolumesSpec:
        seen: dict[str, str] = {}
        for name, vol in self.all().items():
            if vol.path in seen:
                raise ValueError(f"volumes {seen[vol.path]!r} and {name!r} share {vol.path}")
            seen[vol.path] = name
        if len({v.name for v in self.custom}) != len(self.custom):
            raise ValueError("custom volume names must be unique")
        return self


class HealthcheckSpec(Section):
    """Docker health check of the container; a container is warm once it is healthy."""

    command: list[str] = Field(
        default_factory=lambda: ["true"],
        min_length=1,
        description="Command run inside the container (exec form); exit 0 = healthy.",
    )
    interval: float = Field(default=1.0, ge=0.05, le=3600, description="Seconds between checks.")
    timeout: float = Field(default=5.0, ge=0.05, le=600, description="Seconds one check may take.")
    retries: int = Field(default=3, ge=1, le=100, description="Failures in a row = unhealthy.")
    start_period: float = Field(default=0.0, ge=0, le=3600, description="Grace after start, s.")


class ResourcesSpec(Section):
    """Resource limits (seed 003: memory, cpus, pids); memory = memory-swap (no swap)."""

    memory: ByteSize = Field(default=256 * MIB, ge=8 * MIB, description="Memory limit.")
    cpus: float = Field(default=1.0, gt=0, le=256, description="CPU limit (1 = one core).")
    pids: int = Field(default=256, ge=8, le=1_000_000, description="Process limit.")


class SecuritySpec(Section):
    """Hardening, on by default."""

    read_only: bool = Field(default=True, description="Read-only root filesystem.")
    user: str | None = Field(default=None, description="User (uid[:gid]) to run as.")
    cap_drop: list[str] = Field(
        default_factory=lambda: ["ALL"], description="Capabilities to drop."
    )
    cap_add: list[str] = Field(default_factory=list, description="Capabilities to add back.")
    no_new_privileges: bool = Field(default=True, description="Set no-new-privileges.")
    network: str = Field(default="bridge", min_length=1, description="Docker network mode.")


class SinkSpec(Section):
    """Where state goes: a local folder (default) or S3."""

    type: Literal["local", "s3"] = Field(default="local", description="local | s3.")
    path: ConfigPath | None = Field(
        default=None, description="local: the folder; unset = <state_dir>/sync."
    )
    endpoint: str | None = Field(default=None, description="s3: endpoint URL (non-AWS).")
    bucket: str | None = Field(default=None, description="s3: bucket.")
    region: str = Field(default="us-east-1", description="s3: region.")
    access_key_env: str = Field(
        default="AWS_ACCESS_KEY_ID", description="s3: env variable holding the access key id."
    )
    secret_key_env: str = Field(
        default="AWS_SECRET_ACCESS_KEY", description="s3: env variable holding the secret key."
    )
    credentials_file: ConfigPath | None = Field(
        default=None,
        description="s3: a file of `access_key_id = ...` / `secret_access_key = ...` lines "
        "(used instead of the env variables when set).",
    )
    prefix: str = Field(
        default="tenants/${tenantId}", description="Base path in the sink; ${tenantId} allowed."
    )

    @model_validator(mode="after")
    def _s3_fields(self) -> SinkSpec:
        if self.type == "s3" and not self.bucket:
            raise ValueError("an s3 sink needs a bucket")
        if ".." in self.prefix.split("/"):
            raise ValueError("the sink prefix must not contain '..'")
        return self


class SyncMapping(Section):
    """One path synced between the container's state and the sink."""

    name: str = Field(description="Name of the mapping (status is kept per tenant and name).")
    path: str = Field(description="Container path; must be inside a writable volume.")
    pattern: str | None = Field(default=None, description="Glob of files to sync, e.g. *.jsonl.")
    sink_path: str = Field(default="", description="Path under the sink prefix.")
    direction: Literal["upload", "download", "bidirectional"] = Field(
        default="bidirectional", description="upload | download | bidirectional."
    )
    mode: Literal["sync", "copy"] = Field(
        default="sync", description="sync deletes what the source no longer has; copy does not."
    )

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return _check_name(value, "mapping name")

    @field_validator("path")
    @classmethod
    def _check_path(cls, value: str) -> str:
        return _check_container_path(value)

    @field_validator("sink_path")
    @classmethod
    def _sink_path(cls, value: str) -> str:
        if ".." in value.split("/") or value.startswith("/"):
            raise ValueError(f"sink_path {value!r} must be relative, without '..'")
        return value.strip("/")


class SyncPolicy(Section):
    """When syncs run."""

    on_claim: bool = Field(default=True, description="Download when a tenant claims.")
    on_release: bool = Field(default=True, description="Upload before a release destroys.")
    interval: float = Field(
        default=0.0, ge=0, description="Upload every N seconds while claimed; 0 = never."
    )
    manual: bool = Field(default=True, description="Allow `sync` from the API, CLI and TUI.")


class SyncSpec(Section):
    """A workload's state sync: mappings, one sink, one policy."""

    sink: SinkSpec = Field(default_factory=SinkSpec, description="Where state goes.")
    mappings: list[SyncMapping] = Field(default_factory=list, description="What is synced.")
    policy: SyncPolicy = Field(default_factory=SyncPolicy, description="When.")
    retries: int = Field(
        default=3, ge=1, le=20, description="Attempts when rclone says temporary (exit 5)."
    )

    @field_validator("mappings")
    @classmethod
    def _unique(cls, mappings: list[SyncMapping]) -> list[SyncMapping]:
        names = [m.name for m in mappings]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"mapping names must be unique: {', '.join(dupes)}")
        return mappings


class WorkloadConfig(Section):
    """How to run one kind of pooled container (`[[workloads]]`)."""

    name: str = Field(description="Workload id, referenced by pools.")
    image: str = Field(min_length=1, description="Image tag (never pulled: build or load it).")
    command: list[str] | None = Field(default=None, description="Command (exec form).")
    env: dict[str, str] = Field(default_factory=dict, description="Environment; ${tenantId} ok.")
    volumes: VolumesSpec = Field(default_factory=VolumesSpec, description="Bind-mounted folders.")
    healthcheck: HealthcheckSpec = Field(default_factory=HealthcheckSpec, description="Health.")
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec, description="Limits.")
    security: SecuritySpec = Field(default_factory=SecuritySpec, description="Hardening.")
    ports: list[int] = Field(default_factory=list, description="Ports reported as endpoints.")
    config_schema: dict[str, Any] | None = Field(
        default=None, description="JSON Schema the tenant config must match."
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="Extra container labels (not clawtui.role/pool/...)."
    )
    sync: SyncSpec | None = Field(default=None, description="State sync (none: no sync).")

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return _check_name(value, "workload name")

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(set(value) & RESERVED_LABELS)
        if bad:
            raise ValueError(f"labels {', '.join(bad)} are set by clawtui")
        return value

    @field_validator("ports")
    @classmethod
    def _ports(cls, value: list[int]) -> list[int]:
        for port in value:
            if not 1 <= port <= 65535:
                raise ValueError(f"port {port} is not in 1-65535")
        return value

    @field_validator("config_schema")
    @classmethod
    def _schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        import jsonschema

        try:
            jsonschema.Draft202012Validator.check_schema(value)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"config_schema is not a valid JSON Schema: {exc.message}") from None
        return value

    @model_validator(mode="after")
    def _mappings_inside_volumes(self) -> WorkloadConfig:
        if self.sync is None:
            return self
        for mapping in self.sync.mappings:
            if self.volume_for(mapping.path) is None:
                raise ValueError(
                    f"sync mapping {mapping.name!r}: {mapping.path} is not inside the state "
                    "volume or a writable custom volume"
                )
        return self

    def volume_for(self, container_path: str) -> tuple[str, str] | None:
        """(host folder name, path relative to it) of a writable volume holding the path."""
        target = PurePosixPath(container_path)
        for name, vol in self.volumes.all().items():
            if name in ("secrets", "config") or vol.read_only:
                continue
            root = PurePosixPath(vol.path)
            if target == root or root in target.parents:
                return name, str(target.relative_to(root))
        return None


class PoolConfig(Section):
    """Warm containers of one workload on one host, or placed across several (`[[pools]]`)."""

    name: str = Field(description="Pool id, used in claims and labels.")
    workload: str = Field(description="The `[[workloads]]` name it runs.")
    host: str = Field(default="local", description="The `[[hosts]]` name it runs on.")
    hosts: list[str] | None = Field(
        default=None,
        description="Several `[[hosts]]` names instead of `host`: each new container goes to "
        "the online one with the most free memory budget (ties: list order); when one goes "
        "offline its warm containers are refilled on the others and its claims are lost.",
    )
    min_warm: int = Field(default=2, ge=0, le=1000, description="Warm containers kept ready.")
    max: int = Field(default=10, ge=1, le=10000, description="Most containers (warm + claimed).")
    idle_timeout: float = Field(
        default=0.0, ge=0, description="Release a claim idle this long, seconds; 0 = never."
    )
    fill_concurrency: int = Field(
        default=2, ge=1, le=64, description="Containers created at once while filling."
    )
    on_empty: Literal["cold", "refuse"] = Field(
        default="cold", description="No warm container: start one cold, or refuse the claim."
    )
    claim_timeout: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="Seconds a claim may wait for a container: a cold start, or (when the "
        "pool is full but some of it is still warming) one of those turning warm.",
    )
    gc_grace: float = Field(
        default=60.0, ge=0, description="Seconds before an unknown pool container is removed."
    )
    escalate_after: int = Field(
        default=3, ge=1, le=100, description="Failed release uploads before an escalation."
    )
    failover_after: float = Field(
        default=30.0,
        ge=0,
        le=86400,
        description="Seconds one of `hosts` must stay offline before the pool fails over "
        "(its warm containers refilled elsewhere, its claims lost); 0 = at once. A daemon "
        "restart shorter than this keeps its claims.",
    )

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return _check_name(value, "pool name")

    @model_validator(mode="after")
    def _sizes(self) -> PoolConfig:
        if self.min_warm > self.max:
            raise ValueError(f"min_warm ({self.min_warm}) is more than max ({self.max})")
        if self.hosts is not None:
            if "host" in self.model_fields_set:
                raise ValueError(
                    f"pool {self.name}: set `host` or `hosts`, not both "
                    '(`host = "a"` is `hosts = ["a"]`)'
                )
            if not self.hosts:
                raise ValueError(f"pool {self.name}: `hosts` must name at least one host")
            dupes = sorted({h for h in self.hosts if self.hosts.count(h) > 1})
            if dupes:
                raise ValueError(f"pool {self.name}: hosts listed twice: {', '.join(dupes)}")
        return self

    @property
    def all_hosts(self) -> list[str]:
        """The hosts its containers may go to, in preference order for ties (`hosts`, or
        `[host]`)."""
        return list(self.hosts) if self.hosts else [self.host]

    @property
    def first_host(self) -> str:
        """The host pool-wide events and log lines name (the first of `all_hosts`)."""
        return self.all_hosts[0]


def check_pools(
    workloads: list[WorkloadConfig], pools: list[PoolConfig], hosts: list[str]
) -> list[str]:
    """Cross-section problems (unique names, known workload and host), as messages."""
    problems: list[str] = []
    for what, names in (
        ("workload", [w.name for w in workloads]),
        ("pool", [p.name for p in pools]),
    ):
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            problems.append(f"duplicate {what} names: {', '.join(dupes)}")
    known = {w.name for w in workloads}
    for index, pool in enumerate(pools):
        if pool.workload not in known:
            problems.append(
                f"pools[{index}] ({pool.name}): unknown workload {pool.workload!r} "
                f"(known: {', '.join(sorted(known)) or 'none'})"
            )
        for host in pool.all_hosts:
            if host not in hosts:
                problems.append(f"pools[{index}] ({pool.name}): unknown host {host!r}")
    return problems
