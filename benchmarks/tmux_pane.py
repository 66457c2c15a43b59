"""A tmux pane on a private server (`tmux -L SOCKET`, window `b:0`) that a benchmark types into
and reads back: the real-terminal driver of benchmarks/attach.py and benchmarks/startup.py."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

POLL_SECONDS = 0.005


class Pane:
    def __init__(self, socket: str, *, timeout: float = 20.0) -> None:
        self.socket = socket
        self.timeout = timeout

    def tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True
        ).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "b:0")

    def type(self, line: str) -> float:
        """Type `line` and Enter; the time Enter was sent."""
        self.tmux("send-keys", "-t", "b:0", "-l", line)
        started = time.monotonic()
        self.tmux("send-keys", "-t", "b:0", "Enter")
        return started

    def wait(self, pred: Callable[[str], bool], what: str = "") -> float:
        """Poll the screen until `pred` holds; the time it first did."""
        deadline = time.monotonic() + self.timeout
        while True:
            screen = self.screen()
            if pred(screen):
                return time.monotonic()
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}; screen:\n{screen}")
            time.sleep(POLL_SECONDS)
