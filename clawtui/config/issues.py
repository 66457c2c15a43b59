"""Turning pydantic errors into `ConfigIssue`s with key paths, lines and hints."""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Mapping
from typing import Annotated, Any, Final, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    SecretStr,
)

from clawtui.config.base import _describe
from clawtui.config.settings import Settings

# --------------------------------------------------------------------------------------------
# Turning pydantic errors into issues


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated and Optional from a type."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin is Union or origin is types.UnionType:
            args = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _annotation_at(loc: tuple[str | int, ...]) -> Any:
    """The type of the setting at `loc` in `Settings`, or None when unknown."""
    annotation: Any = Settings
    for segment in loc:
        annotation = _unwrap(annotation)
        origin = get_origin(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(segment))
            if field is None:
                return None
            annotation = field.annotation
        elif origin is list and isinstance(segment, int):
            annotation = get_args(annotation)[0]
        elif origin is dict and isinstance(segment, str):
            annotation = get_args(annotation)[1]
        else:
            return None
    return _unwrap(annotation)


_SECRET_WORDS: Final = ("token", "secret", "password", "passwd")


def _is_secret(loc: tuple[str | int, ...]) -> bool:
    if _annotation_at(loc) is SecretStr:
        return True
    last = next((seg for seg in reversed(loc) if isinstance(seg, str)), "")
    return last != "token_env" and any(word in last.lower() for word in _SECRET_WORDS)


_BARE_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key_path(loc: tuple[str | int, ...]) -> str:
    """("hosts", 1, "url") -> "hosts[1].url"; keys that need it are quoted as in TOML."""
    out = ""
    for segment in loc:
        if isinstance(segment, int):
            out += f"[{segment}]"
        else:
            name = segment if _BARE_KEY_RE.fullmatch(segment) else f'"{segment}"'
            out += f".{name}" if out else name
    return out or "(top level)"


def _error_message(error: Mapping[str, Any], loc: tuple[str | int, ...]) -> str:
    kind: str = error["type"]
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    got = "a hidden value" if _is_secret(loc) else _describe(error.get("input"))
    if kind == "extra_forbidden":
        message = "unknown key: remove it or check its spelling"
        parent = _annotation_at(loc[:-1])
        if loc and isinstance(parent, type) and issubclass(parent, BaseModel):
            close = difflib.get_close_matches(str(loc[-1]), list(parent.model_fields), n=1)
            if close:
                message += f" (did you mean {close[0]!r}?)"
        return message
    simple = {
        "missing": "required key is missing",
        "int_type": f"expected a whole number, got {got}",
        "int_parsing": f"expected a whole number, got {got}",
        "int_from_float": f"expected a whole number, got {got}",
        "float_type": f"expected a number, got {got}",
        "float_parsing": f"expected a number, got {got}",
        "bool_type": f"expected true or false, got {got}",
        "bool_parsing": f"expected true or false, got {got}",
        "string_type": f"expected text (a quoted string), got {got}",
        "model_type": f"expected a table, got {got}",
        "model_attributes_type": f"expected a table, got {got}",
        "dict_type": f"expected a table, got {got}",
        "list_type": f"expected an array, got {got}",
        "is_instance_of": f"expected {ctx.get('class', 'another type')}, got {got}",
    }
    if kind in simple:
        return simple[kind]
    bounds = {
        "greater_than_equal": ("at least", "ge"),
        "greater_than": ("more than", "gt"),
        "less_than_equal": ("at most", "le"),
        "less_than": ("less than", "lt"),
    }
    if kind in bounds:
        words, name = bounds[kind]
        return f"must be {words} {ctx.get(name)}, got {got}"
    if kind == "too_short" and ctx.get("min_length") == 1:
        return "must not be empty"
    if kind == "string_too_short":
        if ctx.get("min_length") == 1:
            return "must not be empty"
        return f"must be at least {ctx.get('min_length')} characters long"
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    return f"{error.get('msg', 'invalid value')}, got {got}"


# --------------------------------------------------------------------------------------------
# Finding the line of a key in TOML text (best effort: used only to point people at a line)

_KEY_PART_RE = re.compile(r"""\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*""")
_MAX_INDEXED_DEPTH: Final = 64


def _split_dotted(text: str, pos: int = 0) -> tuple[list[str], int] | None:
    """Parse a dotted TOML key at `pos`; return its parts and the position after it."""
    parts: list[str] = []
    while True:
        match = _KEY_PART_RE.match(text, pos)
        if match is None:
            return None
        parts.append(next(group for group in match.groups() if group is not None))
        pos = match.end()
        if pos < len(text) and text[pos] == ".":
            pos += 1
            continue
        return parts, pos


class _KeyLines:
    """Maps key paths like ("hosts", 1, "url") to the line that defines them."""

    def __init__(self, text: str) -> None:
        self._lines: dict[tuple[str | int, ...], int] = {}
        arrays: dict[tuple[str | int, ...], int] = {}
        table: tuple[str | int, ...] = ()
        closer: str | None = None
        for number, line in enumerate(text.splitlines(), 1):
            if closer is not None:  # inside a multi-line string
                if line.count(closer) % 2 == 1:
                    closer = None
                continue
            stripped = line.lstrip()
            if stripped.startswith("[["):
                parsed = _split_dotted(stripped, 2)
                if parsed and stripped[parsed[1] :].startswith("]]"):
                    parent = self._resolve(parsed[0][:-1], arrays)
                    array = (*parent, parsed[0][-1])
                    arrays[array] = arrays.get(array, 0) + 1
                    table = (*array, arrays[array] - 1)
                    self._add(table, number)
                continue
            if stripped.startswith("["):
                parsed = _split_dotted(stripped, 1)
                if parsed and stripped[parsed[1] :].startswith("]"):
                    table = self._resolve(parsed[0], arrays)
                    self._add(table, number)
                continue
            parsed = _split_dotted(stripped)
            if parsed and stripped[parsed[1] :].startswith("="):
                self._add((*table, *parsed[0]), number)
                value = stripped[parsed[1] + 1 :].lstrip()
                for quote in ('"""', "'''"):
                    if value.startswith(quote) and value.count(quote) == 1:
                        closer = quote

    @staticmethod
    def _resolve(
        parts: list[str], arrays: Mapping[tuple[str | int, ...], int]
    ) -> tuple[str | int, ...]:
        """A header's parts as a path; a part naming an array of tables means its last table."""
        path: tuple[str | int, ...] = ()
        for part in parts[:_MAX_INDEXED_DEPTH]:
            path = (*path, part)
            if path in arrays:
                path = (*path, arrays[path] - 1)
        return path

    def _add(self, path: tuple[str | int, ...], line: int) -> None:
        for size in range(1, min(len(path), _MAX_INDEXED_DEPTH) + 1):
            self._lines.setdefault(path[:size], line)

    def line_of(self, loc: tuple[str | int, ...]) -> int | None:
        """The line of `loc`, else of its closest parent found in the text, else None."""
        # Keymap ids are flattened ("panel.fleet"); the file may spell them as nested keys.
        split = tuple(
            part
            for segment in loc
            for part in (segment.split(".") if isinstance(segment, str) else [segment])
        )
        for candidate in (loc, split):
            if candidate in self._lines:
                return self._lines[candidate]
        for size in range(len(loc) - 1, 0, -1):
            if loc[:size] in self._lines:
                return self._lines[loc[:size]]
        return None
