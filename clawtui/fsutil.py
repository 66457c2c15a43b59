"""Safe file writes and defensive file reads for files that people also edit.

clawtui shares files with humans and other programs: config.toml, the runtime settings file,
HEARTBEAT.md, queue files, the knowledge base. Two rules of the house keep those files whole:

* writes are atomic: a temp file in the same folder, fsync, rename, fsync of the folder, so a
  reader (or a crash) sees either the old file or the new one, never half of each;
* reads are capped and tolerant: a runaway file cannot eat the memory of the engine, and a stray
  byte that is not UTF-8 becomes U+FFFD instead of an exception.

The engine's temp files carry `TEMP_MARKER` in their names so that file watchers can ignore the
engine's own writes. This module depends on the standard library only.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "DEFAULT_READ_LIMIT",
    "TEMP_MARKER",
    "UTF8_BOM",
    "atomic_write",
    "is_temp_file",
    "read_bytes_capped",
    "read_text_capped",
    "xdg_config_dir",
    "xdg_state_dir",
]

TEMP_MARKER = ".clawtui-tmp-"
"""Part of the name of every temp file `atomic_write` creates: `.<name>.clawtui-tmp-<random>`."""

UTF8_BOM = b"\xef\xbb\xbf"
"""The UTF-8 byte order mark some editors (notably on Windows) put at the start of a file."""

DEFAULT_READ_LIMIT = 1 << 20
"""How many bytes `read_text_capped` reads unless told otherwise (1 MiB)."""

_APP_DIR = "clawtui"


def is_temp_file(path: str | os.PathLike[str]) -> bool:
    """Tell whether `path` names a temp file of `atomic_write` (for watchers to skip)."""
    return TEMP_MARKER in os.path.basename(os.fspath(path))


def make_private_dir(path: Path) -> Path:
    """Create `path` (and its parents) if missing; a folder this creates is 0700 (only the
    owner may enter it: it holds the database, tokens and logs). An existing folder is left
    as its owner set it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
        os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask
    return path


def create_private_file(path: Path) -> None:
    """Create `path` empty with mode 0600 when it does not exist (never through a link), so
    a file that something else opens and fills later (SQLite) is private from the start."""
    with contextlib.suppress(FileExistsError):
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        os.close(os.open(path, flags, 0o600))


def atomic_write(
    path: Path,
    data: bytes | str,
    *,
    mode: int | None = None,
    follow_links: bool = True,
    owner: tuple[int, int] | None = None,
) -> None:
    """Replace the file at `path` with `data` so that no reader ever sees a partial file.

    The data goes to a temp file in the same folder (same file system, so the rename is
    atomic), which is flushed and fsynced, then renamed over `path`; finally the folder itself
    is fsynced so that the rename survives a power cut. Missing parent folders are created.
    `str` data is encoded as UTF-8.

    Permissions: `mode` when given; otherwise those of the file being replaced; otherwise the
    usual `0o666` minus the umask. When `path` is a symbolic link, the file it points to is
    replaced and the link is kept (dotfile managers rely on this).

    `follow_links=False` is for a folder that someone else can write too (a container's
    bind-mounted folder): the folder is opened without following a link (a link in its place is
    an error), a link at `path` is replaced by the new file, never followed, and the mode is
    never taken from what is at `path`. The folder's own path must be trusted: only its
    entries are checked. `owner` is a (uid, gid) given to the file before the rename (-1 keeps
    one of them).

    On any error the temp file is removed and the error is raised again; `path` is untouched.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if not follow_links:
        _write_no_follow(Path(path), payload, mode, owner)
        return
    target = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    folder = target.parent
    folder.mkdir(parents=True, exist_ok=True)

    keep_mode = mode
    if keep_mode is None:
        with contextlib.suppress(FileNotFoundError):
            keep_mode = os.stat(target).st_mode & 0o7777

    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_NOFOLLOW", 0)
    while True:
        tmp = folder / f".{target.name}{TEMP_MARKER}{secrets.token_hex(6)}"
        try:
            # Private until the final fchmod: a secret is never readable by others.
            fd = os.open(tmp, flags, 0o666 if keep_mode is None else 0o600)
        except FileExistsError:  # pragma: no cover - 48 random bits collided
            continue
        break

    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            if owner is not None:
                os.fchown(handle.fileno(), *owner)
            if keep_mode is not None:
                os.fchmod(handle.fileno(), keep_mode)
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(folder)


def _write_no_follow(
    path: Path, payload: bytes, mode: int | None, owner: tuple[int, int] | None
) -> None:
    """`atomic_write(follow_links=False)`: every step relative to one descriptor of the folder,
    opened with O_NOFOLLOW, so a link planted in the folder can redirect nothing."""
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    try:
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise OSError(
                exc.errno, "not a folder (a symbolic link?): refusing to write through it", folder
            ) from None
        raise
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        while True:
            tmp = f".{path.name}{TEMP_MARKER}{secrets.token_hex(6)}"
            try:
                fd = os.open(tmp, flags, 0o666 if mode is None else 0o600, dir_fd=dir_fd)
            except FileExistsError:  # pragma: no cover - 48 random bits collided
                continue
            break
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
                handle.flush()
                if owner is not None:
                    os.fchown(handle.fileno(), *owner)
                if mode is not None:
                    os.fchmod(handle.fileno(), mode)
                os.fsync(handle.fileno())
            # rename replaces whatever is at the name (a link too) and never follows it.
            os.replace(tmp, path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise
        with contextlib.suppress(OSError):
            os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _fsync_dir(folder: Path) -> None:
    """Flush a folder's entries to disk; a no-op where the OS or file system cannot do it."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems (and all of Windows) refuse fsync on a folder
    finally:
        os.close(fd)


