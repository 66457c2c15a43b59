"""The built-in heartbeat runner's findings say one problem once, in git's own first line, and
the template's placeholder task is not reported as open work (issue 19). Real git, tmp repos."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from clawtui.engine.heartbeats.md import TEMPLATE, parse
from clawtui.engine.heartbeats.runner import BeatTarget, BuiltinRunner, git_message

ENV = {
    "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin",
}  # fmt: skip


def _repo(path: Path) -> Path:
    path.mkdir()
    for args in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "one"]):
        subprocess.run(["git", *args], cwd=path, env=ENV, check=True)
    return path


async def test_a_repo_without_a_remote_gets_gits_first_line_once(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "r")
    outcome = await BuiltinRunner().run(
        BeatTarget(1, "r", repo), ["quick", "hourly"], None, time.time()
    )
    fetch = [f for f in outcome.findings if "fetch" in f]
    assert fetch == ["git fetch failed: 'origin' does not appear to be a git repository"]


async def test_a_folder_that_is_not_a_repository_gets_one_finding(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    outcome = await BuiltinRunner().run(
        BeatTarget(1, "p", folder), ["quick", "hourly", "daily"], None, time.time()
    )
    assert len(outcome.findings) == 1
    assert outcome.findings[0].startswith("repo: not a git repository")


async def test_the_templates_example_task_is_not_an_open_task(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "r")
    doc = parse(TEMPLATE.replace("- [ ] Example task", "- [ ] Example task\n- [ ] ship it"))
    outcome = await BuiltinRunner().run(BeatTarget(1, "r", repo), ["daily"], doc, time.time())
    assert outcome.report is not None
    assert "Open tasks: ship it" in outcome.report and "Example task" not in outcome.report


def test_git_message_takes_the_first_meaningful_line() -> None:
    err = "\nfatal: bad thing\nfatal: more\n\nPlease make sure...\nand the repository exists.\n"
    assert git_message(err, "x") == "bad thing"
    assert git_message("  \n", "fallback") == "fallback"


async def test_tinyclaw_tier_checks_are_not_open_tasks(tmp_path: Path) -> None:
    """TinyClaw's template lists recurring checks under `## Quick Tasks (every heartbeat)` and
    the like: they are not open work, while a task under its own heading is."""
    from clawtui.engine.heartbeats.md import TINYCLAW_TEMPLATE

    repo = _repo(tmp_path / "r")
    doc = parse(TINYCLAW_TEMPLATE + "\n## Tasks\n- [ ] ship it\n")
    outcome = await BuiltinRunner().run(BeatTarget(1, "r", repo), ["daily"], doc, time.time())
    assert outcome.report is not None
    assert "Open tasks: ship it" in outcome.report
    assert "git status" not in outcome.report
