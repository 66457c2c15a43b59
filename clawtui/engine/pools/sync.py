"""State sync of pooled containers with rclone (seed 004, "State Sync Engine").

Every sync is one `rclone sync|copy SRC DST` run on the engine's machine between a container's
bind-mounted state folder and a sink (a local folder or S3). rclone gets the sink through
`RCLONE_CONFIG_CLAWSINK_*` environment variables, so credentials are never on a command line,
in a log line or in an event.

Rules:

* the empty-source guard: a run whose source is missing or holds no file the mapping selects is
  skipped (status `skipped`), so a `sync` from an empty container can never wipe the sink, and a
  download from an empty sink never wipes the container;
* rclone's exit code drives retry: 5 (temporary) is retried with backoff up to `retries`
  attempts; 7 (fatal) and every other non-zero code fail at once;
* the result of every run (bytes, duration, error) is returned as a `SyncRun` for the caller
  to store per tenant and mapping;
* rclone never touches a folder the tenant's container can write: links planted there would
  redirect it to the engine's machine (rclone follows a linked source root, and writes a
  download through file and folder links). An upload copies the state first into a staging
  folder of the engine (`snapshot_state`: hard links, every step relative to a folder opened
  with O_NOFOLLOW), a download fills the staging copy and `restore_state` moves the result
  back the same way. A symbolic link anywhere in the state fails the sync (`UnsafeState`),
  naming it relative to the volume: it is never followed, skipped or replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import shutil
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from clawtui.config.pools import TENANT_VAR, SinkSpec, SyncMapping

RETRYABLE_EXIT = 5
_REMOTE = "clawsink"
_ERR_TAIL = 600
_BACKOFF = (0.2, 0.5, 1.0, 2.0)


class SyncError(Exception):
    """A sync could not run (bad sink credentials, rclone missing)."""


class UnsafeState(SyncError):
    """The tenant's state holds a symbolic link (or a file where a folder must be)."""


@dataclass(frozen=True)
class SyncRun:
    """The outcome of one mapping's run."""

    mapping: str
    direction: str  # "upload" | "download"
    ok: bool
    skipped: bool = False
    bytes: int = 0
    files: int = 0
    duration: float = 0.0
    exit_code: int | None = None
    attempts: int = 0
    error: str | None = None
    finished_at: float = 0.0

    @property
    def status(self) -> str:
        return "skipped" if self.skipped else ("ok" if self.ok else "failed")


def interpolate(text: str, tenant: str) -> str:
    return text.replace(TENANT_VAR, tenant)


def _read_credentials_file(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")[:65536]
    except OSError as exc:
        raise SyncError(f"cannot read the S3 credentials file {path}: {exc.strerror}") from None
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip().lower()] = value.strip().strip('"')
    return out


