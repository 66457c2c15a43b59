"""What every `clawtui` verb shares: exit codes, the errors a handler raises, printing.

A handler returns an exit code, or raises `UsageError` (bad input: exit 2, nothing was touched)
or `CommandError` (failed: exit 1, or the code it carries). `clawtui.cli.entry.main` turns a raised
one into its stderr line with `report`; a verb that handles errors itself (a per-verb prefix, a
caught engine exception) calls `report` too, so the text and the code come from one place.

Standard library only: `clawtui attach` imports this on its fast path.
"""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
"""0 ok; 1 refused or failed; 2 bad input: arguments, configuration, unknown names."""

PREFIX = "clawtui"


class CommandError(Exception):
    """The command failed; the message is the stderr line, `code` the exit status."""

    code: int = EXIT_FAIL

    def __init__(self, message: object, *, code: int | None = None, prefix: str | None = None):
        super().__init__(str(message))
        if code is not None:
            self.code = code
        self.prefix = prefix


class UsageError(CommandError):
    """A command-line value (or the configuration it names) is wrong; nothing was touched."""

    code = EXIT_USAGE


def error(message: object, prefix: str = PREFIX, *, indent_details: bool = False) -> None:
    """The CLI's error line on stderr: `PREFIX: message`. With `indent_details`, lines after
    the first (e.g. a failed container's last output) follow indented by two spaces."""
    text = str(message)
    if not indent_details:
        print(f"{prefix}: {text}", file=sys.stderr)
        return
    first, _, rest = text.partition("\n")
    print(f"{prefix}: {first}", file=sys.stderr)
    for line in rest.splitlines():
        print(f"  {line}", file=sys.stderr)


def report(
    problem: BaseException | str,
    prefix: str = PREFIX,
    *,
    code: int | None = None,
    indent_details: bool = False,
) -> int:
    """Print `problem` as the error line and return the exit code to end with: `code` when
    given, else a CommandError's own code, else EXIT_FAIL. A CommandError's prefix wins."""
    if isinstance(problem, CommandError):
        prefix = problem.prefix or prefix
        code = problem.code if code is None else code
    error(problem, prefix, indent_details=indent_details)
    return EXIT_FAIL if code is None else code


def print_json(data: Any, *, ensure_ascii: bool = True) -> None:
    """`data` as indented JSON on stdout."""
    print(json.dumps(data, indent=2, ensure_ascii=ensure_ascii))


def print_rows(
    rows: Sequence[Any],
    as_json: bool,
    empty: str,
    show: Callable[[Any], None],
    *,
    ensure_ascii: bool = True,
) -> None:
    """A listing: JSON with --json, else `empty` or one `show(row)` each."""
    if as_json:
        print_json(rows, ensure_ascii=ensure_ascii)
    elif not rows:
        print(empty)
    else:
        for row in rows:
            show(row)


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """Rows (the first is the header) as columns two spaces apart; the last one is not padded."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """`text` with control characters (and newlines, unless kept) replaced by spaces."""
    return "".join(ch if ch.isprintable() or (keep_newlines and ch == "\n") else " " for ch in text)


def resume_gc() -> None:
    """End `main`'s start-up pause of the garbage collector: what start-up made stays (frozen
    out of later collections), everything after is collected as usual."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()
