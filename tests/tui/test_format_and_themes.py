"""Pure parts of the TUI: number formatting, memory budget colors, theme file validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from clawtui.engine.api.models import MIB, ContainerStats, HostMemory
from clawtui.tui.format import (
    BudgetLevel,
    budget_level,
    format_bytes,
    format_cpu,
    format_memory,
    humanize_duration,
)
from clawtui.tui.themes import BUILTIN_THEMES_DIR, load_theme_file, load_themes
from tests.tui.fakes import GIB, container


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "—"),
        (0, "0s"),
        (42.9, "42s"),
        (312, "5m 12s"),
        (3 * 3600 + 4 * 60 + 5, "3h 4m"),
        (2 * 86400 + 3 * 3600 + 59, "2d 3h"),
        (-5, "0s"),
    ],
)
def test_humanize_duration(seconds: float | None, text: str) -> None:
    assert humanize_duration(seconds) == text


def test_sizes_cpu_and_memory_cells() -> None:
    assert format_bytes(16 * GIB) == "16.0 GiB"
    assert format_bytes(512 * MIB) == "512 MiB"
    assert format_bytes(-GIB) == "-1.0 GiB"
    running = container("a", "a", stats=ContainerStats(cpu_percent=3.14159, mem_used=100 * MIB))
    assert format_cpu(running) == "3.1"
    assert format_memory(running) == "100 / 512"
    assert format_cpu(container("b", "b")) == "…"  # running, no sample yet
    newer = ContainerStats(cpu_percent=42.0, mem_used=200 * MIB)  # a sample newer than its own
    assert format_cpu(running, newer) == "42.0"
    assert format_memory(running, newer) == "200 / 512"
    unlimited = container("c", "c", memory_limit=0, state="exited", started_ago=None)
    assert format_cpu(unlimited) == ""
    assert format_memory(unlimited) == "— / —"
    assert format_cpu(unlimited, newer) == ""  # not running: no figure, whatever the sample
    assert format_memory(unlimited, newer) == "— / —"


@pytest.mark.parametrize(
    ("total", "allocated", "level"),
    [
        (0, 0, BudgetLevel.UNKNOWN),
        (16, 4, BudgetLevel.OK),  # budget 14, 10 left
        (16, 11, BudgetLevel.LOW),  # 3 of 14 left (< 25 %)
        (16, 13, BudgetLevel.CRITICAL),  # 1 of 14 left (< 10 %)
        (16, 20, BudgetLevel.CRITICAL),  # overcommitted
        (2, 0, BudgetLevel.CRITICAL),  # the reserve eats all RAM
    ],
)
def test_budget_level(total: int, allocated: int, level: BudgetLevel) -> None:
    reserve = 2 * GIB
    memory = HostMemory(
        total=total * GIB,
        allocated=allocated * GIB,
        reserve=reserve,
        available=total * GIB - reserve - allocated * GIB,
    )
    assert budget_level(memory) is level


def test_shipped_themes_are_valid() -> None:
    loaded = load_themes([BUILTIN_THEMES_DIR])
    assert loaded.problems == []
    assert {t.name for t in loaded.themes} >= {"clawtui-dark", "clawtui-light"}
    dark = next(t for t in loaded.themes if t.name == "clawtui-dark")
    assert dark.dark and dark.primary.startswith("#")


def test_theme_problems_name_the_key(tmp_path: Path) -> None:
    source = (BUILTIN_THEMES_DIR / "clawtui-dark.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(source.replace('error = "#ff6b6b"', 'error = "reddish"') + "extra = 1\n")
    with pytest.raises(ValueError, match="error") as info:
        load_theme_file(bad)
    assert "extra" in str(info.value)
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * 70_000)
    with pytest.raises(ValueError, match="too large"):
        load_theme_file(big)
    loaded = load_themes([tmp_path, tmp_path / "missing"])
    assert sorted(str(p.path.name) for p in loaded.problems) == ["bad.toml", "big.toml", "missing"]
