"""Screens of the TUI: the main screen (panels) and the help screen."""
