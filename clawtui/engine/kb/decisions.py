"""decisions.md: the knowledge base's append-only log of human decisions (seed 000, Phase 2).

Each human decision on an escalation adds one row to the table of decisions.md (date, who,
what was decided, why) and is committed, like daily reports in active-projects.md. Rows are
only ever appended; what is already in the file is kept byte for byte. Cell text has its pipes
escaped and its line breaks folded, so one decision is always one table row.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from clawtui.engine.kb.knowledge import MAX_KB_BYTES, KBError, commit
from clawtui.fsutil import atomic_write, read_bytes_capped

FILENAME: Final = "decisions.md"
HEADER: Final = "| Date | Decision | Rationale |\n|------|----------|-----------|\n"
_MAX_CELL: Final = 2000


def cell(text: str) -> str:
    """One table cell: single line, pipes escaped, capped."""
    flat = re.sub(r"\s*[\r\n]+\s*", " / ", text.strip())
    flat = flat.replace("\\", "\\\\").replace("|", "\\|")
    return flat[:_MAX_CELL] + (" ..." if len(flat) > _MAX_CELL else "")


def row(when: float, who: str, what: str, why: str) -> str:
    stamp = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"| {stamp} | {cell(who)}: {cell(what)} | {cell(why) or '(no reason given)'} |\n"


def append(text: str, line: str) -> str:
    """`text` with `line` added to its final table (a new table when it does not end in one)."""
    body = text.rstrip("\n")
    last = body.rsplit("\n", 1)[-1] if body else ""
    if last.lstrip().startswith("|"):
        return body + "\n" + line
    return (body + "\n\n" if body else "# Decisions\n\n") + HEADER + line


async def record_decision(kb: Path, *, when: float, who: str, what: str, why: str) -> bool:
    """Append one decision to decisions.md and commit; True when a commit was made."""
    path = kb / FILENAME
    if path.is_symlink():
        raise KBError(f"{path} is a symbolic link; the knowledge base only writes plain files")
    try:
        data, truncated = read_bytes_capped(path, limit=MAX_KB_BYTES)
    except FileNotFoundError:
        data, truncated = b"", False
    except OSError as exc:
        raise KBError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if truncated:
        raise KBError(f"{path} is larger than {MAX_KB_BYTES >> 20} MiB; not appending to it")
    text = data.decode("utf-8", "surrogateescape")
    new = append(text, row(when, who, what, why))
    try:
        atomic_write(path, new.encode("utf-8", "surrogateescape"))
    except OSError as exc:
        raise KBError(f"cannot write {path}: {exc.strerror or exc}") from exc
    first = what.strip().splitlines()[0][:72] if what.strip() else "decision"
    return await commit(kb, f"Decision: {first} (by {who[:40]})")