def read_bytes_capped(path: Path, *, limit: int = DEFAULT_READ_LIMIT) -> tuple[bytes, bool]:
    """Read at most `limit` bytes of `path`; return them and whether the file was longer.

    Errors of `open` and `read` (missing file, no permission, a folder) are raised as usual.
    """
    if limit < 0:
        raise ValueError(f"limit must not be negative, got {limit}")
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        return data[:limit], True
    return data, False


def read_text_capped(path: Path, *, limit: int = DEFAULT_READ_LIMIT) -> tuple[str, bool]:
    """Read at most `limit` bytes of `path` as text; return the text and whether it was cut.

    A UTF-8 byte order mark at the start is dropped, bytes that are not UTF-8 become U+FFFD,
    and a character split by the cap is dropped rather than shown as U+FFFD.
    Errors of `open` and `read` are raised as usual.
    """
    data, truncated = read_bytes_capped(path, limit=limit)
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM) :]
    if truncated:
        data = _drop_partial_tail(data)
    return data.decode("utf-8", errors="replace"), truncated


def _drop_partial_tail(data: bytes) -> bytes:
    """Drop an incomplete UTF-8 sequence at the very end of `data` (left there by a cut)."""
    # Look back over at most 3 continuation bytes for the lead byte of the last character.
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0b1100_0000 == 0b1000_0000:  # continuation byte: keep looking
            continue
        if byte >= 0b1111_0000:
            need = 4
        elif byte >= 0b1110_0000:
            need = 3
        elif byte >= 0b1100_0000:
            need = 2
        else:
            return data  # ASCII: nothing is split
        return data[:-back] if back < need else data
    return data


def _xdg_dir(variable: str, fallback: str, env: Mapping[str, str] | None) -> Path:
    environ = os.environ if env is None else env
    base = environ.get(variable, "")
    # The XDG spec says relative values are invalid and must be ignored.
    if base and os.path.isabs(base):
        return Path(base) / _APP_DIR
    home = environ.get("HOME") or str(Path.home())
    return Path(home) / fallback / _APP_DIR


def xdg_state_dir(env: Mapping[str, str] | None = None) -> Path:
    """The folder for clawtui's machine-written state: `$XDG_STATE_HOME/clawtui`.

    Falls back to `~/.local/state/clawtui`. `env` replaces `os.environ` (for tests).
    The folder is not created here.
    """
    return _xdg_dir("XDG_STATE_HOME", ".local/state", env)


def xdg_config_dir(env: Mapping[str, str] | None = None) -> Path:
    """The folder for the user's clawtui config: `$XDG_CONFIG_HOME/clawtui`.

    Falls back to `~/.config/clawtui`. `env` replaces `os.environ` (for tests).
    The folder is not created here.
    """
    return _xdg_dir("XDG_CONFIG_HOME", ".config", env)


def xdg_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """The folder for clawtui's caches: `$XDG_CACHE_HOME/clawtui` (else `~/.cache/clawtui`)."""
    return _xdg_dir("XDG_CACHE_HOME", ".cache", env)


CONFIG_ENV = "CLAWTUI_CONFIG"


def locate_config(
    explicit: Path | None, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> Path | None:
    """Which config.toml is in effect; None when there is none (built-in defaults apply).

    Order: `explicit` (`--config`), then $CLAWTUI_CONFIG, then `./config.toml`, then
    `$XDG_CONFIG_HOME/clawtui/config.toml`. A file named by `--config` or $CLAWTUI_CONFIG must
    exist: FileNotFoundError (`strerror` says who named it, `filename` which file).
    Kept free of pydantic so the attach fast path can use it (`config.find_config` wraps it).
    """
    environ = os.environ if env is None else env
    origin = "--config"
    chosen = explicit
    if chosen is None and environ.get(CONFIG_ENV):
        origin, chosen = f"${CONFIG_ENV}", Path(environ[CONFIG_ENV])
    if chosen is not None:
        chosen = Path(chosen).expanduser()
        if not chosen.exists():
            why = f"file not found (named by {origin})"
            raise FileNotFoundError(errno.ENOENT, why, str(chosen))
        return chosen
    for candidate in ((cwd or Path.cwd()) / "config.toml", xdg_config_dir(env) / "config.toml"):
        if candidate.is_file():
            return candidate
    return None


def runtime_settings_path(env: Mapping[str, str] | None = None) -> Path:
    """The runtime settings file: `$XDG_STATE_HOME/clawtui/settings.toml`."""
    return xdg_state_dir(env) / "settings.toml"
