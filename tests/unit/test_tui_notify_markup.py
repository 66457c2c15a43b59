"""Every notification the TUI shows is plain text: text from outside (an exception from a
remote service, a container or thread name) may hold `[/x]`, which Rich would read as markup
and raise MarkupError on (issue 20: `notify(str(exc))` in the threads and escalations panels).

Checked on the source: each `notify(...)` call in clawtui/tui passes `markup=False`, unless
its message is a plain literal without `[` (fixed text cannot carry markup).
"""

from __future__ import annotations

import ast
from pathlib import Path

TUI = Path(__file__).resolve().parents[2] / "clawtui" / "tui"


def _plain_literal(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and "[" not in node.value


def test_every_tui_notification_is_plain_text() -> None:
    offenders: list[str] = []
    calls = 0
    for path in sorted(TUI.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name != "notify":
                continue
            calls += 1
            markup = next((k.value for k in node.keywords if k.arg == "markup"), None)
            if isinstance(markup, ast.Constant) and markup.value is False:
                continue
            if node.args and _plain_literal(node.args[0]):
                continue
            offenders.append(f"{path.relative_to(TUI.parent.parent)}:{node.lineno}")
    assert calls > 20, calls  # the walk found the calls
    assert not offenders, "notify() without markup=False:\n" + "\n".join(offenders)
