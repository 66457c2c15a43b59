"""Azure DevOps `build.complete` service-hook payloads: parse, dedupe, and say what happened.

The payload follows the documented shape (Service hooks event reference, "Build completed"):
a notification envelope (`subscriptionId`, `notificationId`, `id`, `eventType`, `publisherId`,
`message`, `detailedMessage`, `resource`, `resourceVersion`, `resourceContainers`,
`createdDate`) around a Build resource (`id`, `buildNumber`, `status`, `result`,
`sourceBranch`, `sourceVersion`, `definition{id,name}`, `project`, `requestedFor`,
`_links.web.href`, ...). Legacy XAML payloads (resourceVersion 1.0) carry the result in
`status` and branch + commit in `sourceGetVersion` ("LG:refs/heads/main:<sha>"); both work.
The seed's test payload (§10.8) has only `eventType` and a few resource fields; it works too.

Everything here is pure and treats the payload as untrusted: any field may be missing or of
the wrong type. `parse_body` raises `PayloadError` (the caller quarantines the body) only
when the body is not a JSON object with an `eventType`; a build.complete whose resource is
unusable is a PayloadError too, since nothing could be told to an agent.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Final

EVENT_BUILD_COMPLETE: Final = "build.complete"
WAKE_RESULTS: Final = frozenset({"failed", "partiallysucceeded"})
"""Results that wake the target thread (the seed's "failed or partially succeeded")."""
SUCCESS_RESULTS: Final = frozenset({"succeeded"})
KNOWN_RESULTS: Final = frozenset(
    {"succeeded", "partiallysucceeded", "failed", "canceled", "stopped", "none"}
)
NIL_GUID: Final = "00000000-0000-0000-0000-000000000000"
MAX_DEPTH: Final = 64
_FIELD_MAX: Final = 400
_SURROGATE_ESCAPE_RE = re.compile(r"\\u[dD][89a-fA-F]")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


class PayloadError(ValueError):
    """The body cannot be understood; the message says what is wrong (for the quarantine)."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise PayloadError(f"duplicate key {key[:60]!r} in a JSON object")
        out[key] = value
    return out


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of `value`, stopping at `limit + 1` (iterative: no recursion)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if deepest > limit:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def load_json(body: bytes) -> dict[str, Any]:
    """A JSON object from untrusted bytes: UTF-8, no duplicate keys, nesting ≤ MAX_DEPTH."""
    if body[:3] == b"\xef\xbb\xbf":
        body = body[3:]
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"the body is not UTF-8 (byte offset {exc.start})") from None
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except PayloadError:
        raise
    except RecursionError:
        raise PayloadError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise PayloadError(f"not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise PayloadError(f"expected a JSON object, got {type(data).__name__}")
    if _depth(data, MAX_DEPTH) > MAX_DEPTH:
        raise PayloadError(f"JSON nested deeper than {MAX_DEPTH} levels")
    # UTF-8 input has no lone surrogates, but a \ud800 escape makes one, and text with one
    # cannot be stored or written as UTF-8: refuse it here (only checked when an escape of
    # that range appears, so ordinary bodies pay one regex scan).
    if _SURROGATE_ESCAPE_RE.search(text):
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise PayloadError("the JSON holds a lone UTF-16 surrogate (\\ud800-\\udfff)") from None
    return data


def clean(value: Any, limit: int = _FIELD_MAX) -> str:
    """Untrusted text for a message: control characters and bidi overrides dropped, capped."""
    if value is None:
        return ""
    if isinstance(value, bool):
        value = "true" if value else "false"
    if isinstance(value, dict | list):
        return ""
    text = _CONTROL_RE.sub("", str(value)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


@dataclass(frozen=True)
class BuildEvent:
    """What a build.complete says, cleaned up."""

    build_id: str
    build_number: str
    result: str
    """Lower-case result: failed, partiallysucceeded, succeeded, canceled, ... or unknown."""
    result_label: str
    """The result as Azure DevOps spells it (for people)."""
    definition: str
    definition_id: str
    branch: str
    commit: str
    link: str
    project: str
    requested_for: str

    @property
    def wakes(self) -> bool:
        return self.result in WAKE_RESULTS

    @property
    def pipeline_key(self) -> str:
        """One pipeline on one branch: what a failure streak is counted on."""
        name = self.definition_id or self.definition or "?"
        return f"{self.project or '?'}/{name}@{self.branch or '?'}"

    @property
    def short_branch(self) -> str:
        return self.branch.removeprefix("refs/heads/")

    def message(self) -> str:
        """The text the target thread gets (the seed's "wake Ryan")."""
        word = "FAILED" if self.result == "failed" else self.result_label.upper()
        lines = [
            f"Build {self.build_number or self.build_id} {word} on "
            f"{self.short_branch or '(unknown branch)'}",
            "",
            f"Pipeline: {self.definition or '(unknown)'}"
            + (f" (definition {self.definition_id})" if self.definition_id else ""),
            f"Build id: {self.build_id or '(unknown)'}",
            f"Build number: {self.build_number or '(unknown)'}",
            f"Branch: {self.branch or '(unknown)'}",
            f"Commit: {self.commit or '(unknown)'}",
            f"Result: {self.result_label}",
        ]
        if self.project:
            lines.append(f"Project: {self.project}")
        if self.requested_for:
            lines.append(f"Requested for: {self.requested_for}")
        if self.link:
            lines.append(f"Link: {self.link}")
        lines += [
            "",
            "Start the pipeline failure recovery loop: read the build timeline, find the "
            "failed step, extract its full log, and hand the report to the developer.",
        ]
        return "\n".join(lines)

    def summary(self) -> str:
        return (
            f"build {self.build_number or self.build_id} {self.result_label} "
            f"({self.definition or '?'} on {self.short_branch or '?'})"
        )


def parse_build(payload: dict[str, Any]) -> BuildEvent:
    """The build of a build.complete payload; PayloadError when there is no usable resource."""
    resource = payload.get("resource")
    if not isinstance(resource, dict):
        raise PayloadError("build.complete without a 'resource' object")
    raw_result = resource.get("result")
    if not isinstance(raw_result, str) or not raw_result.strip():
        legacy = resource.get("status")  # XAML builds (resourceVersion 1.0)
        raw_result = legacy if isinstance(legacy, str) and legacy.lower() in KNOWN_RESULTS else None
    if raw_result is None:
        raise PayloadError("build.complete without 'resource.result'")
    label = clean(raw_result, 40)
    result = label.lower() if label.lower() in KNOWN_RESULTS else "unknown"
    build_id = resource.get("id")
    if isinstance(build_id, bool) or not isinstance(build_id, int | str):
        build_id = None
    number = resource.get("buildNumber")
    if build_id is None and not isinstance(number, str | int):
        raise PayloadError("build.complete without 'resource.id' or 'resource.buildNumber'")
    branch = clean(resource.get("sourceBranch"), 200)
    commit = clean(resource.get("sourceVersion"), 80)
    legacy_version = resource.get("sourceGetVersion")
    if isinstance(legacy_version, str) and legacy_version.startswith("LG:"):
        ref, _, sha = legacy_version[3:].rpartition(":")
        branch = branch or clean(ref, 200)
        commit = commit or clean(sha, 80)
    link = clean(_get(resource, "_links", "web", "href"), 500)
    if not link.lower().startswith(("https://", "http://")):
        link = ""
    requested = _get(resource, "requestedFor", "displayName")
    if requested is None:
        requests = resource.get("requests")
        if isinstance(requests, list) and requests:
            requested = _get(requests[0], "requestedFor", "displayName")
    return BuildEvent(
        build_id=clean(build_id, 40),
        build_number=clean(number, 120),
        result=result,
        result_label=label,
        definition=clean(_get(resource, "definition", "name"), 200),
        definition_id=clean(_get(resource, "definition", "id"), 40),
        branch=branch,
        commit=commit,
        link=link,
        project=clean(_get(resource, "project", "name"), 200),
        requested_for=clean(requested, 200),
    )


def event_type(payload: dict[str, Any]) -> str:
    value = payload.get("eventType")
    if not isinstance(value, str) or not value.strip():
        raise PayloadError("no 'eventType' string: not an Azure DevOps service-hook payload")
    return clean(value, 120)


def dedupe_key(payload: dict[str, Any], body: bytes) -> str:
    """Subscription + notification + event id + resource id.

    Azure DevOps retries a notification with the same ids. Test payloads and the documented
    sample carry all-zero or missing ids, so when the event id is missing or nil the build
    number, createdDate and a hash of the body are added: two different test payloads never
    collide, and the same body sent twice is still one delivery.
    """
    resource = payload.get("resource")
    resource_id = _get(resource, "id") if isinstance(resource, dict) else None
    parts = [
        clean(payload.get("subscriptionId"), 80),
        clean(payload.get("notificationId"), 40),
        clean(payload.get("id"), 80),
        clean(resource_id, 80),
    ]
    event_id = parts[2].lower()
    if not event_id or event_id.strip("0-") == "":
        number = _get(resource, "buildNumber") if isinstance(resource, dict) else None
        parts += [
            clean(number, 120),
            clean(payload.get("createdDate"), 60),
            hashlib.sha256(body).hexdigest()[:32],
        ]
    return "azdo:" + "|".join(parts)


def delivery_id(key: str, prefix: str = "wh") -> str:
    """A short, file-name-safe id derived from a dedupe key (same key, same id)."""
    return f"{prefix}-{hashlib.sha256(key.encode('utf-8', 'surrogatepass')).hexdigest()[:24]}"
