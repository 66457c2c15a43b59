"""Errors, value types and the `Section` base shared by every config model."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationInfo,
)

KIB: Final = 1 << 10
MIB: Final = 1 << 20
GIB: Final = 1 << 30

MAX_CONFIG_BYTES: Final = 4 * MIB
"""A config or runtime settings file larger than this is refused, not read."""

"""Environment variable naming the config file (after `--config`, before `./config.toml`)."""

API_TOKEN_ENV: Final = "CLAWTUI_API_TOKEN"
"""Environment variable holding the service's API token; it wins over the config file."""

STATE_FILE_HEADER: Final = "# written by clawtui; edit config.toml instead\n"
"""First line of the runtime settings file (tomli-w cannot write comments)."""

FILE_KEY: Final = "(file)"
"""`ConfigIssue.key` of problems with the file itself: missing, unreadable, too large."""

SYNTAX_KEY: Final = "(syntax)"
"""`ConfigIssue.key` of problems that stop the file from being parsed as TOML."""


# --------------------------------------------------------------------------------------------
# Errors


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in one settings file."""

    file: str
    """The file, as given (a path)."""
    key: str
    """Where in the file: a key path like `hosts[1].url`, or `(file)` / `(syntax)`."""
    message: str
    """What is wrong, and when possible what to do about it."""
    line: int | None = None
    """The 1-based line the problem is on, when known."""

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.key}: {self.message}"


class ConfigError(Exception):
    """Settings could not be loaded; `issues` holds every problem found, in file order."""

    def __init__(self, issues: Iterable[ConfigIssue]) -> None:
        self.issues: list[ConfigIssue] = list(issues)
        super().__init__(self.issues)

    def __str__(self) -> str:
        return "\n".join(str(issue) for issue in self.issues)


# --------------------------------------------------------------------------------------------
# Value types

_SIZE_RE = re.compile(
    r"(?P<num>\d+(?:\.\d+)?|\.\d+)\s*(?P<unit>(?P<prefix>[kmgtp])(?:i?b)?|b)?",
    re.IGNORECASE,
)
_SIZE_UNITS: Final = {"b": 1, "k": KIB, "m": MIB, "g": GIB, "t": 1 << 40, "p": 1 << 50}
_MAX_SIZE: Final = (1 << 63) - 1


def _describe(value: Any) -> str:
    """A short description of a value for an error message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, str):
        text = repr(value)
        return text if len(text) <= 60 else text[:56] + "...'"
    if isinstance(value, int | float):
        return repr(value)
    return f"a {type(value).__name__}"


def parse_size(value: int | str) -> int:
    """Return a number of bytes from an int or a text like "2g", "512MiB", "1.5g", "1024".

    Units are binary whatever their spelling: k, kb, kib = 1024; m = 1024², g, t, p likewise;
    case does not matter, and a space may separate number and unit. A fraction is allowed
    with a unit ("1.5g") and rounded down to whole bytes. Raises `ValueError` with a message
    fit for a person on negatives, bools, junk and sizes beyond 2⁶³-1.
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(
            "expected a size: a whole number of bytes or text like '512m' or '2g', "
            f"got {_describe(value)}"
        )
    if isinstance(value, int):
        size = value
    else:
        text = value.strip()
        match = _SIZE_RE.fullmatch(text)
        if match is None:
            if text.startswith("-"):
                raise ValueError(f"a size cannot be negative, got {value!r}")
            raise ValueError(
                f"invalid size {value!r}: use a number of bytes or a number with a unit, "
                "like '64k', '512m', '2g' or '1.5GiB'"
            )
        prefix = (match["prefix"] or "b").lower()
        scaled = Fraction(match["num"]) * _SIZE_UNITS[prefix]
        if scaled.denominator != 1 and prefix == "b":
            raise ValueError(f"a number of bytes must be whole, got {value!r}")
        size = int(scaled)
    if size < 0:
        raise ValueError(f"a size cannot be negative, got {value!r}")
    if size > _MAX_SIZE:
        raise ValueError(f"size {value!r} is too large (the limit is 2^63-1 bytes)")
    return size


def _size_before(value: Any) -> int:
    # TOML writes 2e9 as a float; accept it when it is a whole number of bytes.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return parse_size(value)


ByteSize = Annotated[int, BeforeValidator(_size_before)]
"""An int of bytes that config files may write as 1073741824, "1g" or "1GiB" (`parse_size`)."""


def _to_path(value: Any) -> Any:
    if isinstance(value, str):
        if not value.strip():
            raise ValueError("a path cannot be empty")
        return Path(value)
    return value


def _expand_path(value: Path, info: ValidationInfo) -> Path:
    value = value.expanduser()
    base = info.context.get("base_dir") if isinstance(info.context, dict) else None
    if not value.is_absolute() and isinstance(base, Path):
        value = base / value
    return value


ConfigPath = Annotated[Path, BeforeValidator(_to_path), AfterValidator(_expand_path)]
"""A path: `~` is expanded; a relative path is taken from the folder of the config file."""


def _check_key_binding(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("a key binding cannot be empty: write keys like 'f1' or 'ctrl+q,1'")
    return value


KeyBinding = Annotated[str, AfterValidator(_check_key_binding)]


# --------------------------------------------------------------------------------------------
# Models


class Section(BaseModel):
    """Base of every settings model: unknown keys are errors, types are strict.

    TOML values are typed, so strict validation catches `port = "8770"` or `mouse = 1` instead
    of guessing. Assignments are validated too, so the TUI cannot set a bad value at run time.
    """

    model_config = ConfigDict(extra="forbid", strict=True, validate_assignment=True)
