"""The master thread's knowledge base as front ends see it: its file names and its error.

Reading and writing the files is the engine's (`ThreadsAPI.kb_file` / `kb_log`); what is here
is pure: which names exist and how a refused name is said.
"""

from __future__ import annotations

from typing import Final

KB_FILES: Final = ("context.md", "decisions.md", "active-projects.md")


class KBError(Exception):
    """The knowledge base could not be read or changed; the message says why and what to do."""


def check_name(name: str) -> str:
    if name not in KB_FILES:
        raise KBError(
            f"{name!r} is not a knowledge base file: ask for one of {', '.join(KB_FILES)}"
        )
    return name
