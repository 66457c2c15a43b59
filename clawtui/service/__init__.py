"""The headless front end: an aiohttp app over the engine (REST API, events, metrics)."""

from clawtui.service.app import create_app
from clawtui.service.runner import ServiceRunner

__all__ = ["ServiceRunner", "create_app"]
