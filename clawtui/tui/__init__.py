"""The Textual front end of clawtui: `ClawApp` over any `EngineAPI` (local or remote)."""

from __future__ import annotations

from clawtui.tui.app import ClawApp

__all__ = ["ClawApp"]
