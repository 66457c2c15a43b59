"""The setup scripts on a machine that lacks packages (issue 12).

`scripts/lib.sh` is sourced by a small driver under `bash`, with stand-ins on `PATH` that answer
like the real tools: `dpkg-query` knows only the packages we say are installed and, for any other
name, prints "no packages found matching NAME" on stderr and exits 1 (as dpkg-query 1.21 does);
`apt-get` and `sudo` record their arguments. Nothing here needs root or the network.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LIB = REPO / "scripts" / "lib.sh"

DPKG_QUERY = """#!/usr/bin/env bash
# Stand-in for dpkg-query -W -f='${Package} ${Status}\\n' NAMES...: exit 1 on an unknown name.
rc=0
for name in "$@"; do
    case "$name" in -*) continue ;; esac
    if grep -qx "$name" "$FAKE_INSTALLED"; then
        printf '%s install ok installed\\n' "$name"
    else
        printf 'dpkg-query: no packages found matching %s\\n' "$name" >&2
        rc=1
    fi
done
exit $rc
"""

RECORDER = """#!/usr/bin/env bash
printf '%s\\n' "$*" >>"$FAKE_LOG/{name}.log"
{extra}
"""


def _fake_bin(tmp_path: Path, installed: list[str]) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    log_dir = tmp_path / "log"
    bin_dir.mkdir()
    log_dir.mkdir()
    (tmp_path / "installed").write_text("".join(f"{p}\n" for p in installed))
    scripts = {
        "dpkg-query": DPKG_QUERY,
        "apt-get": RECORDER.format(name="apt-get", extra="exit 0"),
        # as_root goes through sudo when the test does not run as root.
        "sudo": RECORDER.format(name="sudo", extra='[[ "$1" == -n ]] && shift; exec "$@"'),
    }
    for name, text in scripts.items():
        path = bin_dir / name
        path.write_text(text)
        path.chmod(0o755)
    return {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FAKE_INSTALLED": str(tmp_path / "installed"),
        "FAKE_LOG": str(log_dir),
        "CLAWTUI_POLICY_RC_D": str(tmp_path / "policy-rc.d"),
    }


def _run(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    driver = f'set -euo pipefail\nsource "{LIB}"\n{script}\n'
    return subprocess.run(
        ["bash", "-c", driver, "setup"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _apt_calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "log" / "apt-get.log"
    return log.read_text().splitlines() if log.exists() else []


def test_unknown_package_is_installed_and_the_script_goes_on(tmp_path: Path) -> None:
    env = _fake_bin(tmp_path, installed=["git", "curl"])
    result = _run('apt_ensure git docker.io curl rclone\necho "NEXT STEP"', env)
    assert result.returncode == 0, result.stderr
    assert "NEXT STEP" in result.stdout
    assert "missing apt packages: docker.io rclone" in result.stdout
    calls = _apt_calls(tmp_path)
    assert any(c.endswith(" update") for c in calls), calls
    install = [c for c in calls if " install " in f" {c} "]
    assert len(install) == 1, calls
    # Exactly the missing ones, nothing that was already there.
    assert install[0].split()[-2:] == ["docker.io", "rclone"]
    # The temporary policy-rc.d is gone again.
    assert not (tmp_path / "policy-rc.d").exists()


def test_all_installed_says_so_and_installs_nothing(tmp_path: Path) -> None:
    env = _fake_bin(tmp_path, installed=["git", "curl"])
    result = _run('apt_ensure git curl\necho "NEXT STEP"', env)
    assert result.returncode == 0, result.stderr
    assert "apt packages already installed: git curl" in result.stdout
    assert "NEXT STEP" in result.stdout
    assert _apt_calls(tmp_path) == []


def test_failed_install_names_what_failed_and_the_fix(tmp_path: Path) -> None:
    env = _fake_bin(tmp_path, installed=[])
    (tmp_path / "bin" / "apt-get").write_text(
        RECORDER.format(name="apt-get", extra='[[ " $* " == *" install "* ]] && exit 100; exit 0')
    )
    result = _run('apt_ensure docker.io\necho "NEXT STEP"', env)
    assert result.returncode == 1
    assert "NEXT STEP" not in result.stdout
    assert "apt-get install docker.io failed (exit 100)" in result.stderr
    assert "fix:" in result.stderr


@pytest.mark.parametrize(
    ("script", "expect"),
    [
        # A plain failing command under set -e.
        ("false", "exit 1 at "),
        # The pattern of issue 12: a failing first command inside $( ... | ... ) assigned to a
        # variable kills the script under pipefail; it must say so.
        ("x=$(ls /nonexistent-clawtui 2>/dev/null | wc -l)", "x=$(ls /nonexistent-clawtui"),
    ],
)
def test_unexpected_failure_is_never_silent(tmp_path: Path, script: str, expect: str) -> None:
    env = _fake_bin(tmp_path, installed=[])
    result = _run(f'{script}\necho "NEXT STEP"', env)
    assert result.returncode != 0
    assert "NEXT STEP" not in result.stdout
    assert "ERROR [setup]: command failed" in result.stderr
    assert expect in result.stderr
    assert "fix:" in result.stderr


def test_handled_failures_stay_quiet(tmp_path: Path) -> None:
    env = _fake_bin(tmp_path, installed=[])
    script = 'if false; then :; fi\nfalse || true\nset +e\nfalse\nset -e\necho "NEXT STEP"'
    result = _run(script, env)
    assert result.returncode == 0
    assert "NEXT STEP" in result.stdout
    assert result.stderr == ""
