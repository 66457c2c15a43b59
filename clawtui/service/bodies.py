"""Request bodies: JSON read with a cap, validated by a pydantic model, errors naming the field.

Every route that takes a body uses `parse_body` (routes that need no fields use `no_body`, so
a body sent to them must still be empty or a JSON object with no fields), and every route
checks its body before anything else, so a client gets the same answers everywhere: 413 over
the cap, 400 "the body is not valid JSON: ...", 400 "the body is nested deeper than N levels",
400 "the body holds text that is not valid Unicode", 400 "the body must be a JSON object", and
400 "invalid body: unknown field 'x' (expected: a, b); field 'y' is required; ...". Submitted
values are never echoed (a field may hold a secret).

The body is read to its end or to the cap, whatever the chunking: `content.read(n)` returns
only what is buffered, so one call is not the whole body.
"""

from __future__ import annotations

import json
import math
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from clawtui.service.errors import fail
from clawtui.service.keys import SETTINGS

M = TypeVar("M", bound=BaseModel)

_MAX_PROBLEMS = 10
_MAX_MESSAGE = 2000
_CHUNK = 64 * 1024
MAX_DEPTH = 64
"""Deepest nesting of arrays and objects a body may have (the root object is level 1)."""
SQLITE_INT_MAX = 2**63 - 1
"""The largest integer the store holds (SQLite INTEGER is a signed 64-bit number)."""


class NoFields(BaseModel):
    """The body of a route that takes no fields: empty, or `{}`."""

    model_config = ConfigDict(extra="forbid")


def validation_message(exc: ValidationError, model: type[BaseModel]) -> str:
    """One line listing what is wrong with a body, field by field."""
    problems: list[str] = []
    for error in exc.errors(include_url=False)[:_MAX_PROBLEMS]:
        loc = ".".join(str(part) for part in error["loc"]) or "body"
        if error["type"] == "extra_forbidden":
            expected = ", ".join(model.model_fields) or "no fields"
            problems.append(f"unknown field {loc!r} (expected: {expected})")
        elif error["type"] == "missing":
            problems.append(f"field {loc!r} is required")
        else:
            problems.append(f"field {loc!r}: {error['msg']}")
    return ("invalid body: " + "; ".join(problems))[:_MAX_MESSAGE]


async def read_capped(request: web.Request, limit: int) -> bytes:
    """The whole body, at most `limit` bytes; a 413 past it (declared or as it arrives)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        fail(413, f"the body is larger than {limit} bytes")
    body = bytearray()
    while True:
        chunk = await request.content.read(_CHUNK)
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > limit:
            fail(413, f"the body is larger than {limit} bytes")


def _where(path: tuple[str | int, ...]) -> str:
    return ".".join(str(part) for part in path)[:200] or "body"


def _check_shape(data: Any) -> None:
    """A 400 when `data` nests deeper than MAX_DEPTH, holds a lone surrogate (which JSON's
    `\\ud800` escapes allow but no file, queue or database can store as UTF-8), a number
    that is not finite, or an integer the store cannot hold (SQLite's signed 64 bits)."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
    while stack:
        item, path = stack.pop()
        children: list[tuple[Any, tuple[str | int, ...]]] = []
        texts: list[str] = []
        if isinstance(item, bool):
            continue
        if isinstance(item, int):
            if not -SQLITE_INT_MAX - 1 <= item <= SQLITE_INT_MAX:
                fail(400, f"field {_where(path)!r}: {len(str(abs(item)))}-digit integer is "
                          "beyond the signed 64-bit range (-2**63 .. 2**63-1)")  # fmt: skip
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                fail(400, f"field {_where(path)!r}: the number is too large")
            continue
        if isinstance(item, str):
            texts = [item]
        elif isinstance(item, dict):
            texts = list(item)
            children = [(value, (*path, key)) for key, value in item.items()]
        elif isinstance(item, list):
            children = [(value, (*path, index)) for index, value in enumerate(item)]
        if len(path) >= MAX_DEPTH - 1 and any(isinstance(c, dict | list) for c, _ in children):
            fail(400, f"the body is nested deeper than {MAX_DEPTH} levels")
        for text in texts:
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                fail(400, f"field {_where(path)!r} holds text that is not valid Unicode "
                          "(a lone surrogate)")  # fmt: skip
        stack.extend(children)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


async def read_json(request: web.Request, *, limit: int | None = None) -> tuple[bool, Any]:
    """(sent, value): the body parsed as JSON, or (False, None) when it is empty.

    `limit` caps the bytes read (default: `[service] max_body_bytes`).
    """
    cap = request.app[SETTINGS].service.max_body_bytes if limit is None else limit
    raw = await read_capped(request, cap)
    if not raw.strip():
        return False, None
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except RecursionError:
        fail(400, f"the body is nested deeper than {MAX_DEPTH} levels")
    except (UnicodeDecodeError, ValueError) as exc:
        fail(400, f"the body is not valid JSON: {str(exc)[:200]}")
    _check_shape(data)
    return True, data


async def parse_body(
    request: web.Request, model: type[M], *, limit: int | None = None, optional: bool = False
) -> M:
    """The request's JSON object as `model`; an HTTP error naming the problem otherwise.

    `limit` caps the bytes read (default: `[service] max_body_bytes`); with `optional`, an
    empty body means `{}`.
    """
    sent, data = await read_json(request, limit=limit)
    if not sent:
        if not optional:
            fail(400, "the body is not valid JSON: it is empty (send a JSON object)")
        data = {}
    if not isinstance(data, dict):
        fail(400, "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fail(400, validation_message(exc, model))
    except RecursionError:
        fail(400, f"the body is nested deeper than {MAX_DEPTH} levels")


async def no_body(request: web.Request) -> None:
    """Check the body of a route that takes no fields: empty or `{}`, a 400 otherwise."""
    await parse_body(request, NoFields, optional=True)
