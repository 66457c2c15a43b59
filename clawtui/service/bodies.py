"""Request bodies: JSON read with a cap, validated by a pydantic model, errors naming the field.

Every route that takes a JSON object uses `parse_body`, so a client gets the same answers
everywhere: 413 over the cap, 400 "the body is not valid JSON: ...", 400 "the body must be a
JSON object", and 400 "invalid body: unknown field 'x' (expected: a, b); field 'y' is
required; ...". Submitted values are never echoed (a field may hold a secret).
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from clawtui.service.errors import fail

M = TypeVar("M", bound=BaseModel)

_MAX_PROBLEMS = 10
_MAX_MESSAGE = 2000


def validation_message(exc: ValidationError, model: type[BaseModel]) -> str:
    """One line listing what is wrong with a body, field by field."""
    problems: list[str] = []
    for error in exc.errors(include_url=False)[:_MAX_PROBLEMS]:
        loc = ".".join(str(part) for part in error["loc"]) or "body"
        if error["type"] == "extra_forbidden":
            problems.append(f"unknown field {loc!r} (expected: {', '.join(model.model_fields)})")
        elif error["type"] == "missing":
            problems.append(f"field {loc!r} is required")
        else:
            problems.append(f"field {loc!r}: {error['msg']}")
    return ("invalid body: " + "; ".join(problems))[:_MAX_MESSAGE]


async def parse_body(
    request: web.Request, model: type[M], *, limit: int | None = None, optional: bool = False
) -> M:
    """The request's JSON object as `model`; an HTTP error naming the problem otherwise.

    `limit` caps the bytes read (default: the app's `client_max_size`); with `optional`, an
    empty body means `{}`.
    """
    if limit is None:
        raw = await request.read()
    else:
        raw = await request.content.read(limit + 1)
        if len(raw) > limit:
            fail(413, f"the body is larger than {limit} bytes")
    data: Any = {}
    if not (optional and not raw.strip()):
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            fail(400, f"the body is not valid JSON: {str(exc)[:200]}")
    if not isinstance(data, dict):
        fail(400, "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fail(400, validation_message(exc, model))
