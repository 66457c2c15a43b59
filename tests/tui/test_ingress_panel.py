"""The Ingress panel over a real engine (no Docker needed), handed to the app directly and over
`--connect` to a real service: routes from config, live relay / webhook traffic from INGRESS
events, adding and removing a route (saved in the runtime settings file, in effect at once);
over an engine without ingress, a clear message."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Input, Static

from clawtui.engine.api.models import Event, EventKind
from clawtui.tui.app import ClawApp
from clawtui.tui.widgets.ingress_panel import IngressPanel, RouteForm
from tests.integration.ingress_helpers import AGENT_SECRETS, fixture, ingress_settings
from tests.tui.conftest import SIZE
from tests.tui.fakes import fixed_clock
from tests.tui.helpers import wait_for
from tests.tui.remote_engine import FrontFactory

pytestmark = pytest.mark.tui


def traffic_text(app: ClawApp) -> str:
    table = app.screen.query_one("#ingress-traffic", DataTable)
    return "\n".join(" | ".join(str(c) for c in table.get_row(key)) for key in table.rows)


async def test_routes_traffic_and_route_changes(front: FrontFactory, tmp_path: Path) -> None:
    settings = ingress_settings(tmp_path)
    async with front.open(settings) as f:
        engine = f.engine
        app = ClawApp(f.ui, settings, clock=fixed_clock)
        async with app.run_test(size=SIZE) as pilot:
            app.show_panel("ingress")
            await pilot.pause()
            routes = app.screen.query_one("#ingress-routes", DataTable)
            await wait_for(pilot, lambda: routes.row_count == 5)
            await f.connected(pilot)
            remote = app.screen.query(Static).filter("#ingress-remote")
            assert bool(remote) is f.remote  # over --connect: a note about the traffic shown
            # Live traffic: a relay message with markup in it, a refused one, a webhook.
            await engine.ingress.accept_relay(
                AGENT_SECRETS["ryan"],
                json.dumps(
                    {"from": "ryan", "to": "cody", "message": "[bold]hi[/] \x1b[31m"}
                ).encode(),
            )
            await engine.ingress.accept_relay("wrong", b"{}")
            await engine.ingress.accept_webhook(json.dumps(fixture("seed_10_8.json")).encode())
            await wait_for(pilot, lambda: traffic_text(app).count("delivered") == 2)
            text = traffic_text(app)
            assert "[bold]hi[/]" in text  # shown as typed, not as markup
            assert "wrong X-Relay-Secret" in text
            assert "build 20260302.1 failed" in text
            summary = str(app.screen.query_one("#ingress-summary", Static).render())
            assert "1 rejected" in summary

            # Add a route through the form.
            routes.focus()
            await pilot.press("n")
            await wait_for(pilot, lambda: isinstance(app.screen, RouteForm))
            app.screen.query_one("#route-from", Input).value = "cody"
            app.screen.query_one("#route-to", Input).value = "sam"
            app.screen.query_one("#route-note", Input).value = "staging questions"
            await pilot.click("#route-add")
            await wait_for(pilot, lambda: routes.row_count == 6)
            assert settings.state_file is not None
            saved = tomllib.loads(settings.state_file.read_text())
            assert {"from": "cody", "to": "sam", "note": "staging questions"} in saved["relay"][
                "routes"
            ]
            out = await engine.ingress.accept_relay(
                AGENT_SECRETS["cody"],
                json.dumps({"from": "cody", "to": "sam", "message": "ok?"}).encode(),
            )
            assert out.status == 202

            # Remove the first route (ryan → cody) with the confirmation.
            routes.focus()
            routes.move_cursor(row=0)
            await pilot.press("d")
            await pilot.pause()
            await pilot.press("y")
            await wait_for(pilot, lambda: routes.row_count == 5)
            out = await engine.ingress.accept_relay(
                AGENT_SECRETS["ryan"],
                json.dumps({"from": "ryan", "to": "cody", "message": "x"}).encode(),
            )
            assert out.status == 403


async def test_without_ingress_the_panel_says_so(
    make_app: Callable[..., ClawApp], engine: Any
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        app.show_panel("ingress")
        await pilot.pause()
        panel = app.screen.query_one(IngressPanel)
        assert panel.ingress is None
        remote = str(app.screen.query_one("#ingress-remote", Static).render())
        assert "need a local engine" in remote
        # Traffic still shows from events (what a remote engine forwards).
        app.main.apply_event(
            Event(
                kind=EventKind.INGRESS,
                data={
                    "record": {
                        "kind": "relay",
                        "result": "rejected",
                        "status": 403,
                        "reason": "route [x] not allowed",
                        "sender": "sam",
                    }
                },
            )
        )
        await pilot.pause()
        assert "route [x] not allowed" in traffic_text(app)
        app.screen.query_one("#ingress-routes").focus()
        await pilot.press("n")
        await pilot.pause()
        assert not isinstance(app.screen, RouteForm)


async def test_unreachable_remote_engine_is_said_not_hidden(tmp_path: Path) -> None:
    """Over --connect to a service that does not answer: the panel says why routes are
    missing, and adding one tells what went wrong instead of failing silently."""
    from clawtui.client.engine import RemoteEngine

    settings = ingress_settings(tmp_path)
    app = ClawApp(RemoteEngine("http://127.0.0.1:9", "token"), settings, clock=fixed_clock)
    notes: list[tuple[str, str]] = []
    notify = app.notify

    def record(message: str, **kw: Any) -> None:
        notes.append((str(kw.get("title", "")), message))
        notify(message, **kw)

    app.notify = record  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        app.show_panel("ingress")
        await pilot.pause()
        panel = app.screen.query_one(IngressPanel)
        assert panel.ingress is not None
        note = str(app.screen.query_one("#ingress-remote", Static).render())
        assert "remote `clawtui serve`" in note
        await wait_for(
            pilot, lambda: any(t == "Relay routes" and "127.0.0.1:9" in m for t, m in notes)
        )
        routes = app.screen.query_one("#ingress-routes", DataTable)
        assert routes.row_count == 0
        routes.focus()
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, RouteForm))
        app.screen.query_one("#route-from", Input).value = "cody"
        app.screen.query_one("#route-to", Input).value = "sam"
        await pilot.click("#route-add")
        await wait_for(pilot, lambda: any(title == "Route not added" for title, _ in notes))
