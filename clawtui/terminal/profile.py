"""What attaching needs from the settings, small enough to cache: the attach fast path.

`clawtui attach` runs once per attach, so its start-up time is the user's wait. Loading and
validating the whole configuration (pydantic, every section) costs ~200 ms of the ~550 ms an
attach took; the SSH side needs only the Docker hosts, `[devboxes] bind_address` and
`[attach]`. `AttachProfile` is that subset. After a full load, `store(key, profile)` keeps it
in `$XDG_CACHE_HOME/clawtui/attach-profile.json` (0600); the next `clawtui attach` computes the
key again and, when it matches, attaches without importing the config package at all.

The key is a SHA-256 over everything the loaded settings can depend on: the config file in
effect (path and bytes), the runtime settings file (path and bytes), the environment variables
that steer loading (`CLAWTUI_*`, `XDG_*`, `HOME`), clawtui's version and this file's format
number. Any change to any of them is a miss, and a miss just means the full, validated load.
A cache file that is unreadable, oversized or malformed is a miss too, never an error.

No pydantic, asyncssh or docker here: this module is on the fast path's import budget.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clawtui import __version__
from clawtui.fsutil import (
    atomic_write,
    read_bytes_capped,
    runtime_settings_path,
    xdg_cache_dir,
)

if TYPE_CHECKING:
    from clawtui.config import Settings

FORMAT = 1
CACHE_NAME = "attach-profile.json"
_MAX_FILE = 4 << 20  # config files larger than this are never cached (always a full load)
_MAX_CACHE = 256 << 10
_ENV_PREFIXES = ("CLAWTUI_", "XDG_")
_ENV_NAMES = ("HOME",)


@dataclass(frozen=True)
class ProfileHost:
    """One `[[hosts]]` entry, as far as attaching cares."""

    name: str
    url: str
    is_local: bool
    timeout: float


@dataclass(frozen=True)
class AttachProfile:
    """Docker hosts, where their published SSH ports are reached, and `[attach]`."""

    hosts: tuple[ProfileHost, ...]
    bind_address: str
    username: str
    known_hosts: Path
    identity_file: Path | None
    use_agent: bool
    session: str

    @classmethod
    def from_settings(cls, settings: Settings) -> AttachProfile:
        cfg = settings.attach
        return cls(
            hosts=tuple(
                ProfileHost(h.name, h.url, h.is_local, float(h.timeout)) for h in settings.hosts
            ),
            bind_address=str(settings.devboxes.bind_address),
            username=cfg.username,
            known_hosts=cfg.resolved_known_hosts(settings.engine.resolved_state_dir),
            identity_file=cfg.identity_file,
            use_agent=cfg.use_agent,
            session=cfg.session,
        )

    def host(self, name: str) -> ProfileHost | None:
        return next((h for h in self.hosts if h.name == name), None)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["known_hosts"] = str(self.known_hosts)
        data["identity_file"] = None if self.identity_file is None else str(self.identity_file)
        return data

    @classmethod
    def from_json(cls, data: object) -> AttachProfile | None:
        """The profile in `data`, or None when anything in it is not what `to_json` writes."""
        if not isinstance(data, dict):
            return None
        try:
            hosts = tuple(
                ProfileHost(
                    _str(h["name"]), _str(h["url"]), _bool(h["is_local"]), _num(h["timeout"])
                )
                for h in _list(data["hosts"])
            )
            identity = data["identity_file"]
            return cls(
                hosts=hosts,
                bind_address=_str(data["bind_address"]),
                username=_str(data["username"]),
                known_hosts=Path(_str(data["known_hosts"])),
                identity_file=None if identity is None else Path(_str(identity)),
                use_agent=_bool(data["use_agent"]),
                session=_str(data["session"]),
            )
        except (KeyError, TypeError):
            return None


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError
    return value


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError
    return value


def _num(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError
    return float(value)


def _list(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise TypeError
    return value


def as_profile(source: Settings | AttachProfile) -> AttachProfile:
    return source if isinstance(source, AttachProfile) else AttachProfile.from_settings(source)


def _file_part(path: Path | None) -> str | None:
    """`path` and a digest of its bytes ("-" when missing); None when too big to cache."""
    if path is None:
        return "none"
    try:
        data, truncated = read_bytes_capped(path, limit=_MAX_FILE)
    except FileNotFoundError:
        return f"{path.absolute()}:-"
    except OSError:
        return None
    if truncated:
        return None
    return f"{path.absolute()}:{hashlib.sha256(data).hexdigest()}"


def profile_key(config: Path | None, env: Mapping[str, str] | None = None) -> str | None:
    """The cache key for the settings that `config` (and the runtime file) give; None: don't
    cache (a file is unreadable or too big)."""
    environ = os.environ if env is None else env
    parts = [_file_part(config), _file_part(runtime_settings_path(environ))]
    if None in parts:
        return None
    steering = sorted(
        (k, v) for k, v in environ.items() if k.startswith(_ENV_PREFIXES) or k in _ENV_NAMES
    )
    blob = json.dumps([FORMAT, __version__, parts, steering]).encode()
    return hashlib.sha256(blob).hexdigest()


def cache_path(env: Mapping[str, str] | None = None) -> Path:
    return xdg_cache_dir(env) / CACHE_NAME


def load(key: str | None, env: Mapping[str, str] | None = None) -> AttachProfile | None:
    """The cached profile for `key`, or None (no cache, another key, or a damaged file)."""
    if key is None:
        return None
    try:
        data, truncated = read_bytes_capped(cache_path(env), limit=_MAX_CACHE)
        doc = json.loads(data)
    except (OSError, ValueError):
        return None
    if truncated or not isinstance(doc, dict) or doc.get("key") != key:
        return None
    return AttachProfile.from_json(doc.get("profile"))


def store(key: str | None, profile: AttachProfile, env: Mapping[str, str] | None = None) -> None:
    """Remember `profile` under `key` (best effort: a cache that cannot be written is skipped)."""
    if key is None:
        return
    path = cache_path(env)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        body = json.dumps({"key": key, "profile": profile.to_json()}, indent=1)
        atomic_write(path, body, mode=0o600)
    except OSError:
        return
