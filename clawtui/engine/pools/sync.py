"""State sync of pooled containers with rclone (seed 004, "State Sync Engine").

Every sync is one `rclone sync|copy SRC DST` run on the engine's machine between a container's
bind-mounted state folder and a sink (a local folder or S3). rclone gets the sink through
`RCLONE_CONFIG_CLAWSINK_*` environment variables, so credentials are never on a command line,
in a log line or in an event.

Rules:

* the empty-source guard: a run whose source is missing or holds no file the mapping selects is
  skipped (status `skipped`), so a `sync` from an empty container can never wipe the sink, and a
  download from an empty sink never wipes the container;
* rclone's exit code drives retry: 5 (temporary) is retried with backoff up to `retries`
  attempts; 7 (fatal) and every other non-zero code fail at once;
* the result of every run (bytes, duration, error) is returned as a `SyncRun` for the caller
  to store per tenant and mapping.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from clawtui.config.pools import TENANT_VAR, SinkSpec, SyncMapping

RETRYABLE_EXIT = 5
_REMOTE = "clawsink"
_ERR_TAIL = 600
_BACKOFF = (0.2, 0.5, 1.0, 2.0)


class SyncError(Exception):
    """A sync could not run (bad sink credentials, rclone missing)."""


@dataclass(frozen=True)
class SyncRun:
    """The outcome of one mapping's run."""

    mapping: str
    direction: str  # "upload" | "download"
    ok: bool
    skipped: bool = False
    bytes: int = 0
    files: int = 0
    duration: float = 0.0
    exit_code: int | None = None
    attempts: int = 0
    error: str | None = None
    finished_at: float = 0.0

    @property
    def status(self) -> str:
        return "skipped" if self.skipped else ("ok" if self.ok else "failed")


def interpolate(text: str, tenant: str) -> str:
    return text.replace(TENANT_VAR, tenant)


def _read_credentials_file(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")[:65536]
    except OSError as exc:
        raise SyncError(f"cannot read the S3 credentials file {path}: {exc.strerror}") from None
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip().lower()] = value.strip().strip('"')
    return out


class Sink:
    """An rclone remote for one sink spec: path building and the environment."""

    def __init__(self, spec: SinkSpec, default_local: Path) -> None:
        self.spec = spec
        self.default_local = default_local

    def env(self) -> dict[str, str]:
        # rclone gets the sink only from us: no RCLONE_* of the engine's own environment, and no
        # AWS_* (the AWS SDK inside rclone reads AWS_CA_BUNDLE, profiles and keys by itself).
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RCLONE_", "AWS_"))}
        env["RCLONE_CONFIG"] = os.devnull
        if self.spec.type != "s3":
            return env
        if self.spec.credentials_file is not None:
            creds = _read_credentials_file(self.spec.credentials_file)
            key, secret = creds.get("access_key_id"), creds.get("secret_access_key")
            where = f"file {self.spec.credentials_file}"
        else:
            key = os.environ.get(self.spec.access_key_env)
            secret = os.environ.get(self.spec.secret_key_env)
            where = f"${self.spec.access_key_env} / ${self.spec.secret_key_env}"
        if not key or not secret:
            raise SyncError(f"the S3 sink has no credentials: set {where}")
        prefix = f"RCLONE_CONFIG_{_REMOTE.upper()}_"
        env.update(
            {
                prefix + "TYPE": "s3",
                prefix + "PROVIDER": "Other" if self.spec.endpoint else "AWS",
                prefix + "ACCESS_KEY_ID": key,
                prefix + "SECRET_ACCESS_KEY": secret,
                prefix + "REGION": self.spec.region,
                prefix + "FORCE_PATH_STYLE": "true",
            }
        )
        if self.spec.endpoint:
            env[prefix + "ENDPOINT"] = self.spec.endpoint
        return env

    def remote(self, tenant: str, mapping: SyncMapping) -> str:
        parts = [
            interpolate(self.spec.prefix, tenant).strip("/"),
            interpolate(mapping.sink_path, tenant),
        ]
        rel = "/".join(p for p in parts if p)
        if self.spec.type == "s3":
            return f"{_REMOTE}:{self.spec.bucket}/{rel}"
        base = self.spec.path if self.spec.path is not None else self.default_local
        return str(base / rel) if rel else str(base)

    def check(self) -> None:
        """A local sink must be a folder: a missing or broken sink must never read as "empty"
        (a restore would then start the tenant from nothing). Created when absent."""
        if self.spec.type != "local":
            return
        base = self.spec.path if self.spec.path is not None else self.default_local
        if base.exists() and not base.is_dir():
            raise SyncError(f"the local sink {base} is not a folder; fix [workloads.sync] sink")
        try:
            base.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SyncError(f"cannot create the local sink {base}: {exc.strerror}") from None

    def describe(self) -> str:
        if self.spec.type == "s3":
            return f"s3://{self.spec.bucket} ({self.spec.endpoint or 'AWS'})"
        return str(self.spec.path if self.spec.path is not None else self.default_local)


