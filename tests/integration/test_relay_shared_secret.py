"""The relay's shared-secret mode (`[relay] shared_secret_env`), as Nanoclaw's seed sets it up.

Seed 002 gives every agent the one `RELAY_SECRET` and trusts `from`. Against a real engine and
service: every agent gets through with it (not only the first), the whitelist, hop limit and
rate limit still hold per claimed sender, per-agent secrets keep working beside it, and
`clawtui config check`'s advice names the risk.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from clawtui.config.interop import interop_warnings
from clawtui.engine.core import Engine
from clawtui.service.runner import ServiceRunner
from tests.integration.ingress_helpers import (
    AGENT_SECRETS,
    CODY_THREAD,
    RYAN_THREAD,
    ingress_settings,
    messages,
    queue_files,
    wait_for_files,
)
from tests.integration.test_ingress import TOKEN, post

SHARED = "one-relay-secret-for-all-0123456789"


@pytest.fixture
async def served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Engine, str]]:
    monkeypatch.setenv("CLAWTUI_TEST_RELAY_SECRET", SHARED)
    settings = ingress_settings(
        tmp_path, rate_limit=5, rate_window=60.0, shared_secret_env="CLAWTUI_TEST_RELAY_SECRET"
    )
    engine = Engine(settings)
    await engine.start()
    runner = ServiceRunner(engine, settings, token=TOKEN, listen=("127.0.0.1", 0))
    await runner.start()
    try:
        yield engine, runner.url
    finally:
        await runner.stop()
        await engine.stop()


async def test_every_agent_speaks_with_the_shared_secret(served: tuple[Engine, str]) -> None:
    engine, url = served
    shared = {"X-Relay-Secret": SHARED}
    for n, (a, b) in enumerate([("ryan", "cody"), ("cody", "ryan"), ("sam", "cody")], 1):
        status, body = await post(url + "/relay", {"from": a, "to": b, "message": f"m{n}"}, shared)
        assert status == 202, body
        await wait_for_files(engine.queue, n)
    got = {m["message"]: (m["threadId"], m["relayedFrom"]) for m in messages(engine.queue)}
    assert got == {
        "m1": (CODY_THREAD, "ryan"),
        "m2": (RYAN_THREAD, "cody"),
        "m3": (CODY_THREAD, "sam"),
    }
    # per-agent secrets still work, and still bind `from`
    status, _ = await post(
        url + "/relay", {"from": "ryan", "to": "sam", "message": "own"},
        {"X-Relay-Secret": AGENT_SECRETS["ryan"]},
    )  # fmt: skip
    assert status == 202
    await wait_for_files(engine.queue, 4)  # delivered before the refusals are counted
    status, body = await post(
        url + "/relay", {"from": "cody", "to": "ryan", "message": "x"},
        {"X-Relay-Secret": AGENT_SECRETS["ryan"]},
    )  # fmt: skip
    assert status == 403 and "belongs to 'ryan'" in body["error"]["message"]
    before = len(queue_files(engine.queue))
    for body_, want, words in (
        ({"from": "cody", "to": "sam", "message": "x"}, 403, "not in the relay whitelist"),
        ({"from": "mallory", "to": "cody", "message": "x"}, 403, "unknown agent 'mallory'"),
        ({"from": "ryan", "to": "cody", "message": "x", "via": ["cody", "ryan", "cody"]}, 409,
         "hop limit"),
        ({"from": "ryan", "to": "cody", "message": "x"}, 401, "wrong X-Relay-Secret"),
    ):  # fmt: skip
        headers = shared if want != 401 else {"X-Relay-Secret": SHARED + "x"}
        status, answer = await post(url + "/relay", body_, headers)
        assert (status, words in answer["error"]["message"]) == (want, True), answer
    assert len(queue_files(engine.queue)) == before
    # the rate limit is per claimed sender: sam has 4 left of 5, then 429
    statuses = []
    for n in range(5):
        status, _ = await post(url + "/relay", {"from": "sam", "to": "ryan", "message": f"r{n}"},
                               shared)  # fmt: skip
        statuses.append(status)
    assert statuses == [202] * 4 + [429]


def test_config_check_warns_about_the_shared_secret(tmp_path: Path) -> None:
    settings = ingress_settings(tmp_path, shared_secret_env="RELAY_SECRET")
    warnings = interop_warnings(settings)
    assert [w.key for w in warnings] == ["relay.shared_secret_env"]
    assert "can speak as any other" in warnings[0].message
    assert interop_warnings(ingress_settings(tmp_path / "b")) == []
    assert json.dumps(settings.relay.model_dump(mode="json")).count("RELAY_SECRET") == 1


def test_cli_config_check_prints_the_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from clawtui.cli import main

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        '[relay]\nshared_secret_env = "RELAY_SECRET"\n'
        '[[relay.agents]]\nname = "ryan"\nthread_id = 1\nsecret_env = "RYAN_SECRET"\n'
    )
    assert main(["config", "check", "--config", str(cfg)]) == 0  # advice, not an error
    out = capsys.readouterr().out
    assert "warning:" in out and "relay.shared_secret_env" in out and "(1 warning(s))" in out
