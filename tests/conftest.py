"""Root conftest: suite-wide pytest configuration only (nothing Docker-specific here).

Docker fixtures live in tests/integration/conftest.py.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # scripts/test runs the suite in two phases: -m "not disruptive", then -m disruptive.
    config.addinivalue_line(
        "markers",
        "disruptive: restarts or otherwise disturbs the shared dockerd; runs in the second "
        "phase of scripts/test, after every other test",
    )
