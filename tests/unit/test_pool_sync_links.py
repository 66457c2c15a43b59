"""The staging copy state sync runs rclone on (issue 20, item 1): links in the tenant's folder
are refused and named, and a link planted after the check (while rclone runs) is replaced on
the way back, never written through."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest

from clawtui.engine.pools import sync as pool_sync
from clawtui.engine.pools.sync import StateFolder, UnsafeState, restore_state, snapshot_state

OUTSIDE = "engine's own file\n"


@pytest.fixture
def volume(tmp_path: Path) -> Path:
    vol = tmp_path / "state"
    (vol / "data" / "sub").mkdir(parents=True)
    (vol / "data" / "a.txt").write_text("a\n")
    (vol / "data" / "sub" / "b.txt").write_text("b\n")
    return vol


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "host"
    folder.mkdir()
    (folder / "canary").write_text(OUTSIDE)
    return folder


def folder_of(volume: Path) -> StateFolder:
    return StateFolder(volume, "data", "/state")


def test_snapshot_copies_files_and_folders(volume: Path, tmp_path: Path) -> None:
    os.mkfifo(volume / "data" / "pipe")  # rclone could block on it: left out
    record = snapshot_state(folder_of(volume), tmp_path / "snap")
    assert record is not None and set(record) == {"data/a.txt", "data/sub/b.txt"}
    assert (tmp_path / "snap" / "sub" / "b.txt").read_text() == "b\n"
    assert not (tmp_path / "snap" / "pipe").exists()
    assert snapshot_state(StateFolder(volume, "missing"), tmp_path / "none") is None
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize(
    ("plant", "named"),
    [
        ("data", "data"),  # the mapping's root
        ("data/sub", "data/sub"),  # a nested folder
        ("data/a.txt", "data/a.txt"),  # a file
    ],
)
def test_snapshot_refuses_any_link(
    volume: Path, outside: Path, tmp_path: Path, plant: str, named: str
) -> None:
    target = volume / plant
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink()
    target.symlink_to(outside if plant != "data/a.txt" else outside / "canary")
    with pytest.raises(UnsafeState) as refused:
        snapshot_state(folder_of(volume), tmp_path / "snap")
    assert str(refused.value).startswith(f"{named} is a symbolic link (/state/{named} in the")
    assert not (tmp_path / "snap" / "canary").exists()


def test_restore_replaces_a_link_planted_after_the_snapshot(
    volume: Path, outside: Path, tmp_path: Path
) -> None:
    snap = tmp_path / "snap"
    record = snapshot_state(folder_of(volume), snap)
    assert record is not None
    # rclone fills the staging copy: a new file, a replaced one, a deleted one ...
    (snap / "new.txt").write_text("new\n")
    (snap / "a.txt").unlink()
    (snap / "a.txt").write_text("from the sink\n")
    (snap / "sub" / "b.txt").unlink()
    # ... while the container plants links at those names.
    (volume / "data" / "new.txt").symlink_to(outside / "canary")
    (volume / "data" / "a.txt").unlink()
    (volume / "data" / "a.txt").symlink_to(outside / "canary")
    restore_state(folder_of(volume), snap, record, delete=True)
    assert (outside / "canary").read_text() == OUTSIDE
    assert not (volume / "data" / "new.txt").is_symlink()
    assert (volume / "data" / "new.txt").read_text() == "new\n"
    assert (volume / "data" / "a.txt").read_text() == "from the sink\n"
    assert not (volume / "data" / "sub" / "b.txt").exists(), "mode sync deletes it"


def test_restore_refuses_a_folder_link_planted_after_the_snapshot(
    volume: Path, outside: Path, tmp_path: Path
) -> None:
    snap = tmp_path / "snap"
    record = snapshot_state(folder_of(volume), snap)
    assert record is not None
    (snap / "sub" / "canary").write_text("from the sink\n")
    shutil.rmtree(volume / "data" / "sub")
    (volume / "data" / "sub").symlink_to(outside)
    with pytest.raises(UnsafeState, match="data/sub is a symbolic link"):
        restore_state(folder_of(volume), snap, record, delete=True)
    assert (outside / "canary").read_text() == OUTSIDE


def test_snapshot_copies_when_hard_links_are_refused(
    volume: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_link(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(pool_sync.os, "link", no_link)
    os.utime(volume / "data" / "a.txt", ns=(1_000_000_000, 2_000_000_000))
    record = snapshot_state(folder_of(volume), tmp_path / "snap")
    assert record is not None and set(record) == {"data/a.txt", "data/sub/b.txt"}
    staged = tmp_path / "snap" / "a.txt"
    assert staged.read_text() == "a\n"
    assert staged.stat().st_ino != (volume / "data" / "a.txt").stat().st_ino
    assert staged.stat().st_mtime_ns == 2_000_000_000  # rclone compares size and mtime
    # Untouched copies are not moved back; the tenant's files stay as they are.
    restore_state(folder_of(volume), tmp_path / "snap", record, delete=True)
    assert (volume / "data" / "a.txt").stat().st_mtime_ns == 2_000_000_000
