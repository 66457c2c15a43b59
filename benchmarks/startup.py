"""Benchmark: time from process start to the first frame and to the first host data, clawtui vs
a bare Textual app.

    PYTHONPATH=. .venv/bin/python benchmarks/startup.py [--quick] [--runs N]

A private tmux server on this machine whose one pane (150x40, TERM=xterm-256color) is the
"terminal"; a bash prompt in it. Each run types a command into that pane and measures, from the
Enter key (bash forks the process a millisecond later), the time until (capture-pane polled every
5 ms):

  first frame   the app's header (its title on the top line) and its footer (the "Quit" key on
                the last line) are on the screen;
  host data     (clawtui only) the Fleet panel's host header shows the local Docker host online
                with its containers ("local  online  N/M running"): the Docker host answered.

Then it presses q and waits for the prompt. The apps alternate run by run:

  clawtui   python -m clawtui --config CONFIG, where CONFIG is a temporary config.toml with only
            the local Docker host (unix:///var/run/docker.sock) and a temporary state folder
            (XDG_STATE_HOME / XDG_CONFIG_HOME / XDG_CACHE_HOME point into the temporary folder
            too, so nothing of the user's is read or written). Python's bytecode cache is on
            (PYTHONPYCACHEPREFIX in the temporary folder, filled by the warm-up round), as for
            an installed clawtui;
  clawtui_no_pyc   the same with PYTHONDONTWRITEBYTECODE=1 and no cache: every clawtui module is
            compiled at each start (how this development machine's environment runs it; the
            installed libraries keep their bytecode). Reported, no target;
  bare      python BARE.py: a Textual app with a Header, one Static line and a Footer;
  clawtui_baseline   with --baseline-repo PATH: clawtui from another checkout (e.g. the commit
            before a change), run like `clawtui` in the same rounds: `first_frame_vs_baseline`
            and `host_data_vs_baseline` compare the two on equal terms on a busy machine.

Also reported, steadier than wall times on a busy machine: the CPU time of the process up to the
first frame (`time.process_time`, headless Textual at 150x40, no terminal output; median of 5
runs) of clawtui and of the bare app, `cpu_first_frame_ms` and `cpu_first_frame_vs_bare`
(informative, no target), also for `clawtui_baseline` with --baseline-repo.

Also reported: the import cost of `clawtui.engine.core` (and of `clawtui.tui.app`) from
`python -X importtime` (cumulative microseconds of the top-level module, median of 5 runs: a
steadier figure than wall times on a shared machine), and the Python start-up time.

Figures: p50 of each; `first_frame_vs_bare` = clawtui first frame p50 / bare first frame p50.
Targets: first_frame_vs_bare <= 2.0 and host data p50 <= 600 ms. `--quick` = 10 runs each (one
warm-up round not counted). Last line of output: one JSON object. The tmux server and the
temporary folder are removed at the end, even on error.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._common import REPO, emit_result, handle_termination, progress, summarize_ms
from benchmarks.tmux_pane import Pane

WIDTH, HEIGHT = 150, 40
PROMPT = "bench$ "
PROMPT_SHOWN = "bench$"  # capture-pane drops trailing spaces
HOST_DATA = re.compile(r"\blocal\s+online\s+\d+/\d+ running")
TARGET_RATIO = 2.0
TARGET_HOST_DATA_MS = 600.0

BARE_APP = """
from textual.app import App, ComposeResult
from textual.widgets import Footer, Header, Static

