"""How a container's tmux sessions read in the Dev containers panel (rich `Text` only: session,
window and command names come from the container and may contain `[`)."""

from __future__ import annotations

from rich.text import Text

from clawtui.engine.api.tmux import TmuxListing
from clawtui.tui.format import humanize_duration

MAX_WINDOWS_SHOWN = 8


def listing_text(listing: TmuxListing, now: float) -> Text:
    """One line per session (windows, attached clients, last activity), its windows under it."""
    if not listing.sessions:
        return Text("No tmux sessions yet: Enter attaches (and creates one), w starts a command.",
                    style="dim")  # fmt: skip
    text = Text()
    for index, session in enumerate(listing.sessions):
        if index:
            text.append("\n")
        text.append(session.name, style="bold")
        text.append(f"  {session.windows} window{'s' if session.windows != 1 else ''}")
        attached = f"{session.attached} attached" if session.attached else "detached"
        text.append(f" · {attached}", style="green" if session.attached else "dim")
        if session.activity > 0:
            ago = humanize_duration(max(0.0, now - session.activity))
            text.append(f" · active {ago} ago", style="dim")
        windows = [w for w in listing.windows if w.session == session.name]
        for window in windows[:MAX_WINDOWS_SHOWN]:
            text.append("\n  ")
            text.append("*" if window.active else " ", style="bold")
            text.append(f"{window.index}:")
            text.append(window.name)
            if window.command:
                text.append("  ")
                text.append(window.command, style="dim")
        if len(windows) > MAX_WINDOWS_SHOWN:
            text.append(f"\n   … {len(windows) - MAX_WINDOWS_SHOWN} more", style="dim")
    return text


def error_text(message: str) -> Text:
    return Text("tmux: ", style="bold") + Text(message)
