"""Finding, reading, validating, layering and saving the settings files."""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import tomli_w
from pydantic import (
    SecretStr,
    ValidationError,
)

from clawtui.config.base import (
    FILE_KEY,
    MAX_CONFIG_BYTES,
    MIB,
    STATE_FILE_HEADER,
    SYNTAX_KEY,
    ConfigError,
    ConfigIssue,
)
from clawtui.config.issues import _error_message, _key_path, _KeyLines
from clawtui.config.settings import Settings, _flatten_keymap
from clawtui.fsutil import (
    UTF8_BOM,
    atomic_write,
    locate_config,
    read_bytes_capped,
    runtime_settings_path,
)

# --------------------------------------------------------------------------------------------
# Reading and validating files


@dataclass
class _Document:
    """One settings file as read: its data (None when unusable), text and problems."""

    path: Path
    data: dict[str, Any] | None
    text: str
    issues: list[ConfigIssue]

    @property
    def label(self) -> str:
        return str(self.path)


_TOML_POS_RE = re.compile(r"\s*\((?:at line (\d+), column (\d+)|at end of document)\)\s*$")


def _syntax_issue(label: str, text: str, exc: tomllib.TOMLDecodeError) -> ConfigIssue:
    raw = str(exc)
    match = _TOML_POS_RE.search(raw)
    message = raw[: match.start()] if match else raw
    line: int | None = None
    if match and match.group(1):
        line = int(match.group(1))
        message += f" (column {match.group(2)})"
    elif match:
        line = max(1, text.count("\n") + (0 if text.endswith("\n") else 1))
        message += " (at the end of the file)"
    if message.startswith(("Cannot overwrite a value", "Cannot declare")):
        message = f"duplicate key: a key or table is defined twice: {message}"
    elif message.startswith("Cannot mutate immutable namespace"):
        message = f"a table is defined twice (once inline): {message}"
    return ConfigIssue(label, SYNTAX_KEY, message, line)


