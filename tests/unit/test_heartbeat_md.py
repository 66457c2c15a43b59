"""HEARTBEAT.md parser and writer: template, tolerance, byte-for-byte round trip, properties."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clawtui.engine.heartbeats import md as hb

T1 = datetime(2026, 2, 11, 10, 5, tzinfo=UTC)

SEED = """## Timestamps
- Last quick: 2026-02-11T10:05:00Z
- Last hourly: 2026-02-11T10:00:00Z
- Last daily: 2026-02-11T00:00:00Z

## Urgent Flags
(none)

## Tasks
- [ ] Example task

## Notes
(agent scratch space)
"""

TINYCLAW_VARIANT = """# Heartbeat

## Quick Tasks
- [ ] check CI
- [x] rebase

## Hourly Tasks
- [ ] git fetch

## Daily Tasks
- [ ] summary to master
"""


def test_seed_template_parses() -> None:
    doc = hb.parse(SEED)
    assert doc.timestamps["quick"] == T1
    assert doc.timestamps["daily"] == datetime(2026, 2, 11, tzinfo=UTC)
    assert doc.urgent_flags == []
    assert [t.text for t in doc.tasks] == ["Example task"]
    assert doc.notes == "(agent scratch space)"
    assert doc.problems == []


def test_tinyclaw_variant_sections() -> None:
    doc = hb.parse(TINYCLAW_VARIANT)
    assert [(t.section, t.text, t.done) for t in doc.tasks] == [
        ("Quick Tasks", "check CI", False),
        ("Quick Tasks", "rebase", True),
        ("Hourly Tasks", "git fetch", False),
        ("Daily Tasks", "summary to master", False),
    ]
    assert all(v is None for v in doc.timestamps.values())
    assert any("Timestamps" in p for p in doc.problems)


def test_update_changes_only_timestamp_lines() -> None:
    src = SEED.replace("\n", "\r\n").encode()
    doc = hb.parse(b"\xef\xbb\xbf" + src)
    new = hb.set_timestamps(doc, {"hourly": datetime(2026, 3, 1, 12, tzinfo=UTC)})
    out = hb.render(new)
    assert out.startswith(b"\xef\xbb\xbf")
    before = (b"\xef\xbb\xbf" + src).split(b"\r\n")
    after = out.split(b"\r\n")
    assert len(before) == len(after)
    diff = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert diff == [2]
    assert after[2] == b"- Last hourly: 2026-03-01T12:00:00Z"


def test_missing_stamp_line_and_section_are_added() -> None:
    doc = hb.parse("## Timestamps\n- Last quick: (never)\n\n## Notes\nkeep me\n")
    out = hb.render(hb.set_timestamps(doc, {"quick": T1, "daily": T1})).decode()
    assert out == (
        "## Timestamps\n- Last quick: 2026-02-11T10:05:00Z\n"
        "- Last daily: 2026-02-11T10:05:00Z\n\n## Notes\nkeep me\n"
    )
    doc = hb.parse("## Notes\nkeep me")
    out = hb.render(hb.set_timestamps(doc, {"quick": T1})).decode()
    assert out == "## Timestamps\n- Last quick: 2026-02-11T10:05:00Z\n\n## Notes\nkeep me"


def test_tolerates_bad_input() -> None:
    doc = hb.parse(b"## Timestamps\n- Last quick: yesterday\n## Timestamps\n\xff\xfe\n")
    assert doc.timestamps["quick"] is None
    joined = " ".join(doc.problems)
    assert "not a timestamp" in joined
    assert "more than once" in joined
    assert "UTF-8" in joined
    assert "\ufffd" in doc.text


def test_capped_read_and_no_rewrite_of_truncated(tmp_path: Path) -> None:
    path = tmp_path / "HEARTBEAT.md"
    path.write_bytes(SEED.encode() + b"x" * (hb.MAX_HEARTBEAT_BYTES + 10))
    doc = hb.read(path)
    assert doc.truncated
    with pytest.raises(hb.HeartbeatError):
        hb.set_timestamps(doc, {"quick": T1})


def test_missing_file_created_from_template(tmp_path: Path) -> None:
    path = tmp_path / "HEARTBEAT.md"
    doc = hb.update_timestamps(path, {"quick": T1})
    assert doc.timestamps["quick"] == T1
    text = path.read_text()
    stamped = "- Last quick: 2026-02-11T10:05:00Z"
    assert text == hb.TEMPLATE.replace("- Last quick: (never)", stamped)


LINES = st.sampled_from(
    [
        "## Timestamps", "## Urgent Flags", "## Tasks", "## Notes", "## Quick Tasks",
        "- Last quick: 2026-02-11T10:05:00Z", "- Last hourly: (never)", "* Last daily: bogus",
        "- [ ] task", "- [x] done", "(none)", "", "   ", "# Title", "[bold red]x[/]",
        "\x1b[31mred\x1b[0m", "- Last quick: 9999-99-99", "##", "## ",
    ]
)  # fmt: skip
DOCS = st.one_of(
    st.binary(max_size=2000),
    st.text(max_size=500),
    st.lists(st.one_of(LINES, st.text(max_size=40)), max_size=30).flatmap(
        lambda lines: st.sampled_from(["\n", "\r\n", "\r"]).map(lambda nl: nl.join(lines))
    ),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCS)
def test_any_input_parses_and_round_trips(data: bytes | str) -> None:
    try:
        doc = hb.parse(data)
    except hb.HeartbeatError:
        return
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogateescape")
    assert hb.render(doc) == raw
    again = hb.parse(hb.render(doc))
    assert again.timestamps == doc.timestamps
    assert again.tasks == doc.tasks
    assert again.urgent_flags == doc.urgent_flags
    assert again.problems == doc.problems


@settings(max_examples=300, deadline=None)
@given(DOCS, st.sets(st.sampled_from(hb.TIERS), min_size=1))
def test_set_timestamps_keeps_every_other_line(data: bytes | str, tiers: set[hb.Tier]) -> None:
    try:
        doc = hb.parse(data)
        new = hb.set_timestamps(doc, dict.fromkeys(tiers, T1))
    except hb.HeartbeatError:
        return
    for tier in tiers:
        assert new.timestamps[tier] == T1
    for tier in set(hb.TIERS) - tiers:
        assert new.timestamps[tier] == doc.timestamps[tier]

    # every line that is not a stamp line survives, in order
    def others(d: hb.HeartbeatDoc) -> list[str]:
        stamps = set(d.stamp_lines.values())
        return [
            line.rstrip("\r\n")
            for i, line in enumerate(d.lines)
            if i not in stamps and line.rstrip("\r\n") not in ("## Timestamps", "")
        ]

    assert others(new) == others(doc)
