"""A manual `both` sync loses nothing newer on either side (issue 20, item 8), with real rclone
and a local folder sink, on a mapping in `mode = "sync"` (the mode that deletes).

Before: `both` was download-then-upload in the mapping's mode, so the download deleted what the
container created since the last upload and put back the sink's older copy of a changed file.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import docker
import pytest

from clawtui.config.pools import PoolConfig, SyncMapping
from tests.integration.pool_helpers import (
    local_sync,
    pool_settings,
    running,
    sh,
    unique,
    wait_warm,
    workload,
)

pytestmark = pytest.mark.timeout(180)


def files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


async def test_both_keeps_what_is_newer_on_either_side(
    tmp_path: Path, docker_api: docker.APIClient, test_labels: dict[str, str], pool_image: str
) -> None:
    sink = tmp_path / "sink"
    name = unique("sb")
    mapping = SyncMapping(name="state", path="/state/data", sink_path="data", mode="sync")
    settings = pool_settings(
        tmp_path / "state",
        [workload(name, test_labels, sync=local_sync(sink, [mapping], on_claim=False))],
        [PoolConfig(name=name, workload=name, min_warm=1, max=2)],
    )
    async with running(settings, docker_api) as engine:
        await wait_warm(engine, name, 1)
        claim = await engine.pools.claim("bo", name)
        sh(docker_api, claim.container, "mkdir -p /state/data && echo v1 > /state/data/a.txt")
        assert (await engine.pools.sync("bo", "upload")).ok
        saved = sink / "tenants" / "bo" / "data"
        assert files(saved) == {"a.txt": "v1\n"}
        old = time.time() - 600
        os.utime(saved / "a.txt", (old, old))

        # Since the upload: the container changed a.txt and made b.txt; the sink got c.txt
        # (another writer) and a newer d.txt than the container's.
        sh(
            docker_api,
            claim.container,
            "echo 'v2, longer' > /state/data/a.txt && echo new > /state/data/b.txt"
            " && echo mine > /state/data/d.txt && touch -d '2001-01-01' /state/data/d.txt",
        )
        (saved / "c.txt").write_text("from the sink\n")
        (saved / "d.txt").write_text("sink, newer\n")

        result = await engine.pools.sync("bo", "both")
        assert result.ok, result
        assert [r.direction for r in result.runs] == ["download", "upload"]
        want = {
            "a.txt": "v2, longer\n",
            "b.txt": "new\n",
            "c.txt": "from the sink\n",
            "d.txt": "sink, newer\n",
        }
        local = engine.pools.root / claim.container / "state" / "data"
        assert files(local) == want
        assert files(saved) == want
        # The mapping's own mode still applies to one-way syncs: an upload in mode "sync"
        # deletes from the sink what the container removed.
        sh(docker_api, claim.container, "rm /state/data/c.txt")
        assert (await engine.pools.sync("bo", "upload")).ok
        assert "c.txt" not in files(saved)