class Sink:
    """An rclone remote for one sink spec: path building and the environment."""

    def __init__(self, spec: SinkSpec, default_local: Path) -> None:
        self.spec = spec
        self.default_local = default_local

    def env(self) -> dict[str, str]:
        # rclone gets the sink only from us: no RCLONE_* of the engine's own environment, and no
        # AWS_* (the AWS SDK inside rclone reads AWS_CA_BUNDLE, profiles and keys by itself).
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RCLONE_", "AWS_"))}
        env["RCLONE_CONFIG"] = os.devnull
        if self.spec.type != "s3":
            return env
        if self.spec.credentials_file is not None:
            creds = _read_credentials_file(self.spec.credentials_file)
            key, secret = creds.get("access_key_id"), creds.get("secret_access_key")
            where = f"file {self.spec.credentials_file}"
        else:
            key = os.environ.get(self.spec.access_key_env)
            secret = os.environ.get(self.spec.secret_key_env)
            where = f"${self.spec.access_key_env} / ${self.spec.secret_key_env}"
        if not key or not secret:
            raise SyncError(f"the S3 sink has no credentials: set {where}")
        prefix = f"RCLONE_CONFIG_{_REMOTE.upper()}_"
        env.update(
            {
                prefix + "TYPE": "s3",
                prefix + "PROVIDER": "Other" if self.spec.endpoint else "AWS",
                prefix + "ACCESS_KEY_ID": key,
                prefix + "SECRET_ACCESS_KEY": secret,
                prefix + "REGION": self.spec.region,
                prefix + "FORCE_PATH_STYLE": "true",
            }
        )
        if self.spec.endpoint:
            env[prefix + "ENDPOINT"] = self.spec.endpoint
        return env

    def remote(self, tenant: str, mapping: SyncMapping) -> str:
        parts = [
            interpolate(self.spec.prefix, tenant).strip("/"),
            interpolate(mapping.sink_path, tenant),
        ]
        rel = "/".join(p for p in parts if p)
        if self.spec.type == "s3":
            return f"{_REMOTE}:{self.spec.bucket}/{rel}"
        base = self.spec.path if self.spec.path is not None else self.default_local
        return str(base / rel) if rel else str(base)

    def check(self) -> None:
        """A local sink must be a folder: a missing or broken sink must never read as "empty"
        (a restore would then start the tenant from nothing). Created when absent."""
        if self.spec.type != "local":
            return
        base = self.spec.path if self.spec.path is not None else self.default_local
        if base.exists() and not base.is_dir():
            raise SyncError(f"the local sink {base} is not a folder; fix [workloads.sync] sink")
        try:
            base.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SyncError(f"cannot create the local sink {base}: {exc.strerror}") from None

    def describe(self) -> str:
        if self.spec.type == "s3":
            return f"s3://{self.spec.bucket} ({self.spec.endpoint or 'AWS'})"
        return str(self.spec.path if self.spec.path is not None else self.default_local)


def _filter_args(mapping: SyncMapping) -> list[str]:
    return ["--include", mapping.pattern] if mapping.pattern else []


