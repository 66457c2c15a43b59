"""Benchmark: time from command start to the remote tmux screen, `clawtui attach` vs OpenSSH.

    PYTHONPATH=. .venv/bin/python benchmarks/attach.py [--quick] [--runs N]

Creates one dev box through the engine (`clawtui/dev-container:1`, a fresh ed25519 test key,
label `clawtui.bench=attach`; its host key pinned by the engine, the same known_hosts used for
both clients), and a private tmux server on this machine whose one pane (120x35) is the
"terminal". Each run types a command into that pane and measures, from the Enter key, the time
until the remote tmux status line (" dev | ", the image's status-left) is on the pane's screen
(capture-pane polled every 5 ms); then detaches (prefix d) and waits for the local prompt.
The two clients alternate run by run, in the same session `bench`:

  clawtui   python -m clawtui attach NAME --session bench     (its imports count; the attach
            profile cache is warm, as for every attach after the first with a given config)
  clawtui_first   the same after deleting the attach profile cache (the first attach after a
            config change: the whole configuration is loaded and validated; reported, no target)
  openssh   ssh -t -p PORT -i KEY -o UserKnownHostsFile=... dev@127.0.0.1 \
                tmux new-session -A -s bench

Also reported: the import time of the CLI (`python -c "import clawtui.cli"`) and of the
attach path's modules. Targets: clawtui p50 <= 500 ms and <= 1.5 x OpenSSH's p50. Last line of
output: one JSON object. The dev box and its home volume are removed at the end, even on error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._common import REPO, emit_result, handle_termination, progress, summarize_ms
from benchmarks.tmux_pane import Pane

STATUS = " dev | "
PROMPT = "bench$ "
PROMPT_SHOWN = "bench$"  # capture-pane drops trailing spaces


def at_prompt(screen: str) -> bool:
    lines = [line for line in screen.splitlines() if line.strip()]
    return bool(lines) and lines[-1] == PROMPT_SHOWN and STATUS not in screen


def back_home(screen: str) -> bool:
    """The client has exited: the local prompt is the last line (ignoring a stale status line
    the remote tmux may leave on the main screen, which the next `clear` wipes)."""
    lines = [line for line in screen.splitlines() if line.strip() and STATUS not in line]
    return bool(lines) and lines[-1] == PROMPT_SHOWN


def import_time(code: str, env: dict[str, str], n: int = 5) -> float:
    times = []
    for _ in range(n):
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-c", code], env=env, check=True)
        times.append((time.monotonic() - t0) * 1000)
    return sorted(times)[len(times) // 2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the 90-second run (20 runs each)")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    handle_termination()

    import asyncssh
    import docker

    from clawtui.config import AttachConfig, DevboxesConfig, EngineConfig, HostConfig, Settings
    from clawtui.engine.api.devbox_checks import container_name, volume_name
    from clawtui.engine.core import Engine

    root = Path(tempfile.mkdtemp(prefix="clawtui-bench-attach-"))
    key = asyncssh.generate_private_key("ssh-ed25519", comment="clawtui-bench")
    key_file = root / "id_ed25519"
    key_file.write_bytes(key.export_private_key())
    key_file.chmod(0o600)
    state = root / "state"
    settings = Settings(
        engine=EngineConfig(state_dir=state),
        hosts=[HostConfig(name="local", cgroup_root=None)],
        devboxes=DevboxesConfig(memory=512 * 1024 * 1024, cpus=1.0, ready_timeout=60.0),
        attach=AttachConfig(identity_file=key_file, use_agent=False),
    )
    config = root / "config.toml"
    config.write_text(
        f"[engine]\nstate_dir = {str(state)!r}\n[attach]\nidentity_file = {str(key_file)!r}\n"
        "use_agent = false\n[devboxes]\nmemory = '512m'\n"
    )
    name = f"bench-{uuid.uuid4().hex[:6]}"
    api = docker.APIClient(base_url="unix:///var/run/docker.sock")
    socket = f"clawtui-bench-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "PYTHONPATH": REPO,
        "CLAWTUI_CONFIG": str(config),
        "TERM": "xterm-256color",
        "XDG_CACHE_HOME": str(root / "cache"),
    }
    env.pop("SSH_AUTH_SOCK", None)
    env.pop("TMUX", None)
    result: dict[str, Any] = {"benchmark": "attach"}
    try:

        async def create() -> int:
            engine = Engine(settings)
            await engine.start()
            try:
                await engine.wait_online(15)
                box = await engine.devboxes.create(
                    name, key.export_public_key().decode(), labels={"clawtui.bench": "attach"},
                    progress=lambda line: None,
                )  # fmt: skip
                return int(box.port or 0)
            finally:
                await engine.stop()

        progress(f"creating dev box {name}")
        port = asyncio.run(create())
        known = state / "known_hosts"
        progress(f"dev box on port {port}; host key pinned in {known}")

        progress("import times")
        result["import_clawtui_cli_ms"] = round(import_time("import clawtui.cli", env), 1)
        attach_path = "import clawtui.cli, clawtui.cli.attach, clawtui.terminal.attach, asyncssh"
        result["import_attach_path_ms"] = round(import_time(attach_path, env), 1)
        result["python_startup_ms"] = round(import_time("pass", env), 1)

        subprocess.run(
            ["tmux", "-L", socket, "-f", "/dev/null", "new-session", "-d", "-s", "b",
             "-x", "120", "-y", "35", "bash --norc --noprofile"],
            check=True, env=env,
        )  # fmt: skip
        pane = Pane(socket)
        pane.type(f"PS1={shlex.quote(PROMPT)}; clear")
        pane.wait(lambda s: PROMPT_SHOWN in s, what="local prompt")
        clawtui = shlex.join([sys.executable, "-m", "clawtui", "attach", name, "-s", "bench"])
        cache = shlex.quote(str(root / "cache" / "clawtui" / "attach-profile.json"))
        commands = {
            "clawtui": clawtui,
            "clawtui_first": f"rm -f {cache}; {clawtui}",
            "openssh": shlex.join(
                [
                    "ssh",
                    "-t",
                    "-p",
                    str(port),
                    "-i",
                    str(key_file),
                    "-F",
                    "/dev/null",
                    "-o",
                    f"UserKnownHostsFile={known}",
                    "-o",
                    "StrictHostKeyChecking=yes",
                    "-o",
                    "IdentitiesOnly=yes",
                    "-o",
                    "BatchMode=yes",
                    "dev@127.0.0.1",
                    "tmux new-session -A -s bench",
                ]
            ),
        }
        times: dict[str, list[float]] = {k: [] for k in commands}
        warmup = 2
        total = args.runs + warmup
        started_all = time.monotonic()
        for i in range(total):
            for client, command in commands.items():
                pane.type("clear")
                pane.wait(at_prompt, what="a clear screen")
                t0 = pane.type(command)
                t1 = pane.wait(lambda s: STATUS in s, what=f"{client} tmux status line")
                if i >= warmup:
                    times[client].append(t1 - t0)
                pane.tmux("send-keys", "-t", "b:0", "C-b", "d")
                pane.wait(back_home, what="the local prompt after detach")
            if i % 5 == 4:
                progress(f"{i + 1}/{total} rounds")
        result["runs"] = args.runs
        result["rounds_seconds"] = round(time.monotonic() - started_all, 1)
        for client, values in times.items():
            result[client] = summarize_ms(values)
        p50_c = result["clawtui"]["p50_ms"]
        p50_o = result["openssh"]["p50_ms"]
        result["ratio_vs_openssh"] = round(p50_c / p50_o, 2) if p50_o else None
        result["targets"] = {"p50_ms": 500, "ratio_vs_openssh": 1.5}
        result["meets_targets"] = bool(
            p50_c <= 500 and result["ratio_vs_openssh"] is not None
            and result["ratio_vs_openssh"] <= 1.5
        )  # fmt: skip
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], check=False, capture_output=True)
        with contextlib.suppress(Exception):
            api.remove_container(container_name(name), force=True, v=True)
        with contextlib.suppress(Exception):
            api.remove_volume(volume_name(name))
        api.close()
    emit_result(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
