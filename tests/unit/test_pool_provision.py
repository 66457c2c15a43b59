"""Pure parts of pool provisioning and pool metrics: file contents, owners, tar headers,
mounts for remote hosts, and how outcomes are counted."""

from __future__ import annotations

import io
import json
import stat
import tarfile
from pathlib import Path

from clawtui.config.pools import CustomVolume, VolumesSpec, WorkloadConfig
from clawtui.engine.api.pools import PoolConflict, PoolError, PoolNotFound, PoolSyncFailed
from clawtui.engine.pools.metrics import PoolMetrics
from clawtui.engine.pools.provision import (
    _lookup,
    _tar,
    parse_owner,
    remote_mounts,
    tenant_files,
    write_local,
)


def wl(**extra: object) -> WorkloadConfig:
    return WorkloadConfig(
        name="w", image="x", env={"HOME_DIR": "/state/${tenantId}", "A": 'q"x'}, **extra
    )


def test_tenant_files_interpolate_env_and_keep_secrets_apart() -> None:
    files = tenant_files(wl(), "t-1", {"plan": "pro"}, {"token": "s3cr3t"})
    assert json.loads(files["config"]["tenant.json"]) == {
        "tenant": "t-1",
        "config": {"plan": "pro"},
    }
    env = files["config"]["tenant.env"].decode()
    assert 'HOME_DIR="/state/t-1"' in env and 'CLAWTUI_TENANT="t-1"' in env
    assert 'A="q\\"x"' in env  # JSON-quoted: a value cannot break the line format
    assert files["secrets"] == {"token": b"s3cr3t"}
    assert b"s3cr3t" not in files["config"]["tenant.json"] + files["config"]["tenant.env"]


def test_parse_owner_and_passwd_lookup() -> None:
    assert parse_owner(None) == (0, 0)
    assert parse_owner("1000") == (1000, 0)
    assert parse_owner("1000:1001") == (1000, 1001)
    assert parse_owner("app") is None
    assert parse_owner("1000:staff") is None
    passwd = "root:x:0:0::/root:/bin/sh\napp:x:1500:1600::/home/app:/bin/sh\nbad:x:y:z\n"
    assert _lookup(passwd, "app") == (1500, 1600)
    assert _lookup(passwd, "bad") is None
    assert _lookup(passwd, "ghost") is None


def test_tar_entries_are_private_and_owned() -> None:
    data = _tar({"tenant.json": b"{}", "token": b"x"}, (1234, 2345))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert set(members) == {"tenant.json", "token"}
    for m in members.values():
        assert m.isfile() and m.mode == 0o600 and (m.uid, m.gid) == (1234, 2345)


def test_write_local_files_are_0600(tmp_path: Path) -> None:
    for d in ("config", "secrets"):
        (tmp_path / d).mkdir()
    write_local(tmp_path, tenant_files(wl(), "t", {}, {"k": "v"}), None)
    for path in (tmp_path / "config" / "tenant.json", tmp_path / "secrets" / "k"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(tmp_path.glob("*/.*.tmp"))


def test_remote_mounts_are_anonymous_and_config_writable() -> None:
    volumes = VolumesSpec(custom=[CustomVolume(name="ro", path="/data", read_only=True)])
    mounts = {m["Target"]: m for m in remote_mounts(wl(volumes=volumes))}
    assert set(mounts) == {"/state", "/run/secrets", "/run/clawtui", "/data"}
    assert all(m["Type"] == "volume" and not m.get("Source") for m in mounts.values())
    assert not mounts["/run/secrets"]["ReadOnly"] and not mounts["/run/clawtui"]["ReadOnly"]
    assert mounts["/data"]["ReadOnly"]


def test_metrics_outcomes() -> None:
    m = PoolMetrics()
    m.claimed("p", "warm", 0.003)
    m.claimed("p", "cold", 2.0)
    m.claim_failed("p", PoolConflict("x"))
    m.claim_failed("", PoolNotFound("x"))
    m.claim_failed("p", PoolSyncFailed("x"))
    m.claim_failed("p", PoolError("x"))
    assert m.claims == {
        ("p", "warm"): 1, ("p", "cold"): 1, ("p", "conflict"): 1, ("", "unknown_pool"): 1,
        ("p", "restore_failed"): 1, ("p", "failed"): 1,
    }  # fmt: skip
    warm = dict(m.claim_latency[("p", "warm")].cumulative())
    assert warm["0.0025"] == 0 and warm["0.005"] == 1 and warm["+Inf"] == 1
    m.released("p")
    m.release_failed("p", PoolSyncFailed("x"))
    m.release_failed("", PoolNotFound("x"))
    assert m.releases == {("p", "ok"): 1, ("p", "release_failed"): 1, ("", "not_found"): 1}
    m.synced("p", "upload", "ok", 100, 0.2)
    m.synced("p", "upload", "failed", -1, 0.1)
    assert m.sync_runs == {("p", "upload", "ok"): 1, ("p", "upload", "failed"): 1}
    assert m.sync_bytes[("p", "upload")] == 100
    assert m.sync_duration[("p", "upload")].count == 2