async def _run(args: list[str], env: Mapping[str, str], timeout: float) -> tuple[int, str]:
    try:
        proc = await asyncio.create_subprocess_exec(
            "rclone",
            *args,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError:
        raise SyncError("rclone is not installed: run scripts/setup (apt install rclone)") from None
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return 124, f"rclone took more than {timeout:g}s"
    except asyncio.CancelledError:
        proc.kill()
        raise
    text = err.decode("utf-8", "replace") + out.decode("utf-8", "replace")
    return proc.returncode if proc.returncode is not None else 1, text


def _stats(text: str) -> tuple[int, int, str | None]:
    """(bytes, files, last error message) from rclone's JSON log."""
    size = files = 0
    error: str | None = None
    for line in text.splitlines():
        if not line.startswith("{"):
            if line.strip():
                error = line.strip()
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        stats = entry.get("stats")
        if isinstance(stats, dict):
            size = int(stats.get("bytes") or 0)
            files = int(stats.get("transfers") or 0)
        if entry.get("level") in ("error", "critical"):
            error = str(entry.get("msg", ""))
    return size, files, error


class Rclone:
    """Runs mappings for tenants against one sink."""

    def __init__(self, sink: Sink, *, retries: int = 3, timeout: float = 600.0) -> None:
        self.sink = sink
        self.retries = retries
        self.timeout = timeout

    async def source_empty(self, source: str, mapping: SyncMapping) -> bool:
        """Whether `source` is missing or holds no file the mapping selects (rclone's filter
        rules, so the guard and the run agree on what counts)."""
        args = ["lsf", "-R", "--files-only", "--contimeout", "15s", "--timeout", "30s",
                *_filter_args(mapping), source]  # fmt: skip
        code, text = await _run(args, self.sink.env(), 60)
        if code == 3:  # directory not found
            return True
        if code != 0:
            _, _, error = _stats(text)
            raise SyncError(
                f"rclone lsf failed (exit {code}): {(error or text.strip())[-_ERR_TAIL:]}"
            )
        return not any(line and not line.startswith("{") for line in text.splitlines())

    async def run(
        self,
        tenant: str,
        mapping: SyncMapping,
        local: Path,
        direction: str,
        *,
        newer_only: bool = False,
    ) -> SyncRun:
        """One mapping, one direction ("upload" | "download"), with the guard and retries.

        `newer_only`: rclone's `--update`, a file newer on the destination is kept (the two
        halves of a `both` sync)."""
        started = time.monotonic()

        def done(**fields: object) -> SyncRun:
            return SyncRun(
                mapping=mapping.name,
                direction=direction,
                duration=time.monotonic() - started,
                finished_at=time.time(),
                **fields,  # type: ignore[arg-type]
            )

        try:
            env = self.sink.env()
            await asyncio.to_thread(self.sink.check)
            remote = self.sink.remote(tenant, mapping)
            src, dst = (str(local), remote) if direction == "upload" else (remote, str(local))
            if await self.source_empty(src, mapping):
                return done(ok=True, skipped=True, error="source is empty or missing: not synced")
        except SyncError as exc:
            return done(ok=False, error=str(exc))
        if direction == "download":
            await asyncio.to_thread(local.mkdir, parents=True, exist_ok=True)
        args = [
            mapping.mode,
            src,
            dst,
            *_filter_args(mapping),
            *(["--update"] if newer_only else []),
            "--use-json-log",
            "--stats",
            "1h",
            "--stats-log-level",
            "NOTICE",
            "--contimeout",
            "15s",
            "--timeout",
            "60s",
            "--retries",
            "1",
            "--low-level-retries",
            "2",
            "--transfers",
            "8",
            "--checkers",
            "16",
        ]
        code, text, attempt = 0, "", 0
        for attempt in range(1, self.retries + 1):
            code, text = await _run(args, env, self.timeout)
            if code != RETRYABLE_EXIT:
                break
            if attempt < self.retries:
                await asyncio.sleep(_BACKOFF[min(attempt - 1, len(_BACKOFF) - 1)])
        size, files, error = _stats(text)
        if code == 0:
            return done(ok=True, bytes=size, files=files, exit_code=0, attempts=attempt)
        kind = {5: "temporary error", 7: "fatal error", 124: "timeout"}.get(code, "error")
        message = f"rclone {kind} (exit {code}): {(error or text.strip())[-_ERR_TAIL:]}"
        return done(
            ok=False, bytes=size, files=files, exit_code=code, attempts=attempt, error=message
        )


def failed_run(mapping: SyncMapping, direction: str, error: str, started: float) -> SyncRun:
    """A run that failed before (or after) rclone, e.g. on an `UnsafeState`."""
    return SyncRun(
        mapping=mapping.name,
        direction=direction,
        ok=False,
        duration=time.monotonic() - started,
        error=error,
        finished_at=time.time(),
    )


# -- the tenant's folder, never through a link -------------------------------------------------
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_DEPTH = 256
"""Deepest folder nesting a state sync walks."""

Record = dict[str, tuple[int, int, int, int]]
"""Staged file (relative to the volume) -> (staged inode, mtime ns, size, tenant's inode)."""


def link_refused(relative: str, container_path: str | None = None) -> str:
    """Why a sync stopped at a link; `relative` is the path inside the tenant's volume."""
    where = f" ({container_path} in the container)" if container_path else ""
    return (
        f"{relative} is a symbolic link{where}: state sync never follows links out of the "
        "tenant's volume; remove the link from the state"
    )


@dataclass(frozen=True)
class StateFolder:
    """A mapping's folder: `relative` inside a volume's folder `volume` on the engine's
    machine, which the container sees at `container_path`. `volume` itself is the engine's
    (a mount point in the container, so it cannot be replaced); everything in it is not."""

    volume: Path
    relative: str
    container_path: str = ""

    @property
    def parts(self) -> list[str]:
        parts = [p for p in PurePosixPath(self.relative).parts if p != "."]
        if ".." in parts or PurePosixPath(self.relative).is_absolute():
            raise UnsafeState(f"{self.relative} is not a path inside the volume")
        return parts

    def refuse(self, relative: str, dir_fd: int, name: str) -> UnsafeState:
        try:
            mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
        except OSError:
            mode = 0
        inside = f"{self.container_path.rstrip('/')}/{relative}" if self.container_path else None
        if stat.S_ISLNK(mode):
            return UnsafeState(link_refused(relative, inside))
        return UnsafeState(
            f"{relative} is not a folder ({inside or 'in the state'}): the sync stopped there"
        )

    def open(self, *, create: bool) -> int | None:
        """A descriptor of the mapping's folder, opened one O_NOFOLLOW step at a time; None when
        it is missing and `create` is false."""
        fd = os.open(self.volume, _DIR_FLAGS)
        done: list[str] = []
        try:
            for part in self.parts:
                done.append(part)
                nfd = _open_dir(fd, part, create=create)
                if nfd is None:
                    os.close(fd)
                    return None
                if nfd < 0:
                    raise self.refuse("/".join(done), fd, part)
                os.close(fd)
                fd = nfd
        except BaseException:
            os.close(fd)
            raise
        return fd


def _open_dir(dir_fd: int, name: str, *, create: bool) -> int | None:
    """Open a sub-folder without following a link: its fd, None when missing (and not
    created), -1 when something else (a link, a file) is there."""
    for _ in range(2):
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
        except FileNotFoundError:
            if not create:
                return None
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o777, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                return -1
            raise
    return -1


def _names(dir_fd: int) -> list[str]:
    with os.scandir(dir_fd) as entries:
        return sorted(e.name for e in entries)


def snapshot_state(folder: StateFolder, staged: Path) -> Record | None:
    """Copy the mapping's folder into the engine's (new, empty) folder `staged`: hard links
    where the file system allows, else copies; a link anywhere raises `UnsafeState` naming it.
    Fifos, sockets and devices are left out. None when the folder is missing (then `staged` is
    not created, so rclone's empty-source guard holds)."""
    src = folder.open(create=False)
    if src is None:
        return None
    record: Record = {}
    try:
        staged.mkdir(mode=0o700)
        dst = os.open(staged, _DIR_FLAGS)
        try:
            _snapshot(folder, src, dst, "/".join(folder.parts), record, 0)
        finally:
            os.close(dst)
    finally:
        os.close(src)
    return record


def _snapshot(
    folder: StateFolder, src: int, dst: int, rel: str, record: Record, depth: int
) -> None:
    if depth > MAX_DEPTH:
        raise UnsafeState(f"{rel} is nested more than {MAX_DEPTH} folders deep")
    for name in _names(src):
        child = f"{rel}/{name}" if rel else name
        try:
            mode = os.stat(name, dir_fd=src, follow_symlinks=False).st_mode
        except FileNotFoundError:
            continue  # gone meanwhile
        if stat.S_ISLNK(mode):
            raise folder.refuse(child, src, name)
        if stat.S_ISDIR(mode):
            sub = _open_dir(src, name, create=False)
            if sub is None:
                continue
            if sub < 0:
                raise folder.refuse(child, src, name)
            try:
                os.mkdir(name, 0o700, dir_fd=dst)
                out = os.open(name, _DIR_FLAGS, dir_fd=dst)
                try:
                    _snapshot(folder, sub, out, child, record, depth + 1)
                finally:
                    os.close(out)
            finally:
                os.close(sub)
        elif stat.S_ISREG(mode):
            _stage_file(folder, src, dst, name, child, record)


def _stage_file(
    folder: StateFolder, src: int, dst: int, name: str, child: str, record: Record
) -> None:
    try:
        os.link(name, name, src_dir_fd=src, dst_dir_fd=dst, follow_symlinks=False)
    except FileNotFoundError:
        return
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EACCES):
            raise
        if not _copy_file(folder, src, dst, name, child):
            return
    st = os.stat(name, dir_fd=dst, follow_symlinks=False)
    if stat.S_ISLNK(st.st_mode):  # swapped for a link between the check and the hard link
        raise folder.refuse(child, dst, name)
    if not stat.S_ISREG(st.st_mode):
        os.unlink(name, dir_fd=dst)
        return
    try:
        theirs = os.stat(name, dir_fd=src, follow_symlinks=False).st_ino
    except FileNotFoundError:
        theirs = -1
    record[child] = (st.st_ino, st.st_mtime_ns, st.st_size, theirs)


