"""Reconnect policy of clawtui.engine.sessions.ssh: retry network trouble, never a refused key
or auth."""

from __future__ import annotations

from typing import Any

import pytest

from clawtui.engine.sessions import ssh


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []

    async def no_sleep(_: float) -> None:
        seen.append("sleep")

    monkeypatch.setattr(ssh.asyncio, "sleep", no_sleep)
    return seen


def fake_connect(results: list[Any], calls: list[str]) -> Any:
    async def connect(target: ssh.SSHTarget) -> Any:
        calls.append("connect")
        item = results.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return connect


async def test_unreachable_is_retried_with_backoff(
    monkeypatch: pytest.MonkeyPatch, calls: list[str]
) -> None:
    sentinel = object()
    monkeypatch.setattr(
        ssh,
        "connect",
        fake_connect([ssh.Unreachable("down"), ssh.Unreachable("x"), sentinel], calls),
    )
    got = await ssh.connect_with_backoff(ssh.SSHTarget("h"), (0.1, 0.2, 0.4))
    assert got is sentinel
    assert calls == ["connect", "sleep", "connect", "sleep", "connect"]


@pytest.mark.parametrize(
    "error",
    [
        ssh.HostKeyUnknown(ssh.SSHTarget("h"), "SHA256:x"),
        ssh.HostKeyChanged(ssh.SSHTarget("h"), "SHA256:x"),
        ssh.AuthRefused("no"),
    ],
)
async def test_refusals_are_never_retried(
    monkeypatch: pytest.MonkeyPatch, calls: list[str], error: Exception
) -> None:
    monkeypatch.setattr(ssh, "connect", fake_connect([error, object()], calls))
    with pytest.raises(type(error)):
        await ssh.connect_with_backoff(ssh.SSHTarget("h"), (0.1, 0.2))
    assert calls == ["connect"]


async def test_gives_up_after_the_last_delay(
    monkeypatch: pytest.MonkeyPatch, calls: list[str]
) -> None:
    monkeypatch.setattr(ssh, "connect", fake_connect([ssh.Unreachable("d")] * 3, calls))
    with pytest.raises(ssh.Unreachable):
        await ssh.connect_with_backoff(ssh.SSHTarget("h"), (0.1, 0.2))
    assert calls.count("connect") == 3


def test_pin_keeps_other_hosts(tmp_path: Any) -> None:
    import asyncssh

    known = tmp_path / "kh"
    a = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    b = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    ssh.pin_host_key(known, "127.0.0.1", 2201, a)
    ssh.pin_host_key(known, "127.0.0.1", 2202, a)
    ssh.pin_host_key(known, "127.0.0.1", 2201, b)
    lines = known.read_text().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("[127.0.0.1]:2202 ") and lines[1].startswith("[127.0.0.1]:2201 ")
    assert b.split()[1] in lines[1]
