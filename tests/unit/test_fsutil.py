"""Unit tests of clawtui.fsutil: atomic writes, capped reads, XDG folders."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from clawtui.fsutil import (
    TEMP_MARKER,
    atomic_write,
    is_temp_file,
    read_bytes_capped,
    read_text_capped,
    xdg_config_dir,
    xdg_state_dir,
)


def _temp_files(folder: Path) -> list[Path]:
    return [path for path in folder.iterdir() if TEMP_MARKER in path.name]


def test_atomic_write_creates_parents_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "file.txt"
    atomic_write(target, "héllo\n")
    assert target.read_bytes() == "héllo\n".encode()
    atomic_write(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert _temp_files(target.parent) == []


def test_atomic_write_failure_keeps_old_file_and_removes_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "keep.txt"
    target.write_text("old")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        atomic_write(target, "new")
    assert target.read_text() == "old"
    assert _temp_files(tmp_path) == []


def test_atomic_write_failure_while_writing_removes_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_fsync(fd: int) -> None:
        raise OSError("no fsync today")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="no fsync today"):
        atomic_write(tmp_path / "new.txt", "data")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_applies_mode(tmp_path: Path) -> None:
    target = tmp_path / "secret.toml"
    atomic_write(target, "x", mode=0o600)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    atomic_write(target, "x", mode=0o640)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_atomic_write_keeps_existing_mode_when_not_told(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("old")
    target.chmod(0o604)
    atomic_write(target, "new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o604


def test_atomic_write_through_symlink_keeps_the_link(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "settings.toml"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "settings.toml"
    link.symlink_to(real)
    atomic_write(link, "new")
    assert link.is_symlink()
    assert real.read_text() == "new"


def test_temp_file_names_carry_the_marker() -> None:
    assert is_temp_file(f"/x/.config.toml{TEMP_MARKER}abc123")
    assert not is_temp_file("/x/config.toml")


def test_read_text_capped_reports_truncation(tmp_path: Path) -> None:
    path = tmp_path / "big.md"
    path.write_bytes(b"a" * 100)
    assert read_text_capped(path, limit=10) == ("a" * 10, True)
    assert read_text_capped(path, limit=100) == ("a" * 100, False)
    assert read_text_capped(path) == ("a" * 100, False)


def test_read_text_capped_strips_bom_and_replaces_bad_bytes(tmp_path: Path) -> None:
    path = tmp_path / "HEARTBEAT.md"
    path.write_bytes(b"\xef\xbb\xbf# Tasks\n\xff\xfe ok")
    text, truncated = read_text_capped(path)
    assert text == "# Tasks\n\ufffd\ufffd ok"
    assert not truncated


def test_read_text_capped_drops_a_character_split_by_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "euro.txt"
    path.write_bytes("ab€€".encode())  # € is 3 bytes
    assert read_text_capped(path, limit=4) == ("ab", True)
    assert read_text_capped(path, limit=5) == ("ab€", True)


def test_read_bytes_capped_rejects_negative_limit(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x")
    with pytest.raises(ValueError, match="negative"):
        read_bytes_capped(path, limit=-1)


def test_read_text_capped_raises_for_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_text_capped(tmp_path / "nope")


def test_xdg_dirs_follow_the_environment(tmp_path: Path) -> None:
    env = {"XDG_STATE_HOME": "/st", "XDG_CONFIG_HOME": "/cf", "HOME": "/home/u"}
    assert xdg_state_dir(env) == Path("/st/clawtui")
    assert xdg_config_dir(env) == Path("/cf/clawtui")


def test_xdg_dirs_fall_back_to_home_and_ignore_relative_values() -> None:
    env = {"HOME": "/home/u", "XDG_STATE_HOME": "relative/path", "XDG_CONFIG_HOME": ""}
    assert xdg_state_dir(env) == Path("/home/u/.local/state/clawtui")
    assert xdg_config_dir(env) == Path("/home/u/.config/clawtui")


def test_xdg_dirs_read_os_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert xdg_state_dir() == tmp_path / "clawtui"
    assert os.environ["XDG_STATE_HOME"] == str(tmp_path)


@pytest.mark.parametrize("follow_links", [True, False])
def test_a_private_file_is_private_from_its_first_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, follow_links: bool
) -> None:
    """A secret written with mode 0600 is never readable by others, not even as the temp file
    before the final chmod (the API token's temp file was 0644 until fchmod)."""
    seen: list[int] = []
    real_write = os.write
    real_fdopen = os.fdopen

    def fdopen(fd: int, *args: object, **kwargs: object) -> object:
        seen.append(os.fstat(fd).st_mode & 0o777)
        return real_fdopen(fd, *args, **kwargs)  # type: ignore[call-overload]

    def write(fd: int, data: bytes) -> int:
        seen.append(os.fstat(fd).st_mode & 0o777)
        return real_write(fd, data)

    monkeypatch.setattr(os, "fdopen", fdopen)
    monkeypatch.setattr(os, "write", write)
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "api-token", "s3cret\n", mode=0o600, follow_links=follow_links)
    finally:
        os.umask(old)
    assert seen, "the temp file was never observed"
    assert all(m & 0o077 == 0 for m in seen), [oct(m) for m in seen]
    assert (tmp_path / "api-token").stat().st_mode & 0o777 == 0o600
