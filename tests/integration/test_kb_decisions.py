"""Human decisions on escalations land in the knowledge base's decisions.md (a real git repo made
by `kb.init`), one table row each (date, who, what, why), committed like daily reports."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from clawtui.config.threads import ThreadEntry, ThreadsConfig
from clawtui.engine.api.escalations import Action, Decision, NewEscalation
from clawtui.engine.api.models import EventKind
from clawtui.engine.bus import Subscription
from clawtui.engine.core import Engine
from clawtui.engine.kb import knowledge as kb
from tests.integration.engine_helpers import make_settings, wait_for_event

pytestmark = pytest.mark.integration


def git_log(repo: Path) -> list[str]:
    out = subprocess.run(
        ["git", "log", "--format=%s"], cwd=repo, check=True, capture_output=True, text=True
    )
    return out.stdout.splitlines()


def git_status(repo: Path) -> str:
    out = subprocess.run(
        ["git", "status", "--porcelain"], cwd=repo, check=True, capture_output=True, text=True
    )
    return out.stdout


async def test_decisions_are_appended_and_committed(tmp_path: Path) -> None:
    kb_dir = tmp_path / "kb"
    await kb.init(kb_dir)
    before = (kb_dir / "decisions.md").read_bytes()
    settings = make_settings(tmp_path / "state")
    settings.threads = ThreadsConfig(
        home=tmp_path / "home",
        threads=[ThreadEntry(id=1, name="m", cwd=kb_dir), ThreadEntry(id=2, name="api")],
        kb_dir=kb_dir,
        heartbeat=False,
    )
    engine = Engine(settings)
    sub = engine.subscribe([EventKind.KB])
    await engine.start()
    try:
        await _decide_two(engine, kb_dir, before, sub)
    finally:
        await engine.stop()


async def _decide_two(engine: Engine, kb_dir: Path, before: bytes, sub: Subscription) -> None:
    esc = engine.escalations
    first = await esc.raise_(
        NewEscalation(
            agent="api",
            thread_id=2,
            doing="deploy",
            need="approve the migration",
            proposed_fix="run migrate --safe",
        )
    )
    second = await esc.raise_(
        NewEscalation(agent="web", doing="release", need="which branch | now?")
    )
    await esc.decide(first.id, Decision(action=Action.APPROVE, by="alice", why="tested on staging"))
    event = await wait_for_event(sub, lambda e: e.data["action"] == "decision", 10)
    assert event.data["committed"] is True
    await esc.decide(
        second.id,
        Decision(
            action=Action.MODIFY,
            text="release from main",
            by="bob",
            why="the fix is on main\nnot on the branch",
        ),
    )
    await wait_for_event(sub, lambda e: e.data["action"] == "decision", 10)

    text = (kb_dir / "decisions.md").read_bytes()
    assert text.startswith(before)  # append-only: what was there stays byte for byte
    rows = text[len(before) :].decode().splitlines()
    assert len(rows) == 2
    date = r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"
    assert re.match(rf"^\| {date} \| alice: approved escalation #{first.id} ", rows[0])
    assert "from api: approve the migration; fix: run migrate --safe" in rows[0]
    assert rows[0].endswith("| tested on staging |")
    assert f"bob: modified escalation #{second.id} from web: which branch \\| now?" in rows[1]
    assert "; instead: release from main |" in rows[1]
    assert rows[1].endswith("| the fix is on main / not on the branch |")
    log = git_log(kb_dir)
    assert log[0].startswith(f"Decision: modified escalation #{second.id} from web: which")
    assert log[0].endswith("(by bob)")
    assert log[1].startswith(f"Decision: approved escalation #{first.id} from api: approve")
    assert log[1].endswith("(by alice)")
    assert git_status(kb_dir) == ""


def test_append_starts_a_table_when_the_file_does_not_end_in_one() -> None:
    from clawtui.engine.kb.decisions import HEADER, append

    assert (
        append("# Decisions\n\nprose\n", "| r |\n")
        == "# Decisions\n\nprose\n\n" + HEADER + "| r |\n"
    )
    assert append("| a |\n\n\n", "| r |\n") == "| a |\n| r |\n"
    assert append("", "| r |\n") == "# Decisions\n\n" + HEADER + "| r |\n"


def test_cli_decide_with_why_goes_to_decisions_md(tmp_path: Path) -> None:
    """`clawtui escalations decide ... --why` on the local store: the row carries the why."""
    import asyncio

    from tests.integration.test_escalations import _cli

    kb_dir = tmp_path / "kb"
    asyncio.run(kb.init(kb_dir))
    config = tmp_path / "config.toml"
    config.write_text(
        f'[engine]\nstate_dir = "{tmp_path / "state"}"\n\n'
        f'[threads]\nhome = "{tmp_path / "home"}"\nkb_dir = "{kb_dir}"\nheartbeat = false\n'
    )
    out = _cli("escalate", "--agent", "a", "--doing", "d", "--need", "n", config=config)
    assert out.returncode == 0, out.stderr
    out = _cli(
        "escalations", "decide", "1", "skip", "--by", "dana", "--why", "not this sprint",
        config=config,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    last = (kb_dir / "decisions.md").read_text().splitlines()[-1]
    assert "| dana: skipped escalation #1 from a: n | not this sprint |" in last
    assert git_log(kb_dir)[0] == "Decision: skipped escalation #1 from a: n (by dana)"
