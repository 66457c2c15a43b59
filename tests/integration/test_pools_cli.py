"""`clawtui pool` from a shell, on a config.toml with [[workloads]] and [[pools]]."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import docker
import pytest

from clawtui.engine.pools.spec import LABEL_POOL
from tests.integration.pool_helpers import WORKLOAD_IMAGE, unique

pytestmark = pytest.mark.timeout(240)
ROOT = Path(__file__).resolve().parents[2]
SECRET = "cli-secret-never-printed"


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "clawtui", "pool", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_cli_claim_status_release(
    tmp_path: Path, docker_api: docker.APIClient, test_labels: dict[str, str], pool_image: str
) -> None:
    name = unique("cli")
    ((label, value),) = test_labels.items()
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[engine]
state_dir = "{tmp_path / "state"}"

[[hosts]]
name = "local"

[[workloads]]
name = "{name}"
image = "{WORKLOAD_IMAGE}"
command = ["sleep", "86400"]
labels = {{ "{label}" = "{value}" }}
healthcheck = {{ command = ["true"], interval = 0.1 }}
resources = {{ memory = "32m", cpus = 0.2, pids = 32 }}

[workloads.sync]
sink = {{ type = "local", path = "{tmp_path / "sink"}" }}
mappings = [{{ name = "state", path = "/state/data" }}]

[[pools]]
name = "{name}"
workload = "{name}"
min_warm = 0
max = 2
"""
    )
    secret_file = tmp_path / "token"
    secret_file.write_text(SECRET)
    try:
        ls = _cli(config, "ls", "--json")
        assert ls.returncode == 0, ls.stderr
        assert json.loads(ls.stdout)[0]["name"] == name
        claim = _cli(config, "claim", "zoe", "--pool", name, "--secret", f"token={secret_file}",
                     "--tenant-config", '{"a": 1}', "--json")  # fmt: skip
        assert claim.returncode == 0, claim.stderr
        data = json.loads(claim.stdout)
        assert data["source"] == "cold" and data["state"] == "active"
        assert SECRET not in claim.stdout + claim.stderr
        status = _cli(config, "status", "zoe")
        assert status.returncode == 0 and data["container"] in status.stdout
        bad = _cli(config, "claim", "zoe", "--pool", name, "--tenant-config", "[1")
        assert bad.returncode == 2 and "not valid JSON" in bad.stderr
        again = _cli(config, "claim", "zoe", "--pool", name)
        assert again.returncode == 1 and "already holds" in again.stderr
        rel = _cli(config, "release", "zoe", "--json")
        assert rel.returncode == 0, rel.stderr
        assert json.loads(rel.stdout)["state"] == "released"
        scale = _cli(config, "scale", name, "5")
        assert scale.returncode == 2 and "0-2" in scale.stderr
    finally:
        for c in docker_api.containers(all=True, filters={"label": f"{LABEL_POOL}={name}"}):
            docker_api.remove_container(c["Id"], force=True, v=True)
