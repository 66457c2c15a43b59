"""Pure parts of ingress: build.complete parsing (current and legacy shapes), dedupe keys,
JSON guards, secrets, the rate limiter and the [webhook] / [relay] config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from clawtui.config import ConfigError, Settings, load_settings
from clawtui.config.ingress import RelayConfig, RelayRoute, WebhookIngressConfig
from clawtui.engine.ingress import azure_devops as azdo
from clawtui.engine.ingress.guards import RateLimiter, secret_matches

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "azure_devops"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def test_documented_shape_is_parsed() -> None:
    build = azdo.parse_build(load("build_complete_partially_succeeded.json"))
    assert (build.build_id, build.build_number, build.result) == (
        "2727103",
        "20260302.6",
        "partiallysucceeded",
    )
    assert build.wakes and build.branch == "refs/heads/main"
    assert build.definition == "Forma3D.Connect CI" and build.definition_id == "4658"
    assert build.requested_for == "Jan Wielemans"
    assert build.link.endswith("_build/results?buildId=2727103")
    assert "PARTIALLYSUCCEEDED" in build.message()
    assert not azdo.parse_build(load("build_complete_canceled.json")).wakes


def test_legacy_xaml_payload() -> None:
    """resourceVersion 1.0: result in `status`, branch and commit in `sourceGetVersion`."""
    payload = {
        "eventType": "build.complete",
        "resource": {
            "id": 348,
            "buildNumber": "MyWebSite CI_20141007.3",
            "status": "failed",
            "sourceGetVersion": "LG:refs/heads/master:23d0bc5b128a10056dc68afece360d8a0fabb014",
            "definition": {"definitionType": "xaml", "id": 2, "name": "MyWebSite CI"},
            "requests": [{"id": 1, "requestedFor": {"displayName": "Normal Paulk"}}],
        },
    }
    build = azdo.parse_build(payload)
    assert (build.result, build.branch, build.commit) == (
        "failed",
        "refs/heads/master",
        "23d0bc5b128a10056dc68afece360d8a0fabb014",
    )
    assert build.requested_for == "Normal Paulk"


@pytest.mark.parametrize(
    "resource",
    [None, 5, [], {}, {"result": "failed"}, {"id": True, "result": "failed"}],
)
def test_unusable_resources_are_payload_errors(resource: Any) -> None:
    with pytest.raises(azdo.PayloadError):
        azdo.parse_build({"eventType": "build.complete", "resource": resource})


def test_untrusted_text_is_cleaned() -> None:
    payload = load("seed_10_8.json")
    payload["resource"]["definition"]["name"] = "CI\x1b[31m\u202eevil\x00"
    payload["resource"]["_links"]["web"]["href"] = "javascript:alert(1)"
    build = azdo.parse_build(payload)
    assert build.definition == "CI[31mevil"
    assert build.link == ""


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"a": 1, "a": 2}', "duplicate key"),
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper"),
        (b'{"x": ' + b"[" * 70 + b"]" * 70 + b"}", "nested deeper"),
        (b"\xff", "not UTF-8"),
        (b"[]", "expected a JSON object"),
        (b"{", "not valid JSON"),
        (b'{"m": "\\ud800"}', "lone UTF-16 surrogate"),
        (b'{"\\udfff": 1}', "lone UTF-16 surrogate"),
    ],
)
def test_json_guards(body: bytes, words: str) -> None:
    with pytest.raises(azdo.PayloadError, match=words):
        azdo.load_json(body)


def test_dedupe_keys() -> None:
    failed = load("build_complete_failed.json")
    body = json.dumps(failed).encode()
    key = azdo.dedupe_key(failed, body)
    assert key == azdo.dedupe_key(failed, body + b" ")  # real ids: the body does not matter
    zero = dict(failed, id="00000000-0000-0000-0000-000000000000")
    other = json.loads(json.dumps(zero))
    other["resource"]["result"] = "succeeded"
    assert azdo.dedupe_key(zero, json.dumps(zero).encode()) != azdo.dedupe_key(
        other, json.dumps(other).encode()
    )
    assert azdo.delivery_id(key) == azdo.delivery_id(key)
    assert azdo.delivery_id(key).startswith("wh-")


def test_secret_matches() -> None:
    assert secret_matches("b", ["a", "b"])
    assert not secret_matches(None, ["a"])
    assert not secret_matches("é\udcff", ["a"])
    assert not secret_matches("", [])


def test_rate_limiter() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert [limiter.check("a", 2, 10) for _ in range(3)] == [0.0, 0.0, 10.0]
    assert limiter.check("b", 2, 10) == 0.0
    now[0] = 10.5
    assert limiter.check("a", 2, 10) == 0.0


def test_ingress_config(tmp_path: Path) -> None:
    secret = tmp_path / "s"
    secret.write_text("  from-file \n")
    cfg = WebhookIngressConfig(secrets_env=["A", "B"], secret_files=[secret])
    assert cfg.resolved_secrets({"A": "one", "B": ""}) == ["one", "from-file"]
    assert RelayRoute.model_validate({"from": "ryan", "to": "cody"}).as_toml() == {
        "from": "ryan",
        "to": "cody",
    }
    with pytest.raises(ValueError, match="to itself"):
        RelayRoute.model_validate({"from": "ryan", "to": "ryan"})
    with pytest.raises(ValueError, match="duplicate agent"):
        RelayConfig.model_validate(
            {"agents": [{"name": "a", "thread_id": 1}, {"name": "a", "thread_id": 2}]}
        )
    assert Settings().webhook.max_body_bytes == 3 * 1024 * 1024
    assert Settings().relay.max_message_bytes == 64 * 1024


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[webhook]\nsecrets_env = ["1BAD"]\nsecret = "plain"\n'
        '[relay]\nroutes = [{from = "Ryan", to = "cody"}]\n'
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path, use_state=False)
    keys = {issue.key for issue in info.value.issues}
    assert "webhook.secrets_env" in keys
    assert "webhook.secret" in keys  # plain secrets are not a thing
    assert any(k.startswith("relay.routes[0]") for k in keys)
