"""Shared set-up of the ingress tests: settings with a webhook, three relay agents, the seed's
routes, and a service on an ephemeral port. No Docker needed: the one host points at a socket
that does not exist (it just stays offline)."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from clawtui.config import EngineConfig, HostConfig, Settings
from clawtui.config.ingress import RelayAgent, RelayConfig, RelayRoute, WebhookIngressConfig
from clawtui.engine.threads.queue import QUEUE_DIRS, TinyClawQueue

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "azure_devops"
WEBHOOK_SECRET = "wh-secret-0123456789abcdef"
WEBHOOK_SECRET_NEXT = "wh-rotated-secret-fedcba9876543210"
RYAN_THREAD, SAM_THREAD, CODY_THREAD = 1, 2, 3
AGENT_SECRETS = {
    "ryan": "ryan-relay-secret-0123456789",
    "sam": "sam-relay-secret-0123456789",
    "cody": "cody-relay-secret-0123456789",
}
SEED_ROUTES = [
    ("ryan", "cody", "Pipeline failure details, build agent fix details"),
    ("cody", "ryan", "Fix pushed, monitor next build"),
    ("sam", "cody", "Diagnostic reports + recommended fixes"),
    ("sam", "ryan", "Infrastructure coordination (if needed)"),
    ("ryan", "sam", "Infrastructure coordination (if needed)"),
]


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def write_secrets(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, secret in {
        **AGENT_SECRETS,
        "webhook": WEBHOOK_SECRET,
        "webhook-next": WEBHOOK_SECRET_NEXT,
    }.items():
        path = folder / f"{name}.secret"
        path.write_text(secret + "\n")
        path.chmod(0o600)
        paths[name] = path
    return paths


def ingress_settings(tmp: Path, **relay: Any) -> Settings:
    secrets = write_secrets(tmp / "secrets")
    settings = Settings(
        engine=EngineConfig(state_dir=tmp / "state", reconnect_max_backoff=5.0),
        hosts=[HostConfig(name="local", url="unix:///nonexistent/clawtui-test.sock")],
        webhook=WebhookIngressConfig(
            secret_files=[secrets["webhook"], secrets["webhook-next"]], thread_id=RYAN_THREAD
        ),
        relay=RelayConfig(
            agents=[
                RelayAgent(name="ryan", thread_id=RYAN_THREAD, secret_file=secrets["ryan"]),
                RelayAgent(name="sam", thread_id=SAM_THREAD, secret_file=secrets["sam"]),
                RelayAgent(name="cody", thread_id=CODY_THREAD, secret_file=secrets["cody"]),
            ],
            routes=[RelayRoute(sender=a, to=b, note=n) for a, b, n in SEED_ROUTES],
            **relay,
        ),
    )
    settings._state_file = tmp / "state" / "settings.toml"
    return settings


def queue_files(queue: TinyClawQueue) -> list[Path]:
    return [p for name in QUEUE_DIRS for p in queue.files(name)]


def messages(queue: TinyClawQueue, thread_id: int | None = None) -> list[dict[str, Any]]:
    out = []
    for path in queue_files(queue):
        data = json.loads(path.read_text())
        if thread_id is None or data["threadId"] == thread_id:
            out.append(data)
    return out


async def wait_for_files(queue: TinyClawQueue, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while len(queue_files(queue)) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {count} queue file(s), found {len(queue_files(queue))}")
        await asyncio.sleep(0.02)


def with_ids(payload: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of a payload with envelope / resource fields changed (`resource__id=...`)."""
    out = copy.deepcopy(payload)
    for key, value in changes.items():
        if key.startswith("resource__"):
            out["resource"][key.removeprefix("resource__")] = value
        else:
            out[key] = value
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serve(tmp: Path, port: int, token: str) -> subprocess.Popen[str]:
    """`clawtui serve --config <tmp>/config.toml` as a subprocess, once it listens on `port`."""
    env = {
        **os.environ,
        "CLAWTUI_API_TOKEN": token,
        "XDG_STATE_HOME": str(tmp / "xdg"),
        "CLAWTUI_LOG": "WARNING",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "clawtui", "serve", "--config", str(tmp / "config.toml")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert f"listening on http://127.0.0.1:{port}" in line, line
    return proc


def failed_build_payload(i: int) -> dict[str, Any]:
    """The i-th of distinct failed builds, each of its own pipeline (no failure streak)."""
    return with_ids(
        fixture("build_complete_failed.json"),
        notificationId=1000 + i,
        id=f"7c4f3a2e-0000-4000-8000-{i:012d}",
        resource__id=80_000 + i,
        resource__buildNumber=f"20260304.{i}",
        resource__definition={"id": 9000 + i, "name": f"pipeline {i}"},
    )
