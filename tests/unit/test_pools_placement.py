"""Pools over several hosts (issue 18): the placement choice (pure) and the `hosts` config."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from clawtui.config import ConfigError, HostConfig, Settings, load_settings
from clawtui.config.pools import PoolConfig, WorkloadConfig
from clawtui.engine.pools.placement import free_budget, place
from clawtui.engine.pools.spec import spec_hash

MIB = 1024 * 1024


def test_each_container_goes_to_the_host_with_the_most_free_budget() -> None:
    # beta has 48 MiB more: beta, beta (16 more than alpha), then alpha (alpha 16 more), ...
    free = {"alpha": 1000 * MIB, "beta": 1048 * MIB}
    assert place(["alpha", "beta"], free, 32 * MIB, 4) == ["beta", "beta", "alpha", "beta"]
    # the list order does not change a strict choice
    assert place(["beta", "alpha"], free, 32 * MIB, 3) == ["beta", "beta", "alpha"]


def test_ties_go_to_the_first_host_listed() -> None:
    free = {"a": 100, "b": 100, "c": 100}
    assert place(["c", "a", "b"], free, 10, 4) == ["c", "a", "b", "c"]
    assert place(["a", "b", "c"], free, 0, 3) == ["a", "a", "a"]  # nothing taken: stays first


def test_offline_hosts_get_nothing_and_none_online_places_nothing() -> None:
    assert place(["a", "b", "c"], {"b": 5, "c": 50}, 10, 3) == ["c", "c", "c"]
    assert place(["a", "b"], {}, 10, 3) == []
    assert place(["a"], {"a": 10}, 10, 0) == []


def test_a_host_over_its_budget_still_ranks_by_what_is_left() -> None:
    # negative free budgets (an over-committed host) rank below less over-committed ones
    assert place(["a", "b"], {"a": -50, "b": -10}, 10, 3) == ["b", "b", "b"]
    assert place(["a", "b"], {"a": -50, "b": -10}, 30, 3) == ["b", "b", "a"]


def test_free_budget_is_ram_minus_reserve_minus_limits_and_pending() -> None:
    assert free_budget(1000, 200, [100, 0, -1, 50]) == 650  # unlimited (0/-1) count nothing
    assert free_budget(1000, 200, [100], pending=[32, 32]) == 636
    assert free_budget(100, 200, []) == -100


def _wl() -> WorkloadConfig:
    return WorkloadConfig(name="w", image="i")


def test_hosts_list_replaces_host_and_both_is_an_error_naming_the_pool() -> None:
    hosts = [HostConfig(name="local"), HostConfig(name="a", url="tcp://10.0.0.1:2375")]
    settings = Settings(
        hosts=hosts,
        workloads=[_wl()],
        pools=[PoolConfig(name="p", workload="w", hosts=["a", "local"])],
    )
    assert settings.pools[0].all_hosts == ["a", "local"]
    assert settings.pools[0].first_host == "a"
    assert PoolConfig(name="q", workload="w", host="a").all_hosts == ["a"]
    assert PoolConfig(name="q", workload="w").all_hosts == ["local"]
    with pytest.raises(ValidationError, match=r"pool both: set `host` or `hosts`, not both"):
        PoolConfig(name="both", workload="w", host="a", hosts=["a"])
    with pytest.raises(ValidationError, match="pool e: `hosts` must name at least one host"):
        PoolConfig(name="e", workload="w", hosts=[])
    with pytest.raises(ValidationError, match="pool d: hosts listed twice: a"):
        PoolConfig(name="d", workload="w", hosts=["a", "local", "a"])
    with pytest.raises(ValidationError, match=r"pools\[0\] \(p\): unknown host 'far'"):
        Settings(
            hosts=hosts,
            workloads=[_wl()],
            pools=[PoolConfig(name="p", workload="w", hosts=["a", "far"])],
        )


def test_config_file_with_hosts_loads_and_both_keys_is_reported(tmp_path: Path) -> None:
    head = """
        [[hosts]]
        name = "local"
        [[hosts]]
        name = "b"
        url = "tcp://10.0.0.2:2375"
        [[workloads]]
        name = "w"
        image = "i"
    """
    good = tmp_path / "good.toml"
    good.write_text(
        textwrap.dedent(head + '[[pools]]\nname = "p"\nworkload = "w"\nhosts = ["b", "local"]\n')
    )
    assert load_settings(good, use_state=False).pools[0].all_hosts == ["b", "local"]
    bad = tmp_path / "bad.toml"
    bad.write_text(
        textwrap.dedent(head + '[[pools]]\nname = "p"\nworkload = "w"\nhost = "b"\nhosts = ["b"]\n')
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(bad, use_state=False)
    assert any("pool p: set `host` or `hosts`" in i.message for i in caught.value.issues)


def test_each_host_of_a_pool_has_its_own_spec_and_a_one_host_pool_keeps_its_hash() -> None:
    wl = _wl()
    one = PoolConfig(name="p", workload="w", host="a")
    listed = PoolConfig(name="p", workload="w", hosts=["a", "b"])
    assert spec_hash(wl, one) == spec_hash(wl, one, "a") == spec_hash(wl, listed, "a")
    assert spec_hash(wl, listed, "b") != spec_hash(wl, listed, "a")


def test_cli_shows_the_host_of_each_container_and_a_lost_claim(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import time

    from clawtui.cli.pool import _print_claim, _print_containers
    from clawtui.engine.api.pools import ClaimInfo, PoolContainer

    now = time.time()
    _print_containers(
        [
            PoolContainer(name="pool-p-1", pool="p", host="beta", state="warm", source="warm",
                          health="healthy", created_at=now - 5, age=5.0),
        ]
    )  # fmt: skip
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:4] == ["CONTAINER", "POOL", "HOST", "STATE"]
    assert out[1].split()[:4] == ["pool-p-1", "p", "beta", "warm"]
    lost = ClaimInfo(
        tenant="t", pool="p", container="pool-p-1", host="beta", state="lost", source="warm",
        claimed_at=now - 60, last_activity=now - 60, released_at=now - 7,
        error="host beta went offline at 2026-12-03 14:00:00 UTC (connection refused)",
    )  # fmt: skip
    _print_claim(lost.model_dump(mode="json"))
    text = capsys.readouterr().out
    assert "[lost, warm]" in text and "pool       p (beta)" in text
    assert re.search(r"^lost       \d+s ago on beta$", text, re.MULTILINE), text
    assert "error      host beta went offline" in text


def test_a_host_fails_over_only_after_failover_after_seconds_offline() -> None:
    from clawtui.engine.pools.failover import offline_for_long

    assert not offline_for_long(False, None, 1000.0, 0)  # online: never
    assert offline_for_long(True, 990.0, 1000.0, 0)  # 0: at once
    assert offline_for_long(True, None, 1000.0, 0)
    assert not offline_for_long(True, 990.0, 1000.0, 30)  # a 10 s restart keeps its claims
    assert offline_for_long(True, 970.0, 1000.0, 30)
    assert not offline_for_long(True, None, 1000.0, 30)  # since unknown: wait until it is
    assert PoolConfig(name="p", workload="w", hosts=["a", "b"]).failover_after == 30.0
    with pytest.raises(ValidationError, match="failover_after"):
        PoolConfig(name="p", workload="w", hosts=["a", "b"], failover_after=-1)