def _copy_file(folder: StateFolder, src: int, dst: int, name: str, child: str) -> bool:
    """Copy one regular file without following a link (the hard link was refused)."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=src)
    except FileNotFoundError:
        return False
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise folder.refuse(child, src, name) from None
        raise
    with os.fdopen(fd, "rb") as reader:
        st = os.fstat(reader.fileno())
        if not stat.S_ISREG(st.st_mode):
            return False
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        with os.fdopen(os.open(name, flags, 0o600, dir_fd=dst), "wb") as writer:
            shutil.copyfileobj(reader, writer, 1 << 20)
            writer.flush()
            os.utime(writer.fileno(), ns=(st.st_atime_ns, st.st_mtime_ns))
    return True


def restore_state(folder: StateFolder, staged: Path, record: Record, *, delete: bool) -> None:
    """Move what rclone left in `staged` (filled by `snapshot_state`, then by a download) into
    the mapping's folder: each file renamed over its name (a link there is replaced, never
    followed), folders opened O_NOFOLLOW (a link in the way raises `UnsafeState`). Files
    rclone wrote in place through a hard link are already there. With `delete`, files rclone
    removed from `staged` are removed from the folder too (mode sync)."""
    dst = folder.open(create=True)
    assert dst is not None
    seen: set[str] = set()
    try:
        src = os.open(staged, _DIR_FLAGS)
        try:
            _restore(folder, src, dst, "/".join(folder.parts), record, seen, 0)
        finally:
            os.close(src)
    finally:
        os.close(dst)
    if not delete:
        return
    for child in sorted(set(record) - seen):
        parent, _, name = child.rpartition("/")
        holder = StateFolder(folder.volume, parent or ".", folder.container_path)
        fd = holder.open(create=False)
        if fd is None:
            continue
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) and st.st_ino == record[child][3]:
                os.unlink(name, dir_fd=fd)
        except FileNotFoundError:
            pass
        finally:
            os.close(fd)


def _restore(
    folder: StateFolder, src: int, dst: int, rel: str, record: Record, seen: set[str], depth: int
) -> None:
    if depth > MAX_DEPTH:
        raise UnsafeState(f"{rel} is nested more than {MAX_DEPTH} folders deep")
    for name in _names(src):
        child = f"{rel}/{name}" if rel else name
        st = os.stat(name, dir_fd=src, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            sub_src = os.open(name, _DIR_FLAGS, dir_fd=src)
            try:
                sub_dst = _open_dir(dst, name, create=True)
                if sub_dst is None or sub_dst < 0:
                    raise folder.refuse(child, dst, name)
                try:
                    _restore(folder, sub_src, sub_dst, child, record, seen, depth + 1)
                finally:
                    os.close(sub_dst)
            finally:
                os.close(sub_src)
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        seen.add(child)
        old = record.get(child)
        if old is not None and old[:3] == (st.st_ino, st.st_mtime_ns, st.st_size):
            continue  # rclone left it alone
        try:
            there = os.stat(name, dir_fd=dst, follow_symlinks=False)
            if (there.st_dev, there.st_ino) == (st.st_dev, st.st_ino):
                continue  # rclone wrote it in place, through the hard link
        except FileNotFoundError:
            pass
        try:
            os.rename(name, name, src_dir_fd=src, dst_dir_fd=dst)
        except OSError as exc:
            if exc.errno in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                raise UnsafeState(
                    f"{child} is a folder in the state but a file in the sink: not restored"
                ) from None
            raise