class Bare(App[None]):
    TITLE = "bare"
    BINDINGS = [("q", "quit", "Quit")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("a bare Textual app: header, one line, footer")
        yield Footer()

Bare().run()
"""


# Runs an app headless up to its first frame (ready, and the footer shows its keys) and prints
# the process's CPU time by then (ms). argv: "bare" or "clawtui" [clawtui's arguments].
CPU_TO_FIRST_FRAME = """
import sys, time
import textual.app as ta
ready = ta.App._ready

async def _ready(self):
    await ready(self)
    def frame():
        footers = self.screen.query("Footer")  # the frame counts once the footer has its keys
        if footers and not footers.first().children:
            self.set_timer(0.005, frame)
            return
        print("CPU_MS", time.process_time() * 1000, flush=True)
        self.exit()
    self.call_after_refresh(frame)

ta.App._ready = _ready
run = ta.App.run
ta.App.run = lambda self, **kw: run(self, headless=True, size=(150, 40))
if sys.argv[1] == "bare":
    exec(compile(open(sys.argv[2]).read(), sys.argv[2], "exec"))
else:
    from clawtui.cli.entry import main
    main(sys.argv[2:])
"""


def cpu_to_first_frame_ms(args: list[str], env: dict[str, str], cwd: str, n: int = 5) -> float:
    """Median CPU time (ms) of the process up to its first frame, headless."""
    values = []
    for _ in range(n):
        out = subprocess.run(
            [sys.executable, "-c", CPU_TO_FIRST_FRAME, *args],
            env=env, capture_output=True, text=True, check=True, cwd=cwd, timeout=120,
        )  # fmt: skip
        for line in out.stdout.splitlines():
            if line.startswith("CPU_MS "):
                values.append(float(line.split()[1]))
    values.sort()
    return round(values[len(values) // 2], 1) if values else float("nan")


def lines_of(screen: str) -> list[str]:
    return [line for line in screen.splitlines() if line.strip()]


def at_prompt(screen: str) -> bool:
    lines = lines_of(screen)
    return bool(lines) and lines[-1] == PROMPT_SHOWN


def first_frame(title: str) -> Callable[[str], bool]:
    def shown(screen: str) -> bool:
        lines = screen.splitlines()
        body = lines_of(screen)
        return bool(lines) and title in lines[0] and bool(body) and "Quit" in body[-1]

    return shown


def host_data(screen: str) -> bool:
    return HOST_DATA.search(screen) is not None


def import_cost_us(module: str, env: dict[str, str], n: int = 5, cwd: str = REPO) -> float:
    """Median cumulative import time of `module` (microseconds) from `python -X importtime`."""
    values = []
    for _ in range(n):
        out = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"],
            env=env, capture_output=True, text=True, check=True, cwd=cwd,
        )  # fmt: skip
        for line in out.stderr.splitlines():
            parts = [p.strip() for p in line.split("|")]
            if len(parts) == 3 and parts[2] == module:
                values.append(float(parts[1]))
    values.sort()
    return values[len(values) // 2] if values else float("nan")


def wall_ms(code: str, env: dict[str, str], n: int = 5) -> float:
    times = []
    for _ in range(n):
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-c", code], env=env, check=True)
        times.append((time.monotonic() - t0) * 1000)
    return sorted(times)[len(times) // 2]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 runs of each app")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument(
        "--config", type=Path, default=None,
        help="a config.toml to use instead of the temporary one (its state folder is used!)",
    )  # fmt: skip
    parser.add_argument(
        "--baseline-repo", type=Path, default=None,
        help="also run clawtui from this checkout in the same rounds (clawtui_baseline)",
    )  # fmt: skip
    parser.add_argument(
        "--no-pyc-variant", action="store_true",
        help="skip the clawtui_no_pyc runs (no bytecode cache)",
    )  # fmt: skip
    args = parser.parse_args()
    runs = 10 if args.quick else args.runs
    handle_termination()

    root = Path(tempfile.mkdtemp(prefix="clawtui-bench-startup-"))
    socket = f"clawtui-bench-{uuid.uuid4().hex[:8]}"
    config = args.config
    if config is None:
        config = root / "config.toml"
        config.write_text(
            f"[engine]\nstate_dir = {str(root / 'state')!r}\n\n"
            '[[hosts]]\nname = "local"\nurl = "unix:///var/run/docker.sock"\n'
        )
    env = {
        **os.environ,
        "PYTHONPATH": REPO,
        "TERM": "xterm-256color",
        "XDG_STATE_HOME": str(root / "xdg-state"),
        "XDG_CONFIG_HOME": str(root / "xdg-config"),
        "XDG_CACHE_HOME": str(root / "xdg-cache"),
    }
    for name in ("TMUX", "CLAWTUI_CONFIG", "TEXTUAL", "TEXTUAL_DEVTOOLS_PORT"):
        env.pop(name, None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
    no_pyc = "env -u PYTHONPYCACHEPREFIX PYTHONDONTWRITEBYTECODE=1 "
    bare_file = root / "bare.py"
    bare_file.write_text(BARE_APP)
    clawtui = shlex.join([sys.executable, "-m", "clawtui", "--config", str(config)])
    commands = {"clawtui": clawtui, "bare": shlex.join([sys.executable, str(bare_file)])}
    if not args.no_pyc_variant:
        commands["clawtui_no_pyc"] = no_pyc + clawtui
    if args.baseline_repo is not None:
        baseline = str(args.baseline_repo.resolve())
        # Run from the baseline's folder: `python -m` puts the working folder first on sys.path.
        commands["clawtui_baseline"] = (
            f"(cd {shlex.quote(baseline)} && exec env PYTHONPATH={shlex.quote(baseline)} "
            + shlex.join([sys.executable, "-m", "clawtui", "--config", str(config)])
            + ")"
        )
    titles = {app: "bare" if app == "bare" else "clawtui" for app in commands}
    result: dict[str, Any] = {"benchmark": "startup", "terminal": f"tmux {WIDTH}x{HEIGHT}"}
    socket_path = ""
    try:
        progress("import costs")
        nopyc_env = {**env, "PYTHONDONTWRITEBYTECODE": "1"}
        nopyc_env.pop("PYTHONPYCACHEPREFIX")
        for module, key in [("clawtui.engine.core", "engine_core"), ("clawtui.tui.app", "tui_app"),
                            ("textual.app", "textual_app")]:  # fmt: skip
            result[f"import_{key}_ms"] = round(import_cost_us(module, env) / 1000, 1)
            if key != "textual_app":
                result[f"import_{key}_no_pyc_ms"] = round(
                    import_cost_us(module, nopyc_env) / 1000, 1
                )
        if args.baseline_repo is not None:
            base_env = {**env, "PYTHONPATH": baseline}
            result["import_engine_core_baseline_ms"] = round(
                import_cost_us("clawtui.engine.core", base_env, cwd=baseline) / 1000, 1
            )
            result["import_tui_app_baseline_ms"] = round(
                import_cost_us("clawtui.tui.app", base_env, cwd=baseline) / 1000, 1
            )
        result["python_startup_ms"] = round(wall_ms("pass", env), 1)
        progress("CPU time to the first frame (headless)")
        cpu = {
            "bare": cpu_to_first_frame_ms(["bare", str(bare_file)], env, REPO),
            "clawtui": cpu_to_first_frame_ms(["clawtui", "--config", str(config)], env, REPO),
        }
        if args.baseline_repo is not None:
            cpu["clawtui_baseline"] = cpu_to_first_frame_ms(
                ["clawtui", "--config", str(config)], base_env, baseline
            )
        for app, ms in cpu.items():
            result[f"{app}_cpu_first_frame_ms"] = ms
            if app != "bare":
                suffix = app.removeprefix("clawtui")
                result["cpu_first_frame_vs_bare" + suffix] = round(ms / cpu["bare"], 2)

        subprocess.run(
            ["tmux", "-L", socket, "-f", "/dev/null", "new-session", "-d", "-s", "b",
             "-x", str(WIDTH), "-y", str(HEIGHT), "bash --norc --noprofile"],
            check=True, env=env, cwd=REPO,
        )  # fmt: skip
        pane = Pane(socket, timeout=30.0)
        socket_path = pane.tmux("display-message", "-p", "#{socket_path}").strip()
        pane.type(f"PS1={shlex.quote(PROMPT)}; clear")
        pane.wait(lambda s: PROMPT_SHOWN in s, what="the prompt")
        frames: dict[str, list[float]] = {k: [] for k in commands}
        data: dict[str, list[float]] = {k: [] for k in commands if k != "bare"}
        warmup = 1
        total = runs + warmup
        started_all = time.monotonic()
        for i in range(total):
            for app, command in commands.items():
                pane.type("clear")
                pane.wait(at_prompt, what="a clear screen")
                t0 = pane.type(command)
                t1 = pane.wait(first_frame(titles[app]), what=f"{app}'s first frame")
                t2 = None
                if app in data:
                    t2 = pane.wait(host_data, what=f"{app}'s host data")
                if i >= warmup:
                    frames[app].append(t1 - t0)
                    if t2 is not None:
                        data[app].append(t2 - t0)
                pane.tmux("send-keys", "-t", "b:0", "q")
                pane.wait(at_prompt, what=f"the prompt after {app} quit")
            progress(
                f"{i + 1}/{total} rounds"
                + (f" (last clawtui: frame {frames['clawtui'][-1] * 1000:.0f} ms, "
                   f"host data {data['clawtui'][-1] * 1000:.0f} ms; "
                   f"bare {frames['bare'][-1] * 1000:.0f} ms)"
                   if i >= warmup else " (warm-up)")
            )  # fmt: skip
        result["runs"] = runs
        result["rounds_seconds"] = round(time.monotonic() - started_all, 1)
        for app in commands:
            result[f"{app}_first_frame"] = summarize_ms(frames[app])
            if app in data:
                result[f"{app}_host_data"] = summarize_ms(data[app])
        bare = result["bare_first_frame"]["p50_ms"]
        host = result["clawtui_host_data"]["p50_ms"]
        for app in data:
            frame = result[f"{app}_first_frame"]["p50_ms"]
            ratio = round(frame / bare, 2) if bare else None
            result["first_frame_vs_bare" + app.removeprefix("clawtui")] = ratio
        if "clawtui_baseline" in data:
            for what in ("first_frame", "host_data"):
                ours = result[f"clawtui_{what}"]["p50_ms"]
                theirs = result[f"clawtui_baseline_{what}"]["p50_ms"]
                result[f"{what}_vs_baseline"] = round(ours / theirs, 2) if theirs else None
        result["targets"] = {
            "first_frame_vs_bare": TARGET_RATIO, "host_data_p50_ms": TARGET_HOST_DATA_MS,
        }  # fmt: skip
        result["meets_targets"] = bool(
            result["first_frame_vs_bare"] is not None
            and result["first_frame_vs_bare"] <= TARGET_RATIO
            and host is not None and host <= TARGET_HOST_DATA_MS
        )  # fmt: skip
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], check=False, capture_output=True)
        if socket_path:
            Path(socket_path).unlink(missing_ok=True)
        shutil.rmtree(root, ignore_errors=True)
    emit_result(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
