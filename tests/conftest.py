"""Root conftest: suite-wide pytest configuration only (nothing Docker-specific here).

Docker fixtures live in tests/integration/conftest.py (and the TUI's live tests in
tests/tui/conftest.py).

Markers are strict (`--strict-markers` in pyproject.toml) and set here from where a test lives
and what it uses, so that scripts/test's phases cannot silently select nothing:
- every test under tests/integration, and every test that uses a Docker fixture, is
  `integration` (run one at a time: they share the machine's dockerd);
- every test under tests/tui is `tui`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
# Fixtures that reach the real Docker engine (directly or through the ones built on them).
DOCKER_FIXTURES = frozenset({"docker_api", "docker_client"})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "disruptive: restarts or otherwise disturbs the shared dockerd; runs in the last "
        "phase of scripts/test, after every other test",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    integration = TESTS / "integration"
    tui = TESTS / "tui"
    for item in items:
        path = Path(str(item.path))
        if path.is_relative_to(integration) or DOCKER_FIXTURES & set(
            getattr(item, "fixturenames", ())
        ):
            item.add_marker(pytest.mark.integration)
        if path.is_relative_to(tui):
            item.add_marker(pytest.mark.tui)
