"""Pure logic of pools: config validation, sink paths, rclone's log parsing and exit-code retry."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from clawtui.config import Settings
from clawtui.config.pools import (
    PoolConfig,
    SinkSpec,
    SyncMapping,
    SyncSpec,
    VolumesSpec,
    WorkloadConfig,
)
from clawtui.engine.pools import sync as pool_sync
from clawtui.engine.pools.manager import _percentile
from clawtui.engine.pools.spec import spec_hash
from clawtui.engine.pools.sync import Rclone, Sink, SyncError, _stats


def test_pools_must_name_known_workloads_and_hosts() -> None:
    wl = WorkloadConfig(name="w", image="img")
    Settings(workloads=[wl], pools=[PoolConfig(name="p", workload="w")])
    with pytest.raises(ValidationError, match="unknown workload 'x'"):
        Settings(workloads=[wl], pools=[PoolConfig(name="p", workload="x")])
    with pytest.raises(ValidationError, match="unknown host 'far'"):
        Settings(workloads=[wl], pools=[PoolConfig(name="p", workload="w", host="far")])
    with pytest.raises(ValidationError, match="duplicate pool names: p"):
        Settings(
            workloads=[wl],
            pools=[PoolConfig(name="p", workload="w"), PoolConfig(name="p", workload="w")],
        )


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"name": "Bad Name", "image": "i"}, "workload name"),
        ({"name": "w", "image": "i", "labels": {"clawtui.role": "x"}}, "set by clawtui"),
        ({"name": "w", "image": "i", "ports": [0]}, "not in 1-65535"),
        ({"name": "w", "image": "i", "config_schema": {"type": 5}}, "not a valid JSON Schema"),
        (
            {"name": "w", "image": "i",
             "sync": SyncSpec(mappings=[SyncMapping(name="m", path="/etc/x")])},
            "not inside the state volume",
        ),
    ],
)  # fmt: skip
def test_workload_errors_name_the_problem(kwargs: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        WorkloadConfig(**kwargs)


def test_pool_and_sink_rules() -> None:
    with pytest.raises(ValidationError, match="more than max"):
        PoolConfig(name="p", workload="w", min_warm=5, max=2)
    with pytest.raises(ValidationError, match="needs a bucket"):
        SinkSpec(type="s3")
    with pytest.raises(ValidationError, match="relative"):
        SyncMapping(name="m", path="/state/x", sink_path="../up")
    with pytest.raises(ValidationError, match="share"):
        VolumesSpec(custom=[{"name": "data", "path": "/state"}])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="unique"):
        SyncSpec(mappings=[SyncMapping(name="a", path="/state/a")] * 2)


def test_volume_for_and_spec_hash() -> None:
    wl = WorkloadConfig(name="w", image="i")
    assert wl.volume_for("/state/a/b") == ("state", "a/b")
    assert wl.volume_for("/run/secrets/x") is None  # secrets are read-only: never synced
    pool = PoolConfig(name="p", workload="w")
    changed = wl.model_copy(update={"image": "j"})
    assert spec_hash(wl, pool) == spec_hash(wl, pool)
    assert spec_hash(wl, pool) != spec_hash(changed, pool)


def test_sink_paths_interpolate_the_tenant(tmp_path: Path) -> None:
    mapping = SyncMapping(name="m", path="/state/a", sink_path="logs/${tenantId}")
    local = Sink(SinkSpec(), tmp_path)
    assert local.remote("ann", mapping) == str(tmp_path / "tenants/ann/logs/ann")
    s3 = Sink(SinkSpec(type="s3", bucket="b", prefix="x/${tenantId}/"), tmp_path)
    assert s3.remote("ann", mapping) == "clawsink:b/x/ann/logs/ann"


def test_s3_credentials_come_from_env_or_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    monkeypatch.setenv("AWS_CA_BUNDLE", "/nope")
    spec = SinkSpec(type="s3", bucket="b", endpoint="http://127.0.0.1:9")
    with pytest.raises(SyncError, match="no credentials"):
        Sink(spec, tmp_path).env()
    creds = tmp_path / "creds"
    creds.write_text('access_key_id = "AK"\nsecret_access_key = SK\n')
    env = Sink(spec.model_copy(update={"credentials_file": creds}), tmp_path).env()
    assert env["RCLONE_CONFIG_CLAWSINK_ACCESS_KEY_ID"] == "AK"
    assert env["RCLONE_CONFIG_CLAWSINK_SECRET_ACCESS_KEY"] == "SK"
    assert "AWS_CA_BUNDLE" not in env


def test_local_sink_that_is_a_file_is_an_error(tmp_path: Path) -> None:
    broken = tmp_path / "sink"
    broken.write_text("x")
    with pytest.raises(SyncError, match="not a folder"):
        Sink(SinkSpec(path=broken), tmp_path).check()


def test_stats_from_rclone_json_log() -> None:
    text = (
        '{"level":"info","msg":"Copied (new)"}\n'
        '{"level":"error","msg":"Failed to copy: boom"}\n'
        '{"level":"warning","msg":"x","stats":{"bytes":6,"transfers":2}}\n'
    )
    assert _stats(text) == (6, 2, "Failed to copy: boom")


@pytest.mark.parametrize(
    ("codes", "ok", "attempts", "words"),
    [
        ([0], True, 1, None),
        ([5, 5, 0], True, 3, None),
        ([5, 5, 5], False, 3, "temporary error (exit 5)"),
        ([7], False, 1, "fatal error (exit 7)"),
        ([1], False, 1, "error (exit 1)"),
    ],
)
def test_exit_code_drives_retry(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    codes: list[int],
    ok: bool,
    attempts: int,
    words: str | None,
) -> None:
    calls: list[list[str]] = []
    remaining = list(codes)

    async def fake_run(args: list[str], env: Any, timeout: float) -> tuple[int, str]:
        calls.append(args)
        if args[0] == "lsf":
            return 0, "a.txt\n"
        return remaining.pop(0), ""

    async def no_sleep(_: float) -> None:
        return None

    monkeypatch.setattr(pool_sync, "_run", fake_run)
    monkeypatch.setattr(pool_sync.asyncio, "sleep", no_sleep)
    rclone = Rclone(Sink(SinkSpec(path=tmp_path / "sink"), tmp_path), retries=3)
    mapping = SyncMapping(name="m", path="/state/a")
    run = asyncio.run(rclone.run("t", mapping, tmp_path / "src", "upload"))
    assert run.ok is ok
    assert run.attempts == attempts
    assert len([c for c in calls if c[0] == "sync"]) == attempts
    if words:
        assert run.error is not None and words in run.error


def test_empty_source_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def fake_run(args: list[str], env: Any, timeout: float) -> tuple[int, str]:
        assert args[0] == "lsf", "nothing but the listing may run for an empty source"
        return 0, ""

    monkeypatch.setattr(pool_sync, "_run", fake_run)
    rclone = Rclone(Sink(SinkSpec(path=tmp_path / "sink"), tmp_path))
    run = asyncio.run(
        rclone.run("t", SyncMapping(name="m", path="/state/a"), tmp_path / "src", "upload")
    )
    assert run.skipped and run.ok and run.status == "skipped"


def test_percentile() -> None:
    assert _percentile([], 50) is None
    assert _percentile([3.0], 99) == 3.0
    assert _percentile([float(i) for i in range(1, 101)], 50) == pytest.approx(50.5, abs=1)
