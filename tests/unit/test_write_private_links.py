"""Secret and config files go into folders the tenant's container can write: a symbolic link
planted there (at the old fixed temp name, or at the final name) must never redirect the write,
the mode or the ownership to another file (issue 20, item 2)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from clawtui.engine.pools.provision import write_local, write_private
from clawtui.fsutil import atomic_write


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file of the engine's machine the tenant would like to overwrite."""
    victim = tmp_path / "host" / "victim"
    victim.parent.mkdir()
    victim.write_bytes(b"host file, untouched\n")
    victim.chmod(0o644)
    return victim


def _unchanged(victim: Path) -> None:
    assert victim.read_bytes() == b"host file, untouched\n"
    st = victim.stat()
    assert stat.S_IMODE(st.st_mode) == 0o644
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())


def test_write_private_never_follows_a_planted_link(tmp_path: Path, outside: Path) -> None:
    folder = tmp_path / "secrets"  # bind-mounted read-write into the container
    folder.mkdir()
    (folder / ".token.tmp").symlink_to(outside)  # the old fixed temp name
    (folder / "token").symlink_to(outside)  # the final name
    uid = 4321 if os.geteuid() == 0 else None

    write_private(folder / "token", b"s3cr3t", uid)

    _unchanged(outside)
    target = folder / "token"
    st = target.lstat()
    assert stat.S_ISREG(st.st_mode), "the link at the final name must be replaced, not followed"
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert target.read_bytes() == b"s3cr3t"
    if uid is not None:
        assert st.st_uid == uid
    # Only the new file and the planted temp link are left: no temp file of ours.
    assert sorted(p.name for p in folder.iterdir()) == [".token.tmp", "token"]
    assert (folder / ".token.tmp").is_symlink()


def test_write_private_refuses_a_folder_that_is_a_link(tmp_path: Path, outside: Path) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "config").symlink_to(outside.parent)
    with pytest.raises(OSError, match="symbolic link"):
        write_local(tmp_path / "base", {"config": {"victim": b"x"}}, None)
    _unchanged(outside)


def test_atomic_write_no_follow_replaces_the_link_and_sets_the_owner(
    tmp_path: Path, outside: Path
) -> None:
    link = tmp_path / "f"
    link.symlink_to(outside)
    atomic_write(link, b"new", mode=0o600, follow_links=False, owner=(os.getuid(), os.getgid()))
    _unchanged(outside)
    assert not link.is_symlink() and link.read_bytes() == b"new"
    assert stat.S_IMODE(link.stat().st_mode) == 0o600
    # The default is unchanged: a dotfile manager's link is kept and its target replaced.
    dot = tmp_path / "dot"
    dot.symlink_to(tmp_path / "real")
    (tmp_path / "real").write_text("old")
    atomic_write(dot, "kept link")
    assert dot.is_symlink() and (tmp_path / "real").read_text() == "kept link"
