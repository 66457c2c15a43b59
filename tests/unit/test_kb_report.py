"""`record_report` never rewrites a file it could only read in part (issue 20: it read
active-projects.md capped at 1 MiB and wrote the cut text back, losing the tail)."""

from __future__ import annotations

from pathlib import Path

import pytest

from clawtui.engine.kb import knowledge as kbmod


async def test_a_report_into_an_oversize_file_is_refused_and_the_file_kept(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    await kbmod.init(kb)
    path = kb / "active-projects.md"
    tail = "\n## the end (thread 99)\nthis must survive\n"
    original = path.read_text() + "x" * (kbmod.MAX_KB_BYTES + 10) + tail
    path.write_text(original)
    with pytest.raises(kbmod.KBError, match="larger than"):
        await kbmod.record_report(kb, 4, "peter", "- merged the fix")
    assert path.read_text() == original


async def test_a_report_into_a_normal_file_is_written(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    await kbmod.init(kb)
    await kbmod.record_report(kb, 4, "peter", "- merged the fix")
    text = (kb / "active-projects.md").read_text()
    assert "## peter (thread 4)" in text and "- merged the fix" in text
