"""What a pool container is, as Docker sees it: its labels and the hash of its spec.

Labels cannot change after create, so they say only what a container is (role `pool`, pool,
workload, spec hash, the engine that made it); who holds it lives in the store (see `store`).
"""

from __future__ import annotations

import hashlib
import json

from clawtui.config.pools import PoolConfig, WorkloadConfig

ROLE = "pool"
LABEL_ROLE = "clawtui.role"
LABEL_POOL = "clawtui.pool"
LABEL_WORKLOAD = "clawtui.workload"
LABEL_SPEC = "clawtui.spec"
LABEL_MANAGED = "clawtui.managed"
LABEL_ENGINE = "clawtui.pool.engine"
"""The id of the engine that made the container (`<state_dir>/pools/engine-id`): an engine
judges (reconciles, collects) only its own pool containers, so two engines may use the same
pool name on one Docker host. Containers without it (made before it existed) count as ours."""


def spec_hash(workload: WorkloadConfig, pool: PoolConfig, host: str | None = None) -> str:
    """Hash of everything that shapes a container on `host` (default: the pool's first host);
    warm containers of an old spec are replaced. The host is part of it (a local host gets
    bind mounts, a remote one Docker volumes), so each host of a pool has its own."""
    data = workload.model_dump(mode="json", exclude={"sync", "config_schema"})
    data["pool_host"] = host or pool.first_host
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
