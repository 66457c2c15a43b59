"""Root conftest: suite-wide pytest configuration only (nothing Docker-specific here).

Docker fixtures live in tests/integration/conftest.py (and the TUI's live tests in
tests/tui/conftest.py).

Markers are strict (`--strict-markers` in pyproject.toml) and set here from where a test lives
and what it uses, so that scripts/test's phases cannot silently select nothing:
- every test under tests/integration, and every test that uses a Docker fixture, is
  `integration` (run one at a time: they share the machine's dockerd);
- every test under tests/tui is `tui`.

Hypothesis profiles (chosen here, before any test module builds its settings):
- `ci` when CI is set: derandomized (a failure on a fresh clone replays with the same seed),
  no example database, the reproduce blob printed;
- `long` when CLAWTUI_HYPOTHESIS_LONG=1: randomized, and the tests that read the variable run
  more examples and steps (a separate, non-CI run: scripts/test never sets it);
- otherwise Hypothesis' default profile.
Test settings must not set `derandomize` themselves: that would override the profile.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, print_blob=True, deadline=None)
settings.register_profile("long", derandomize=False, database=None, print_blob=True, deadline=None)
if os.environ.get("CLAWTUI_HYPOTHESIS_LONG") == "1":
    settings.load_profile("long")
elif os.environ.get("CI"):
    settings.load_profile("ci")

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
    # A disruptive test restarts the dockerd every other test (and every other user of this
    # machine) is using: it runs only when asked for by name of its marker (scripts/test's
    # phase 3 runs `-m disruptive`), never as a side effect of running a file or a folder.
    asked = "disruptive" in (config.getoption("markexpr", "") or "")
    for item in items:
        if not asked and item.get_closest_marker("disruptive") is not None:
            item.add_marker(
                pytest.mark.skip(
                    reason="restarts the shared dockerd: run it with -m disruptive "
                    "(scripts/test's last phase does)"
                )
            )
        path = Path(str(item.path))
        if path.is_relative_to(integration) or DOCKER_FIXTURES & set(
            getattr(item, "fixturenames", ())
        ):
            item.add_marker(pytest.mark.integration)
        if path.is_relative_to(tui):
            item.add_marker(pytest.mark.tui)
