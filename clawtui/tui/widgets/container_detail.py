"""The few lines under a container table about its highlighted row.

The table shows what changes (state, CPU, memory); this pane shows what identifies a container
and what it is allowed: full id, image, Docker's status line, limits and labels. Everything in
it comes from Docker, so it is built from rich `Text` only, never markup.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from clawtui.engine.api.models import ContainerInfo
from clawtui.tui.format import DASH, format_mib

_MAX_LABELS_CHARS = 600


def limits_text(info: ContainerInfo) -> str:
    """Memory, swap and CPU limits in words."""
    memory = f"{format_mib(info.memory_limit)} MiB" if info.memory_limit > 0 else "unlimited"
    if info.memory_swap < 0:
        swap = "unlimited"
    elif info.memory_swap > 0:
        swap = f"{format_mib(info.memory_swap)} MiB"
    else:
        swap = DASH
    cpus = f"{info.nano_cpus / 1e9:.2f}" if info.nano_cpus else "unlimited"
    return f"memory {memory} · memory+swap {swap} · cpus {cpus}"


def labels_text(info: ContainerInfo) -> str:
    """`key=value` pairs, sorted, cut to a sane length."""
    if not info.labels:
        return "(none)"
    text = "  ".join(f"{k}={v}" for k, v in sorted(info.labels.items()))
    if len(text) > _MAX_LABELS_CHARS:
        text = text[: _MAX_LABELS_CHARS - 1] + "…"
    return text


class ContainerDetail(Static):
    """Id, image, status, limits and labels of one container."""

    def show(self, info: ContainerInfo | None) -> None:
        if info is None:
            self.update(Text("No container selected.", style="dim"))
            return
        text = Text(no_wrap=False, overflow="ellipsis")
        text.append(info.name, style="bold")
        text.append(f"  id {info.id[:12]}  host ")
        text.append(info.host)
        text.append("  image ")
        text.append(info.image)
        if info.status:
            text.append("  status ")
            text.append(info.status)
        if info.restart_count:
            text.append(f"  restarts {info.restart_count}")
        text.append("\nlimits  ", style="dim")
        text.append(limits_text(info))
        text.append("\nlabels  ", style="dim")
        text.append(labels_text(info))
        self.update(text)
