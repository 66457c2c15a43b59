"""Widgets of the TUI: container table, host headers, detail pane, activity log, empty states."""
