"""The shipped systemd units (scripts/systemd/) pass `systemd-analyze verify` with no warning at
all (it reports unknown keys and bad values on stderr but exits 0, so stderr must be empty),
and `systemd-analyze security --offline` rates clawtui.service's exposure low.

systemd-analyze is Debian's `systemd` package (installed on this machine; it needs no running
systemd for `verify` and `security --offline`). ExecStart must name an executable: the copy
checked here points at this checkout's venv instead of /opt/clawtui.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "scripts" / "systemd"
SERVICE = "clawtui.service"
PROXY = "clawtui-docker-proxy.service"


def _analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.fail("systemd-analyze is missing: apt-get install systemd")
    return tool


def _copies(folder: Path, edit: dict[str, str] | None = None) -> list[Path]:
    clawtui = Path(sys.executable).with_name("clawtui")
    assert clawtui.is_file(), f"{clawtui}: pip install -e . first"
    out = []
    for name in (SERVICE, PROXY):
        text = (UNITS / name).read_text().replace("/opt/clawtui/.venv/bin/clawtui", str(clawtui))
        for old, new in (edit or {}).items():
            text = text.replace(old, new)
        path = folder / name
        path.write_text(text)
        out.append(path)
    return out


def _verify(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_analyze(), "verify", *map(str, paths)], capture_output=True, text=True, timeout=60
    )


def test_units_verify_without_a_warning(tmp_path: Path) -> None:
    if shutil.which("haproxy") is None:
        pytest.fail("haproxy is missing (ExecStart of the proxy unit): apt-get install haproxy")
    done = _verify(_copies(tmp_path))
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr


def test_verify_catches_a_mistyped_key(tmp_path: Path) -> None:
    """The check above can fail: a typo in a hardening key is reported."""
    done = _verify(_copies(tmp_path, {"ProtectSystem=strict": "ProtectSytem=strict"}))
    assert "Unknown key" in done.stderr and "ProtectSytem" in done.stderr


def test_hardening_in_place(tmp_path: Path) -> None:
    service = (UNITS / SERVICE).read_text()
    for line in (
        "User=clawtui",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "StateDirectory=clawtui",
        "ReadWritePaths=/var/lib/clawtui",
        "CapabilityBoundingSet=",
    ):
        assert re.search(rf"^{re.escape(line)}$", service, re.M), line
    assert not re.search(r"^SupplementaryGroups=.*docker", service, re.M)
    proxy = (UNITS / PROXY).read_text()
    assert re.search(r"^SupplementaryGroups=docker clawtui$", proxy, re.M)
    [path, _] = _copies(tmp_path)
    done = subprocess.run(
        [_analyze(), "security", "--offline=yes", "--no-pager", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = re.search(r"Overall exposure level for \S+: ([0-9.]+)", done.stdout + done.stderr)
    assert found, done.stdout[-500:] + done.stderr
    assert float(found.group(1)) <= 2.0, done.stdout