def _filter_args(mapping: SyncMapping) -> list[str]:
    return ["--include", mapping.pattern] if mapping.pattern else []


async def _run(args: list[str], env: Mapping[str, str], timeout: float) -> tuple[int, str]:
    try:
        proc = await asyncio.create_subprocess_exec(
            "rclone",
            *args,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError:
        raise SyncError("rclone is not installed: run scripts/setup (apt install rclone)") from None
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return 124, f"rclone took more than {timeout:g}s"
    except asyncio.CancelledError:
        proc.kill()
        raise
    text = err.decode("utf-8", "replace") + out.decode("utf-8", "replace")
    return proc.returncode if proc.returncode is not None else 1, text


def _stats(text: str) -> tuple[int, int, str | None]:
    """(bytes, files, last error message) from rclone's JSON log."""
    size = files = 0
    error: str | None = None
    for line in text.splitlines():
        if not line.startswith("{"):
            if line.strip():
                error = line.strip()
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        stats = entry.get("stats")
        if isinstance(stats, dict):
            size = int(stats.get("bytes") or 0)
            files = int(stats.get("transfers") or 0)
        if entry.get("level") in ("error", "critical"):
            error = str(entry.get("msg", ""))
    return size, files, error


class Rclone:
    """Runs mappings for tenants against one sink."""

    def __init__(self, sink: Sink, *, retries: int = 3, timeout: float = 600.0) -> None:
        self.sink = sink
        self.retries = retries
        self.timeout = timeout

    async def source_empty(self, source: str, mapping: SyncMapping) -> bool:
        """Whether `source` is missing or holds no file the mapping selects (rclone's filter
        rules, so the guard and the run agree on what counts)."""
        args = ["lsf", "-R", "--files-only", "--contimeout", "15s", "--timeout", "30s",
                *_filter_args(mapping), source]  # fmt: skip
        code, text = await _run(args, self.sink.env(), 60)
        if code == 3:  # directory not found
            return True
        if code != 0:
            _, _, error = _stats(text)
            raise SyncError(
                f"rclone lsf failed (exit {code}): {(error or text.strip())[-_ERR_TAIL:]}"
            )
        return not any(line and not line.startswith("{") for line in text.splitlines())

    async def run(self, tenant: str, mapping: SyncMapping, local: Path, direction: str) -> SyncRun:
        """One mapping, one direction ("upload" | "download"), with the guard and retries."""
        started = time.monotonic()

        def done(**fields: object) -> SyncRun:
            return SyncRun(
                mapping=mapping.name,
                direction=direction,
                duration=time.monotonic() - started,
                finished_at=time.time(),
                **fields,  # type: ignore[arg-type]
            )

        try:
            env = self.sink.env()
            await asyncio.to_thread(self.sink.check)
            remote = self.sink.remote(tenant, mapping)
            src, dst = (str(local), remote) if direction == "upload" else (remote, str(local))
            if await self.source_empty(src, mapping):
                return done(ok=True, skipped=True, error="source is empty or missing: not synced")
        except SyncError as exc:
            return done(ok=False, error=str(exc))
        if direction == "download":
            await asyncio.to_thread(local.mkdir, parents=True, exist_ok=True)
        args = [
            mapping.mode,
            src,
            dst,
            *_filter_args(mapping),
            "--use-json-log",
            "--stats",
            "1h",
            "--stats-log-level",
            "NOTICE",
            "--contimeout",
            "15s",
            "--timeout",
            "60s",
            "--retries",
            "1",
            "--low-level-retries",
            "2",
            "--transfers",
            "8",
            "--checkers",
            "16",
        ]
        code, text, attempt = 0, "", 0
        for attempt in range(1, self.retries + 1):
            code, text = await _run(args, env, self.timeout)
            if code != RETRYABLE_EXIT:
                break
            if attempt < self.retries:
                await asyncio.sleep(_BACKOFF[min(attempt - 1, len(_BACKOFF) - 1)])
        size, files, error = _stats(text)
        if code == 0:
            return done(ok=True, bytes=size, files=files, exit_code=0, attempts=attempt)
        kind = {5: "temporary error", 7: "fatal error", 124: "timeout"}.get(code, "error")
        message = f"rclone {kind} (exit {code}): {(error or text.strip())[-_ERR_TAIL:]}"
        return done(
            ok=False, bytes=size, files=files, exit_code=code, attempts=attempt, error=message
        )
