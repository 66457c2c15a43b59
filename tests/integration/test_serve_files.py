"""What a real `clawtui serve` leaves on disk and in /metrics (issue 20, should-fix items).

- README: `serve` generates a token into `api-token` with mode 0600; the state dir it creates
  is 0700 and clawtui.db 0600 (the default umask would give 0755 / 0644).
- Without aiohttp's C extensions any token is an HTTP method: /metrics must not grow a label
  per method a client makes up (unknown methods are counted as `other`).
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _request(port: int, method: str, path: str, token: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_serve_keeps_its_files_private_and_its_method_labels_bounded(tmp_path: Path) -> None:
    port = _free_port()
    state = tmp_path / "home" / "state"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[engine]\nstate_dir = "{state}"\n[service]\nlisten = "127.0.0.1:{port}"\n'
        '[[hosts]]\nname = "local"\nurl = "unix:///nonexistent/clawtui-test.sock"\n'
    )
    env = {k: v for k, v in os.environ.items() if k != "CLAWTUI_API_TOKEN"}
    env["AIOHTTP_NO_EXTENSIONS"] = "1"  # the pure-Python HTTP parser takes any method token
    proc = subprocess.Popen(
        [sys.executable, "-m", "clawtui", "serve", "--config", str(config)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=lambda: os.umask(0o022),
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        for _ in range(50):
            line = proc.stdout.readline()
            if f"listening on http://127.0.0.1:{port}" in line or not line:
                break
        assert f"listening on http://127.0.0.1:{port}" in line, line
        token_file = state / "api-token"
        assert token_file.stat().st_mode & 0o777 == 0o600
        assert state.stat().st_mode & 0o777 == 0o700
        assert (state / "clawtui.db").stat().st_mode & 0o777 == 0o600
        token = token_file.read_text().strip()
        assert len(token) >= 32
        for number in range(5):
            status, _ = _request(port, f"BREW{number}", "/api/v1/hosts", token)
            assert status in (400, 405), status
        status, body = _request(port, "GET", "/metrics", token)
        assert status == 200
        lines = [x for x in body.decode().splitlines() if x.startswith("clawtui_http_requests")]
        assert not any("BREW" in x for x in lines), lines
        assert any('method="other"' in x for x in lines), lines
    finally:
        proc.terminate()
        proc.wait(15)
