"""Crafted state archives against the member-by-member extraction of the remote pool path
(issue 20, item 3): nothing lands outside the target, whatever tarfile's filters would do on
this interpreter (3.11 before 3.11.13 lacks the 2025 filter fixes)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from clawtui.engine.pools.state_archive import ArchiveRefused, extract_state_archive


def archive(*members: tuple[tarfile.TarInfo, bytes | None]) -> tarfile.TarFile:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    buf.seek(0)
    return tarfile.open(fileobj=buf, mode="r:")


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.mode = 0o644
    return info


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    d = tmp_path / "staging"
    d.mkdir()
    return d


def outside(tmp_path: Path, dest: Path) -> list[str]:
    """Everything under tmp_path that is not under dest (must stay empty)."""
    return [str(p) for p in tmp_path.rglob("*") if p != dest and dest not in p.parents]


def test_a_good_archive_is_extracted(tmp_path: Path, dest: Path) -> None:
    tar = archive(
        (member("data", tarfile.DIRTYPE), None),
        (member("data/sub/a.txt"), b"alpha"),
        (member("data/b.txt"), b"beta"),
        (member("data/c.txt", tarfile.LNKTYPE, "data/b.txt"), None),
    )
    extract_state_archive(tar, dest, max_bytes=1000)
    assert (dest / "data/sub/a.txt").read_bytes() == b"alpha"
    assert (dest / "data/c.txt").read_bytes() == b"beta"
    assert not os.path.samefile(dest / "data/c.txt", dest / "data/b.txt"), "a copy, not a link"
    assert outside(tmp_path, dest) == []


@pytest.mark.parametrize(
    ("members", "why"),
    [
        ([(member("/tmp/abs.txt"), b"x")], "absolute"),
        ([(member("data/../../escape.txt"), b"x")], "'..'"),
        ([(member("../escape.txt"), b"x")], "'..'"),
        ([(member("data/out", tarfile.SYMTYPE, "/etc"), None)], "symbolic link"),
        ([(member("data/rel", tarfile.SYMTYPE, "../.."), None)], "symbolic link"),
        ([(member("data/h", tarfile.LNKTYPE, "/etc/passwd"), None)], "hard link"),
        ([(member("data/h", tarfile.LNKTYPE, "../outside.txt"), None)], "hard link"),
        ([(member("data/h", tarfile.LNKTYPE, "data/later.txt"), None)], "hard link"),
        ([(member("data/dev", tarfile.CHRTYPE), None)], "not a regular file"),
        ([(member("data/blk", tarfile.BLKTYPE), None)], "not a regular file"),
        ([(member("data/fifo", tarfile.FIFOTYPE), None)], "not a regular file"),
        ([(member("data/big.bin"), b"z" * 2000)], "size cap"),
        ([(member("data/a"), b"z" * 600), (member("data/b"), b"z" * 600)], "size cap"),
        ([(member("data/a"), b"1"), (member("data/a"), b"2")], "twice"),
        ([(member("data/a"), b"1"), (member("data/a/b"), b"2")], "file and a folder"),
    ],
)
def test_a_crafted_archive_is_refused(
    tmp_path: Path, dest: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], why: str
) -> None:
    with pytest.raises(ArchiveRefused, match=why):
        extract_state_archive(archive(*members), dest, max_bytes=1000)
    assert outside(tmp_path, dest) == []


def test_a_huge_member_is_refused_before_it_is_read(tmp_path: Path, dest: Path) -> None:
    """A header announcing 1 TiB: refused from the header, nothing written."""
    info = member("data/huge.bin")
    info.size = 1 << 40
    buf = io.BytesIO()
    buf.write(info.tobuf(format=tarfile.PAX_FORMAT))
    buf.write(b"\0" * 1024)
    buf.seek(0)
    with (
        tarfile.open(fileobj=buf, mode="r:") as tar,
        pytest.raises(ArchiveRefused, match="size cap"),
    ):
        extract_state_archive(tar, dest, max_bytes=1 << 30)
    assert list(dest.rglob("*")) == []


def test_too_many_members_and_a_custom_link_error(dest: Path) -> None:
    many = [(member(f"f{i}"), b"") for i in range(5)]
    with pytest.raises(ArchiveRefused, match="more than 3 members"):
        extract_state_archive(archive(*many), dest, max_bytes=10, max_members=3)
    with pytest.raises(ValueError, match="data/l"):
        extract_state_archive(
            archive((member("data/l", tarfile.SYMTYPE, "x"), None)),
            dest,
            max_bytes=10,
            on_symlink=ValueError,
        )
