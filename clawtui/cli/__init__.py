"""The `clawtui` command line: one module per verb group, `_common` for what they share.

    entry.py     main and the parser          run.py      the TUI, serve, config check
    attach.py    attach, tmux, ssh trust      dev.py      dev boxes
    mem.py       memory limits                pool.py     warm pools and claims
    thread.py    agent threads                kb.py       the knowledge base
    escalate.py  escalations, incidents, brief             ingress.py  relay routes, webhook test
    mcp.py       the MCP server (stdio)                    token.py    scoped tokens, audit log

`main` (the console script `clawtui = "clawtui.cli:main"`) is imported on first use, so
`import clawtui.cli` stays light: `clawtui attach` starts without the configuration package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clawtui.cli.entry import main

__all__ = ["main"]


def __getattr__(name: str) -> Any:
    if name == "main":
        from clawtui.cli.entry import main

        return main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
