"""House rules of ARCHITECTURE.md that a reader can check by looking at the tree."""

from __future__ import annotations

from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "clawtui"
MAX_LINES = 600
MODULES = sorted(PACKAGE.rglob("*.py"))


def test_the_package_is_there() -> None:
    assert len(MODULES) > 50, MODULES


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_over_600_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, (
        f"{path.relative_to(PACKAGE.parent)} has {lines} lines (at most {MAX_LINES}): "
        "split it by responsibility"
    )


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_names_say_what_they_hold(path: Path) -> None:
    assert path.stem not in {"utils", "util", "misc", "helpers", "common"}, path


# SQL on another program's database, not on clawtui.db: with the reason.
SQL_ELSEWHERE = {
    "engine/threads/nanoclaw.py": "Nanoclaw's own databases (v1 store/messages.db, v2 data/v2.db "
    "and each session's inbound.db: its format, its tables)",
}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_sql_lives_in_the_store_modules(path: Path) -> None:
    """Each capability owns its SQL in its own `store.py` (issue 13); the rest calls it."""
    rel = str(path.relative_to(PACKAGE))
    if path.name == "store.py" or rel in SQL_ELSEWHERE:
        return
    text = path.read_text(encoding="utf-8")
    for call in (".execute(", ".executemany(", ".executescript("):
        assert call not in text, f"{rel} runs SQL ({call}): move it into its package's store.py"
