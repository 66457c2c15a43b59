"""The engine (and config, service) never import textual or rich: checked in a fresh interpreter
per module, as harlequin does, on top of the import-linter contract in pyproject.toml."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import clawtui.engine

ROOT = Path(__file__).resolve().parents[2]
ENGINE_MODULES = sorted(
    m.name for m in pkgutil.walk_packages(clawtui.engine.__path__, prefix="clawtui.engine.")
)
MODULES = ["clawtui.engine", *ENGINE_MODULES, "clawtui.config", "clawtui.service", "clawtui.client"]


@pytest.mark.parametrize("module", MODULES)
def test_module_does_not_import_ui_libraries(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == "", f"{module} pulled in {out.stdout.strip()}"


def test_import_linter_contract() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
