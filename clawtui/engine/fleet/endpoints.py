"""The Docker Engine API endpoints clawtui uses, and which capability needs each.

This is the allowlist an allowlisting socket proxy must let through
(`scripts/docker-socket-proxy/haproxy.cfg` allows exactly these; a unit test keeps the two
equal). When a proxy refuses a request (HTTP 403), `refusal_text` turns the SDK error into a
sentence naming the endpoint and the capability that needs it, so the host's error line, a
failed action or a failed create says what to allow instead of "403 Forbidden".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    """Shown form, e.g. /containers/{id}/json (versioned prefix /v1.NN omitted)."""
    pattern: str
    """Regex of the path without the version prefix."""
    needed_by: str


_ID: Final = r"[A-Za-z0-9_.-]+"
_IMAGE: Final = r"[A-Za-z0-9_.:/@-]+"

ENDPOINTS: Final[tuple[Endpoint, ...]] = (
    Endpoint("GET", "/_ping", r"/_ping", "fleet (host monitor: liveness)"),
    Endpoint("HEAD", "/_ping", r"/_ping", "fleet (host monitor: liveness)"),
    Endpoint("GET", "/version", r"/version", "fleet (host monitor: API version)"),
    Endpoint("GET", "/info", r"/info", "fleet (host monitor: host memory and CPUs)"),
    Endpoint("GET", "/events", r"/events", "fleet (host monitor: container events)"),
    Endpoint("GET", "/containers/json", r"/containers/json", "fleet (container list)"),
    Endpoint("GET", "/containers/{id}/json", rf"/containers/{_ID}/json", "fleet (inspect)"),
    Endpoint("GET", "/containers/{id}/stats", rf"/containers/{_ID}/stats", "fleet (stats)"),
    Endpoint("GET", "/containers/{id}/logs", rf"/containers/{_ID}/logs", "actions (logs)"),
    Endpoint("POST", "/containers/{id}/start", rf"/containers/{_ID}/start", "actions (start)"),
    Endpoint("POST", "/containers/{id}/stop", rf"/containers/{_ID}/stop", "actions (stop)"),
    Endpoint(
        "POST", "/containers/{id}/restart", rf"/containers/{_ID}/restart", "actions (restart)"
    ),
    Endpoint("DELETE", "/containers/{id}", rf"/containers/{_ID}", "actions (remove)"),
    Endpoint(
        "POST", "/containers/{id}/update", rf"/containers/{_ID}/update", "memory (live limits)"
    ),
    Endpoint("POST", "/containers/create", r"/containers/create", "devboxes and pools (create)"),
    Endpoint(
        "GET",
        "/containers/{id}/archive",
        rf"/containers/{_ID}/archive",
        "devboxes (host key) and pools (state sync on remote hosts)",
    ),
    Endpoint(
        "PUT",
        "/containers/{id}/archive",
        rf"/containers/{_ID}/archive",
        "devboxes (authorized_keys) and pools (tenant files on remote hosts)",
    ),
    Endpoint(
        "POST",
        "/containers/{id}/exec",
        rf"/containers/{_ID}/exec",
        "devboxes (sshd check) and attach (docker exec fallback)",
    ),
    Endpoint("POST", "/exec/{id}/start", rf"/exec/{_ID}/start", "devboxes and attach (exec)"),
    Endpoint("POST", "/exec/{id}/resize", rf"/exec/{_ID}/resize", "attach (exec window size)"),
    Endpoint("GET", "/exec/{id}/json", rf"/exec/{_ID}/json", "attach (exec exit code)"),
    Endpoint("POST", "/build", r"/build", "devboxes (build the dev image when missing)"),
    Endpoint("GET", "/images/{name}/json", rf"/images/{_IMAGE}/json", "devboxes (dev image)"),
    Endpoint("DELETE", "/images/{name}", rf"/images/{_IMAGE}", "devboxes (old dev image)"),
    Endpoint("POST", "/volumes/create", r"/volumes/create", "devboxes (home volume)"),
    Endpoint("GET", "/volumes/{volume}", rf"/volumes/{_ID}", "devboxes (home volume)"),
    Endpoint("DELETE", "/volumes/{volume}", rf"/volumes/{_ID}", "devboxes (home volume)"),
)
"""Every (method, path) clawtui sends; anything else it never asks for."""

_VERSION: Final = re.compile(r"^/v[0-9]+(?:\.[0-9]+)?(?=/)")
_API_VERSION_RE: Final = re.compile(r"Error while fetching server API version: 403")


def endpoint_for(method: str, path: str) -> Endpoint | None:
    """The entry of `ENDPOINTS` matching a request, or None (clawtui does not use it)."""
    bare = _VERSION.sub("", path)
    for e in ENDPOINTS:
        if e.method == method.upper() and re.fullmatch(e.pattern, bare):
            return e
    return None


def _request_of(exc: BaseException) -> tuple[str, str] | None:
    response: Any = getattr(exc, "response", None)
    if response is None or getattr(response, "status_code", None) != 403:
        return None
    request = getattr(response, "request", None)
    method, url = getattr(request, "method", None), getattr(request, "url", None)
    if not isinstance(method, str) or not isinstance(url, str):
        return None
    return method, urlsplit(url).path


def refusal_text(exc: BaseException) -> str | None:
    """A sentence for a request the Docker endpoint refused with 403 (an allowlisting proxy),
    naming the endpoint and the capability that needs it; None for any other error."""
    found = _request_of(exc)
    if found is None:
        if _API_VERSION_RE.search(str(exc)):
            found = ("GET", "/version")
        else:
            return None
    method, path = found
    entry = endpoint_for(method, path)
    shown = _VERSION.sub("", path)
    if entry is None:
        return (
            f"the Docker endpoint refused {method} {shown} (HTTP 403), which clawtui does not "
            "normally use"
        )
    return (
        f"the Docker endpoint refused {method} {entry.path} (HTTP 403: a socket proxy's "
        f"allowlist?): {entry.needed_by} needs it; allow it in the proxy "
        "(see scripts/docker-socket-proxy/haproxy.cfg)"
    )