def _read_toml(path: Path) -> _Document:
    """Read and parse one TOML file; problems become issues, never exceptions."""
    label = str(path)

    def fail(message: str, key: str = FILE_KEY, line: int | None = None) -> _Document:
        return _Document(path, None, "", [ConfigIssue(label, key, message, line)])

    try:
        info = path.stat()
    except FileNotFoundError:
        return fail("file not found")
    except OSError as exc:
        return fail(f"cannot read the file: {exc.strerror or exc}")
    if stat.S_ISDIR(info.st_mode):
        return fail("is a directory, not a TOML file")
    if not stat.S_ISREG(info.st_mode):
        return fail("is not a regular file")
    too_large = f"file is too large: the limit is {MAX_CONFIG_BYTES // MIB} MiB"
    if info.st_size > MAX_CONFIG_BYTES:
        return fail(f"{too_large}, this one has {info.st_size} bytes")
    try:
        raw, truncated = read_bytes_capped(path, limit=MAX_CONFIG_BYTES)
    except OSError as exc:
        return fail(f"cannot read the file: {exc.strerror or exc}")
    if truncated:
        return fail(too_large)

    skipped = len(UTF8_BOM) if raw.startswith(UTF8_BOM) else 0
    try:
        text = raw[skipped:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + skipped
        return fail(
            f"not valid UTF-8: byte 0x{raw[offset]:02x} at byte offset {offset} cannot be "
            "decoded; save the file as UTF-8",
            SYNTAX_KEY,
            raw.count(b"\n", 0, offset) + 1,
        )
    deep_line = _overlong_dotted_key(text)
    if deep_line is not None:
        message = f"nesting too deep: a dotted key has more than {_MAX_KEY_PARTS} parts"
        return _Document(path, None, text, [ConfigIssue(label, SYNTAX_KEY, message, deep_line)])
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return _Document(path, None, text, [_syntax_issue(label, text, exc)])
    except RecursionError:
        return _Document(path, None, text, [_too_deep(label)])
    except Exception as exc:  # tomllib bugs must not become tracebacks
        return _Document(path, None, text, [ConfigIssue(label, SYNTAX_KEY, f"cannot parse: {exc}")])
    return _Document(path, data, text, [])


_MAX_KEY_PARTS: Final = 100
_KEY_TOKEN_RE = re.compile(r"""\s*(?:[A-Za-z0-9_-]+|"(?:[^"\\\n]|\\.)*"|'[^'\n]*')\s*""")


def _overlong_dotted_key(text: str) -> int | None:
    """The line of the first dotted key with more than `_MAX_KEY_PARTS` parts, if any.

    tomllib takes time quadratic in the number of parts of a dotted key (minutes for a
    50,000-part key), so such files are refused before parsing. Only lines with that many
    dots are scanned, in linear time.
    """
    if text.count(".") < _MAX_KEY_PARTS:
        return None
    for number, line in enumerate(text.splitlines(), 1):
        if line.count(".") < _MAX_KEY_PARTS:
            continue
        parts, pos = 0, 0
        while pos < len(line):
            match = _KEY_TOKEN_RE.match(line, pos)
            if match is None:
                parts, pos = 0, pos + 1
                continue
            parts, pos = parts + 1, match.end()
            if parts > _MAX_KEY_PARTS:
                return number
            if pos < len(line) and line[pos] == ".":
                pos += 1
            else:
                parts = 0
    return None


def _too_deep(label: str) -> ConfigIssue:
    return ConfigIssue(label, SYNTAX_KEY, "nesting too deep: arrays or tables are nested too far")


def _validate(
    data: Mapping[str, Any], doc: _Document | None, label: str, base_dir: Path | None
) -> tuple[Settings | None, list[ConfigIssue]]:
    """Validate `data` as Settings; on failure return every problem as an issue."""
    context = {"base_dir": base_dir}
    try:
        return Settings.model_validate(data, context=context), []
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
    except RecursionError:
        return None, [_too_deep(label)]
    except Exception as exc:  # a validator bug must not become a traceback
        return None, [ConfigIssue(label, "(top level)", f"cannot validate: {exc}")]
    lines = _KeyLines(doc.text) if doc is not None and doc.text else None
    issues: list[ConfigIssue] = []
    seen: set[tuple[str, str]] = set()
    for error in errors:
        loc = tuple(error["loc"])
        key, message = _key_path(loc), _error_message(error, loc)
        if (key, message) in seen:
            continue
        seen.add((key, message))
        issues.append(ConfigIssue(label, key, message, lines.line_of(loc) if lines else None))
    # A duplicate host name is found only once every host validates: say it anyway.
    if not any(issue.key == "hosts" for issue in issues):
        for index, message in _duplicate_hosts(data.get("hosts")):
            line = lines.line_of(("hosts", index)) if lines else None
            issues.append(ConfigIssue(label, "hosts", message, line))
    # In file order, so a person can fix them top to bottom; issues without a line go last.
    issues.sort(key=lambda issue: issue.line if issue.line is not None else 1 << 62)
    return None, issues


def _duplicate_hosts(hosts: Any) -> list[tuple[int, str]]:
    """(index, message) for each `[[hosts]]` entry whose name an earlier entry has."""
    if not isinstance(hosts, list):
        return []
    first: dict[str, int] = {}
    out: list[tuple[int, str]] = []
    for index, host in enumerate(hosts):
        name = host.get("name", "local") if isinstance(host, Mapping) else None
        if not isinstance(name, str):
            continue
        if name in first:
            out.append(
                (
                    index,
                    f"duplicate host name {name!r}: hosts[{first[name]}] and "
                    f"hosts[{index}] both use it",
                )
            )
        else:
            first[name] = index
    return out


def _normalized(data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a document with the key map flattened, so layers merge id by id."""
    out = dict(data)
    if isinstance(out.get("keymap"), Mapping):
        with contextlib.suppress(ValueError):  # too deep: validation reports it
            out["keymap"] = _flatten_keymap(out["keymap"])
    return out


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge `over` onto `base`: tables merge key by key; everything else replaces.

    A None in `over` removes the key (and tables left empty by a removal are dropped).
    """
    out = dict(base)
    for key, value in over.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            merged = _merge(out[key], value)
            if merged:
                out[key] = merged
            else:
                out.pop(key)
        elif isinstance(value, Mapping):
            out[key] = _merge({}, value)
            if not out[key]:
                out.pop(key)
        else:
            out[key] = value
    return out


def state_file_path(env: Mapping[str, str] | None = None) -> Path:
    """The runtime settings file: `$XDG_STATE_HOME/clawtui/settings.toml`."""
    return runtime_settings_path(env)


def find_config(
    explicit: Path | None, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> Path | None:
    """Find config.toml; None when there is none (built-in defaults then apply).

    See `fsutil.locate_config` for the order. A file named by `--config` or $CLAWTUI_CONFIG
    must exist: a ConfigError says so rather than quietly using another file.
    """
    try:
        return locate_config(explicit, env, cwd)
    except FileNotFoundError as exc:
        raise ConfigError([ConfigIssue(str(exc.filename), FILE_KEY, str(exc.strerror))]) from None


def _layers(
    path: Path | None, state_file: Path | None, use_state: bool
) -> tuple[Settings | None, list[ConfigIssue], list[ConfigIssue], Path | None]:
    """Load config.toml and the state file over it.

    Returns the settings (None when config.toml is broken), the issues of config.toml, the
    issues of the state file, and the state file in effect.
    """
    config = _read_toml(path) if path is not None else None
    base_dir = path.parent if path is not None else None
    if config is not None and config.data is None:
        return None, config.issues, [], None
    config_data = _normalized(config.data if config and config.data else {})
    label = config.label if config is not None else "(defaults)"
    settings, config_issues = _validate(config_data, config, label, base_dir)

    state_path = (state_file or state_file_path()) if use_state else None
    if state_path is None or not os.path.lexists(state_path):
        return settings, config_issues, [], state_path
    state = _read_toml(state_path)
    if state.data is None:
        return settings, config_issues, state.issues, state_path
    state_data = _normalized(state.data)
    if settings is not None:
        layered, state_issues = _validate(
            _merge(config_data, state_data), state, state.label, base_dir
        )
        if layered is not None:
            settings = layered
    else:  # config.toml is broken: check the state file on its own
        _, state_issues = _validate(state_data, state, state.label, base_dir)
    return settings, config_issues, state_issues, state_path


def load_settings(
    path: Path | None = None, *, state_file: Path | None = None, use_state: bool = True
) -> Settings:
    """Load config.toml at `path` (built-in defaults when None) with the state file over it.

    Raises ConfigError listing every problem of config.toml. Problems of the runtime
    settings file (`state_file`, default `state_file_path()`) do not fail: that file is then
    ignored and its issues are on `settings.warnings`. `use_state=False` skips it.
    """
    label = str(path) if path is not None else "(defaults)"
    try:
        settings, config_issues, state_issues, state_path = _layers(path, state_file, use_state)
    except RecursionError:
        raise ConfigError([_too_deep(label)]) from None
    except Exception as exc:  # never let a traceback out of loading
        raise ConfigError([ConfigIssue(label, FILE_KEY, f"cannot load: {exc}")]) from exc
    if settings is None or config_issues:
        raise ConfigError(config_issues)
    settings._source = path
    settings._state_file = state_path
    settings._warnings = list(state_issues)
    return settings


def check_config(path: Path | None, *, state_file: Path | None = None) -> list[ConfigIssue]:
    """Every issue of config.toml at `path` and of the runtime settings file (empty: all good).

    This is `clawtui config check`. `state_file` defaults to `state_file_path()`.
    """
    label = str(path) if path is not None else "(defaults)"
    try:
        _, config_issues, state_issues, _ = _layers(path, state_file, use_state=True)
    except RecursionError:
        return [_too_deep(label)]
    except Exception as exc:
        return [ConfigIssue(label, FILE_KEY, f"cannot check: {exc}")]
    return config_issues + state_issues


def _plain(value: Any) -> Any:
    """Turn a value into something tomli-w can write (Path -> str, tuple -> list)."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, SecretStr):
        raise TypeError("secrets are not saved in the runtime settings file")
    return value


def save_runtime_settings(changes: Mapping[str, Any], *, state_file: Path | None = None) -> Path:
    """Merge `changes` into the runtime settings file and write it atomically; return its path.

    `changes` is shaped like config.toml, e.g. {"tui": {"theme": "nord"}} or
    {"keymap": {"panel.fleet": "f1"}}; a None value removes a key, so config.toml's value
    applies again. Invalid changes raise ConfigError and nothing is written. A state file that
    cannot be parsed or no longer validates is kept next to it as `<name>.broken` and replaced.
    config.toml is never written.
    """
    target = state_file or state_file_path()
    label = str(target)
    plain = _normalized(_plain(changes))
    _, issues = _validate(_merge({}, plain), None, label, None)
    if issues:
        raise ConfigError(issues)

    if target.is_dir():
        raise ConfigError([ConfigIssue(label, FILE_KEY, "is a directory, not a TOML file")])
    existing: dict[str, Any] = {}
    broken = False
    if os.path.lexists(target):
        current = _read_toml(target)
        if current.data is None:
            broken = True
        else:
            existing = _normalized(current.data)
    merged = _merge(existing, plain)
    if not broken and existing:
        _, issues = _validate(merged, None, label, None)
        if issues:
            broken = True
    if broken:
        merged = _merge({}, plain)
        with contextlib.suppress(OSError):
            os.replace(target, target.with_name(target.name + ".broken"))
    atomic_write(target, STATE_FILE_HEADER + tomli_w.dumps(merged))
    return target
