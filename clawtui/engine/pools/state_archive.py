"""Extracting a state archive that a container produced (the remote pool path), member by member.

tarfile's extraction filters had bypasses until the 2025 fixes (CVE-2025-4517, -4330, -4138,
-4435 and CVE-2024-12718, python/cpython#135034: fixed in 3.9.23, 3.10.18, 3.11.13, 3.12.11 and
3.13.4), and 3.11 before 3.11.4 has no `filter=` at all. So nothing here relies on them: every
member is checked and written by this module, on any interpreter.

Allowed: regular files and folders with a relative name without `..`, NUL or a leading `/`; a
hard link only to a regular file extracted before it from the same archive (written as a copy).
Refused (`ArchiveRefused`, naming the member): absolute names, `..`, symbolic links, hard links
to anything else, devices, FIFOs and other types, a member or a total over the size cap, more
than `max_members` members, the same name twice. Files are created with O_EXCL | O_NOFOLLOW in
folders this module made, so nothing is ever written through a link.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

MAX_MEMBERS = 200_000
_CHUNK = 1 << 20


class ArchiveRefused(Exception):
    """A member of an untrusted archive that is not extracted (and nothing after it)."""


def _clean(name: str) -> PurePosixPath | None:
    """The member's relative path, or None when it is unsafe."""
    if not name or "\x00" in name or name.startswith(("/", "\\")):
        return None
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if any(p == ".." for p in parts):
        return None
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


def extract_state_archive(
    tar: tarfile.TarFile,
    dest: Path,
    *,
    max_bytes: int,
    max_members: int = MAX_MEMBERS,
    on_symlink: Callable[[str], Exception] | None = None,
) -> None:
    """Extract every member of `tar` into the folder `dest` (which must exist), or refuse.

    `on_symlink(name)` builds the error for a symbolic link (default: ArchiveRefused). Modes are
    kept for the owner only as read/write(/execute) bits; owners and times are not restored.
    """
    total = 0
    files: dict[str, Path] = {}
    seen: set[str] = set()
    for count, member in enumerate(tar, start=1):
        if count > max_members:
            raise ArchiveRefused(f"the archive has more than {max_members} members")
        rel = _clean(member.name)
        shown = member.name[:200]
        if rel is None:
            raise ArchiveRefused(f"{shown!r} is an absolute path or goes up with '..'")
        key = str(rel)
        if key in seen and not member.isdir():
            raise ArchiveRefused(f"{shown!r} appears twice in the archive")
        seen.add(key)
        if member.issym():
            if on_symlink is not None:
                raise on_symlink(key)
            raise ArchiveRefused(f"{shown!r} is a symbolic link")
        target = dest / key
        if member.isdir():
            _mkdirs(dest, rel)
            continue
        if member.islnk():
            link = _clean(member.linkname)
            source = files.get(str(link)) if link is not None else None
            if source is None:
                raise ArchiveRefused(
                    f"{shown!r} is a hard link to {member.linkname[:200]!r}, which is not a "
                    "file of this archive"
                )
            size = source.stat().st_size
        elif member.isreg():
            size = member.size
        else:
            raise ArchiveRefused(f"{shown!r} is not a regular file or a folder (a device, FIFO…)")
        total += size
        if size > max_bytes or total > max_bytes:
            raise ArchiveRefused(f"{shown!r} goes over the state size cap of {max_bytes} bytes")
        if rel.parent != PurePosixPath("."):
            _mkdirs(dest, rel.parent)
        mode = 0o600 | (0o100 if member.mode & 0o100 else 0)
        fd = os.open(
            target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode
        )
        with os.fdopen(fd, "wb") as out:
            if member.islnk():
                with open(files[str(link)], "rb") as src:
                    while chunk := src.read(_CHUNK):
                        out.write(chunk)
            else:
                handle = tar.extractfile(member)
                left = size
                while handle is not None and left > 0:
                    chunk = handle.read(min(_CHUNK, left))
                    if not chunk:
                        raise ArchiveRefused(f"{shown!r} is cut short")
                    out.write(chunk)
                    left -= len(chunk)
        files[key] = target


def _mkdirs(dest: Path, rel: PurePosixPath) -> None:
    """Make dest/rel folder by folder, refusing anything in the way that is not a folder."""
    here = dest
    for part in rel.parts:
        if part == ".":
            continue
        here = here / part
        try:
            here.mkdir(mode=0o700)
        except FileExistsError:
            if here.is_symlink() or not here.is_dir():
                why = f"{part!r} in {str(rel)!r} is both a file and a folder"
                raise ArchiveRefused(why) from None
