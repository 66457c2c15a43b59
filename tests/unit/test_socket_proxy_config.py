"""The shipped haproxy allowlist (scripts/docker-socket-proxy/haproxy.cfg) allows exactly the
Docker Engine API requests clawtui sends (`clawtui.engine.fleet.endpoints.ENDPOINTS`), and a
403 names the endpoint and the capability. The proxy itself is exercised for real in
tests/integration/test_socket_proxy.py; here its rules are read from the file and applied with
Python's `re` (the patterns use only classes, groups and anchors, which PCRE reads the same)."""

from __future__ import annotations

import re
from pathlib import Path

import docker.errors
import pytest
import requests

from clawtui.engine.fleet.actions import docker_error_text
from clawtui.engine.fleet.endpoints import ENDPOINTS, endpoint_for, refusal_text

CFG = Path(__file__).resolve().parents[2] / "scripts" / "docker-socket-proxy" / "haproxy.cfg"
SAMPLES = {
    "{id}": "3f2a9c0de1b4",
    "{name}": "clawtui-test/busybox:1",
    "{volume}": "clawtui-dev-a-home",
}


def rules() -> set[tuple[str, str]]:
    """(method, path regex) pairs the config allows."""
    text = CFG.read_text()
    acls = dict(re.findall(r"^\s*acl (\w+)\s+path_reg '([^']+)'$", text, re.M))
    allowed: set[tuple[str, str]] = set()
    for line in re.findall(r"^\s*http-request allow if (.+)$", text, re.M):
        for method, acl in re.findall(r"\{ method (\w+) \} (\w+)", line):
            allowed.add((method, acls[acl]))
    return allowed


def allows(method: str, path: str) -> bool:
    return any(m == method and re.fullmatch(rx, path) for m, rx in rules())


def sample(path: str) -> str:
    for key, value in SAMPLES.items():
        path = path.replace(key, value)
    return path


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
def test_every_endpoint_clawtui_uses_is_allowed(endpoint) -> None:  # type: ignore[no-untyped-def]
    path = sample(endpoint.path)
    assert allows(endpoint.method, path) and allows(endpoint.method, "/v1.41" + path)
    assert endpoint_for(endpoint.method, "/v1.41" + path) == endpoint


def test_every_allow_rule_is_an_endpoint_clawtui_uses() -> None:
    for method, rx in rules():
        used = [e for e in ENDPOINTS if e.method == method and re.fullmatch(rx, sample(e.path))]
        assert used, f"the proxy allows {method} {rx}, which clawtui never sends"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/networks"),
        ("POST", "/networks/create"),
        ("POST", "/containers/3f2a/kill"),
        ("POST", "/containers/3f2a/pause"),
        ("POST", "/containers/3f2a/attach"),
        ("POST", "/containers/prune"),
        ("HEAD", "/containers/json"),
        ("HEAD", "/containers/3f2a/archive"),
        ("GET", "/images/json"),
        ("POST", "/images/create"),
        ("GET", "/secrets"),
        ("POST", "/swarm/init"),
        ("GET", "/system/df"),
        ("POST", "/plugins/pull"),
        ("GET", "/containers/3f2a/json/../../../secrets"),
    ],
)
def test_other_requests_are_refused(method: str, path: str) -> None:
    assert not allows(method, path) and not allows(method, "/v1.41" + path)
    assert endpoint_for(method, path) is None


def _forbidden(method: str, url: str) -> docker.errors.APIError:
    response = requests.Response()
    response.status_code = 403
    response.request = requests.Request(method, url).prepare()
    return docker.errors.APIError("403 Client Error: Forbidden", response=response)


def test_a_refusal_names_the_endpoint_and_the_capability() -> None:
    exc = _forbidden("POST", "http+docker://localhost/v1.41/containers/3f2a/update")
    text = docker_error_text(exc)
    assert "POST /containers/{id}/update" in text and "memory (live limits) needs it" in text
    events = refusal_text(_forbidden("GET", "http+docker://localhost/v1.41/events?since=1"))
    assert events is not None and "GET /events" in events and "fleet" in events
    other = refusal_text(_forbidden("POST", "http+docker://localhost/v1.41/containers/x/kill"))
    assert other is not None and "POST /containers/x/kill" in other
    assert "does not normally use" in other
    version = docker.errors.DockerException(
        "Error while fetching server API version: 403 Client Error for "
        "http+docker://localhost/version: Forbidden"
    )
    assert "GET /version" in (refusal_text(version) or "")
    response = requests.Response()
    response.status_code = 404
    response.request = requests.Request("GET", "http+docker://x/containers/a/json").prepare()
    assert refusal_text(docker.errors.NotFound("no such container", response=response)) is None
