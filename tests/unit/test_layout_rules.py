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


def test_disruptive_tests_run_only_when_their_marker_is_asked_for(tmp_path: Path) -> None:
    """With the suite's conftest hooks, a test marked disruptive (it would restart the shared
    dockerd) run from its file without `-m disruptive` is skipped and says how to run it;
    with `-m disruptive` it runs. (A stand-in test that writes a file, not a real restart.)"""
    import subprocess
    import sys
    import textwrap

    conftest = Path(__file__).resolve().parents[1] / "conftest.py"
    (tmp_path / "conftest.py").write_text(
        textwrap.dedent(
            f"""
            import importlib.util

            _spec = importlib.util.spec_from_file_location("suite_conftest", {str(conftest)!r})
            _mod = importlib.util.module_from_spec(_spec)
            _spec.loader.exec_module(_mod)
            pytest_configure = _mod.pytest_configure
            pytest_collection_modifyitems = _mod.pytest_collection_modifyitems
            """
        )
    )
    flag = tmp_path / "ran"
    (tmp_path / "test_inner.py").write_text(
        textwrap.dedent(
            f"""
            import pathlib
            import pytest

            @pytest.mark.disruptive
            def test_would_restart_dockerd():
                pathlib.Path({str(flag)!r}).write_text("ran")
            """
        )
    )
    base = [sys.executable, "-m", "pytest", "test_inner.py", "-p", "no:cacheprovider", "-rs"]
    plain = subprocess.run(base, capture_output=True, text=True, cwd=tmp_path)
    assert "restarts the shared dockerd: run it with -m disruptive" in plain.stdout, plain.stdout
    assert not flag.exists()
    asked = subprocess.run(
        [*base, "-m", "disruptive"], capture_output=True, text=True, cwd=tmp_path
    )
    assert "1 passed" in asked.stdout, asked.stdout
    assert flag.read_text() == "ran"
