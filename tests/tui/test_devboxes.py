"""The Dev containers panel over the fake engine: cards, the memory sliders against live
events (the races of seed 000), the pending budget, Apply, results and history, the form."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from textual.widgets import Button, Input

from clawtui.engine.api.memory import MemoryChange, Outcome
from clawtui.engine.api.models import MIB, ContainerInfo, ContainerStats, EventKind, HostMemory
from clawtui.tui.app import ClawApp
from clawtui.tui.screens.confirm import ConfirmScreen
from clawtui.tui.screens.new_devbox import NewDevboxScreen
from clawtui.tui.widgets.devbox_card import DevboxCard
from clawtui.tui.widgets.devbox_panel import DevboxesPanel
from clawtui.tui.widgets.host_header import HostHeader
from clawtui.tui.widgets.slider import format_size
from tests.tui.conftest import SIZE
from tests.tui.fakes import GIB, NOW, FakeEngine, container, host
from tests.tui.helpers import screen_text, wait_for

pytestmark = pytest.mark.tui

AppFactory = Callable[..., ClawApp]
ALPHA = "local/" + "a1".ljust(64, "0")
DEV = "local/" + "c3".ljust(64, "0")
DEV_ID = DEV.split("/")[1]


def panel_of(app: ClawApp) -> DevboxesPanel:
    return app.screen.query_one(DevboxesPanel)


def header_of(panel: DevboxesPanel) -> HostHeader:
    return panel.query_one(HostHeader)


def memory_line(panel: DevboxesPanel) -> str:
    return str(header_of(panel).query_one(".host-memory").render())


async def open_panel(
    pilot: Any, app: ClawApp, card_key: str = DEV
) -> tuple[DevboxesPanel, DevboxCard]:
    await pilot.press("4")
    await wait_for(pilot, lambda: bool(app.screen.query(DevboxesPanel)))
    panel = panel_of(app)
    card = panel.cards[card_key]
    card.slider.focus()
    await pilot.pause()
    return panel, card


def info_of(engine: FakeEngine, key: str) -> ContainerInfo:
    info = engine.container(key)
    assert info is not None
    return info


def sample(used_mib: int, cpu: float = 0.0) -> ContainerStats:
    return ContainerStats(cpu_percent=cpu, mem_used=used_mib * MIB, sampled_at=NOW)


async def test_cards_show_usage_sorted_by_use(make_app: AppFactory, engine: FakeEngine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        panel, card = await open_panel(pilot, app)
        assert [c.key for c in panel.card_list.cards] == [ALPHA, DEV]
        assert str(card.usage_label.render()) == "64 MiB / 512 MiB · CPU 0.0%"
        assert card.bar.used == 64 * MIB and card.bar.limit == 512 * MIB
        assert not card.idle_label.display  # one idle sample is not enough
        # dev-sam starts using more than agent-alpha: the cards swap, in place.
        for _ in range(DevboxCard.IDLE_SAMPLES):
            engine.stats("local", {DEV_ID: sample(400)})
            await pilot.pause(0.3)
        await wait_for(pilot, lambda: [c.key for c in panel.card_list.cards] == [DEV, ALPHA])
        assert card is panel.cards[DEV]  # the same widget, moved
        assert card.idle_label.display  # CPU 0 over the last samples
        assert len(card.samples) == 1 + DevboxCard.IDLE_SAMPLES
        assert card.spark.data == list(card.samples)
        assert card.bar.has_class("-high") and card.bar.used == 400 * MIB  # 78% of the limit
        engine.stats("local", {DEV_ID: sample(480, cpu=35.0)})
        await wait_for(pilot, lambda: card.bar.has_class("-full"))
        assert not card.idle_label.display


async def test_stats_mid_drag_update_usage_but_never_move_the_slider(
    make_app: AppFactory, engine: FakeEngine
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        _, card = await open_panel(pilot, app)
        slider = card.slider
        await pilot.mouse_down(slider, offset=(0, 0))
        await pilot.hover(slider, offset=(12, 0))
        assert slider.dragging
        held = slider.value
        assert held > 512 * MIB and held % (64 * MIB) == 0
        # A stats tick and a new limit from the engine arrive while the mouse is down.
        engine.stats("local", {DEV_ID: sample(300)})
        await wait_for(pilot, lambda: card.bar.used == 300 * MIB)
        engine.put_container(info_of(engine, DEV).model_copy(update={"memory_limit": 768 * MIB}))
        await wait_for(pilot, lambda: card.server_limit == 768 * MIB)
        assert slider.dragging and slider.value == held  # where the user has it
        assert slider.applied == 768 * MIB and slider.usage == 300 * MIB
        await pilot.mouse_up(slider, offset=(12, 0))
        assert not slider.dragging and slider.value == held
        assert str(card.change_label.render()) == f"768 MiB → {format_size(held)}"


async def test_stats_after_a_change_not_applied_leave_the_slider(
    make_app: AppFactory, engine: FakeEngine
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        panel, card = await open_panel(pilot, app)
        await pilot.press("right", "right")
        assert card.slider.value == 640 * MIB and card.dirty
        for used in (100, 120, 140):
            engine.stats("local", {DEV_ID: sample(used)})
            await wait_for(pilot, lambda used=used: card.bar.used == used * MIB)
        engine.put_container(info_of(engine, DEV).model_copy(update={"status": "Up 5 min"}))
        engine.bus.publish(EventKind.RESYNC, reason="gap")  # a full reload: cards are kept
        await pilot.pause(0.3)
        assert panel.cards[DEV] is card
        assert card.slider.value == 640 * MIB and card.dirty
        assert str(card.change_label.render()) == "512 MiB → 640 MiB"
        # Reset puts it back; then the engine's limit moves it again.
        await pilot.press("U")
        assert card.slider.value == 512 * MIB and not card.dirty
        engine.put_container(info_of(engine, DEV).model_copy(update={"memory_limit": GIB}))
        await wait_for(pilot, lambda: card.slider.value == GIB)


async def test_host_header_counts_pending_slider_values(
    make_app: AppFactory, engine: FakeEngine
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        panel, _ = await open_panel(pilot, app)
        header = header_of(panel)
        assert "alloc 4.0 GiB · avail 10.0 GiB · reserve 2.0 GiB" in memory_line(panel)
        assert header.has_class("-mem-ok")
        await pilot.press("pageup")  # +1 GiB
        assert "alloc 5.0 GiB (+1.0 GiB pending) · avail 9.0 GiB" in memory_line(panel)
        await pilot.press("end")  # all that is free: 10 GiB more
        assert "avail 0 MiB" in memory_line(panel)
        assert header.has_class("-mem-critical")
        alpha = panel.cards[ALPHA].slider
        alpha.focus()
        await pilot.press("right")  # the host has nothing free left: it cannot go higher
        assert alpha.value == 512 * MIB and alpha.maximum == 512 * MIB
        assert "avail 0 MiB" in memory_line(panel)
        await pilot.press("left")  # one container down: the other may take it
        panel.cards[DEV].slider.focus()
        await pilot.press("right")
        assert "avail 0 MiB" in memory_line(panel)
        # The host's budget shrinks under the pending changes: over budget, and said so.
        shrunk = HostMemory(
            total=16 * GIB, allocated=4 * GIB + 64 * MIB, reserve=2 * GIB,
            available=10 * GIB - 64 * MIB,
        )  # fmt: skip
        engine.put_host(host(memory=shrunk))
        await wait_for(pilot, lambda: "avail -64 MiB" in memory_line(panel))
        pending = str(panel.query_one("#memory-pending").render())
        assert "2 changes pending" in pending and "over budget by 64 MiB" in pending
        await pilot.press("U")
        assert "alloc 4.1 GiB · avail 9.9 GiB" in memory_line(panel)
        assert header.has_class("-mem-ok") and not header.has_class("-pending")


async def test_apply_is_disabled_in_flight_and_enabled_after_success(
    make_app: AppFactory, engine: FakeEngine
) -> None:
    gate = asyncio.Event()
    engine.memory.gate = gate
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        panel, card = await open_panel(pilot, app)
        button = panel.query_one("#memory-apply", Button)
        assert button.disabled  # nothing moved
        await pilot.press("right", "right", "right", "right")
        assert not button.disabled
        await pilot.click(button)
        await wait_for(pilot, lambda: engine.memory.applied)
        assert panel.in_flight and button.disabled
        await pilot.press("A")  # a second batch is not started meanwhile
        assert len(engine.memory.applied) == 1
        # Stats keep flowing in flight; the slider stays.
        engine.stats("local", {DEV_ID: sample(90)})
        await wait_for(pilot, lambda: card.bar.used == 90 * MIB)
        assert card.slider.value == 768 * MIB
        gate.set()
        await wait_for(pilot, lambda: not panel.in_flight)
        assert engine.memory.applied == [({DEV: 768 * MIB}, False)]
        assert card.slider.value == card.slider.applied == card.server_limit == 768 * MIB
        result = str(panel.query_one("#memory-result").render())
        assert "Applied 1 change" in result and "dev-sam 512 MiB → 768 MiB applied" in result
        history = str(panel.query_one("#memory-history").render())
        assert "dev-sam (tui)\n  512 MiB → 768 MiB ✓ applied" in history
        assert button.disabled  # nothing left to apply
        card.slider.focus()  # the click put the keyboard on the button
        await pilot.press("right")
        assert not button.disabled  # and not stuck in flight


async def test_apply_is_enabled_again_after_a_failure(
    make_app: AppFactory, engine: FakeEngine
) -> None:
    gate = asyncio.Event()
    engine.memory.gate = gate
    engine.memory.fail = RuntimeError("the engine went away")
    app = make_app()
    notes: list[tuple[str, dict[str, Any]]] = []
    notify = app.notify

    def record(message: str, **kw: Any) -> None:
        notes.append((message, kw))
        notify(message, **kw)

    app.notify = record  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        panel, card = await open_panel(pilot, app)
        button = panel.query_one("#memory-apply", Button)
        await pilot.press("right", "A")
        await wait_for(pilot, lambda: engine.memory.applied)
        assert button.disabled
        gate.set()
        await wait_for(pilot, lambda: not panel.in_flight)
        assert not button.disabled  # the change is still there to retry
        assert card.slider.value == 576 * MIB and card.dirty
        result = str(panel.query_one("#memory-result").render())
        assert "did not go through: the engine went away" in result
        assert panel.query_one("#memory-result").has_class("-error")
        assert ("the engine went away", "error") in [(m, kw.get("severity")) for m, kw in notes]


async def test_rolled_back_batch_is_shown_and_sliders_go_back(
    make_app: AppFactory, engine: FakeEngine
) -> None:
    engine.memory.docker_error = "Docker said [no]"
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        panel, card = await open_panel(pilot, app)
        await pilot.press("right")
        alpha = panel.cards[ALPHA]
        alpha.slider.focus()
        await pilot.press("right", "A")
        await wait_for(pilot, lambda: panel.last_result is not None)
        result = str(panel.query_one("#memory-result").render())
        assert "rolled back" in result and "Docker said [no]" in result
        assert card.slider.value == 512 * MIB and alpha.slider.value == 512 * MIB
        history = str(panel.query_one("#memory-history").render())
        assert "failed" in history and "rolled back" in history


async def test_warnings_are_confirmed_and_below_usage_needs_a_yes(
    make_app: AppFactory, engine: FakeEngine
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        panel, card = await open_panel(pilot, app)
        engine.stats("local", {DEV_ID: sample(400)})  # once the panel listens: not lost
        await wait_for(pilot, lambda: card.used == 400 * MIB)
        await pilot.press("left", "left")  # 384 MiB: below the 400 MiB in use
        await pilot.press("A")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert engine.memory.plans == [({DEV: 384 * MIB}, True)]
        shown = screen_text(app)
        assert "below the 400 MiB in use" in shown and "kill" in shown
        await pilot.press("n")  # cancelled: nothing applied, the slider keeps its value
        await wait_for(pilot, lambda: not panel.in_flight)
        assert engine.memory.applied == []
        assert card.slider.value == 384 * MIB
        assert "Cancelled" in str(panel.query_one("#memory-result").render())
        await pilot.press("A")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: engine.memory.applied)
        assert engine.memory.applied == [({DEV: 384 * MIB}, True)]  # confirmed below usage
        await wait_for(pilot, lambda: card.server_limit == 384 * MIB)


async def test_headroom_warning_does_not_confirm_below_usage(
    make_app: AppFactory, engine: FakeEngine
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        _, card = await open_panel(pilot, app)
        engine.stats("local", {DEV_ID: sample(400)})  # once the panel listens: not lost
        await wait_for(pilot, lambda: card.used == 400 * MIB)
        await pilot.press("left")  # 448 MiB: above the use, below 1.25 x the use
        await pilot.press("A")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "little headroom" in screen_text(app)
        await pilot.press("y")
        await wait_for(pilot, lambda: engine.memory.applied)
        assert engine.memory.applied == [({DEV: 448 * MIB}, False)]


async def test_a_refused_plan_keeps_the_sliders(make_app: AppFactory, engine: FakeEngine) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        panel, card = await open_panel(pilot, app)
        await pilot.press("end", "left")  # 64 MiB left free
        panel.cards[ALPHA].slider.focus()
        await pilot.press("pageup")  # a slider stops at its host's free budget: +64 MiB only
        assert panel.cards[ALPHA].slider.value == 576 * MIB
        # Something else takes 1 GiB of the host meanwhile: the batch is 1 GiB over budget.
        engine.put_host(host(memory=HostMemory(total=16 * GIB, allocated=5 * GIB,
                                               reserve=2 * GIB, available=9 * GIB)))  # fmt: skip
        await wait_for(pilot, lambda: "over budget by 1.0 GiB" in
                       str(panel.query_one("#memory-pending").render()))  # fmt: skip
        await pilot.press("A")
        await wait_for(pilot, lambda: engine.memory.plans and not panel.in_flight)
        assert engine.memory.applied == []
        result = str(panel.query_one("#memory-result").render())
        assert "Refused: nothing was changed" in result and "too much" in result
        assert card.dirty and panel.cards[ALPHA].dirty


async def test_history_is_listed_and_follows_memory_events(
    make_app: AppFactory, engine: FakeEngine
) -> None:
    def row(name: str, ts: float, old: int, new: int, outcome: Outcome) -> MemoryChange:
        return MemoryChange(ts=ts, batch_id=f"b-{name}", who="cli", host="local",
                            container_id=name, name=name, old_limit=old * MIB,
                            new_limit=new * MIB, old_swap=old * MIB, new_swap=new * MIB,
                            outcome=outcome)  # fmt: skip

    engine.memory.rows = [row("dev-old", NOW - 60, 512, 1024, Outcome.APPLIED)]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        panel, _ = await open_panel(pilot, app)
        await wait_for(pilot, lambda: panel.history)
        history = panel.query_one("#memory-history")
        assert "08:52:20 dev-old (cli)\n  512 MiB → 1 GiB ✓ applied" in str(history.render())
        # A batch made elsewhere (the API, the CLI) arrives as a memory event.
        other = container("z9", "dev-zed", labels={"clawtui.role": "devbox"})
        engine.put_container(other)
        await wait_for(pilot, lambda: other.key in panel.cards)
        result = await engine.memory.apply({other.key: 768 * MIB}, who="api")
        zed = "dev-zed (api)\n  512 MiB → 768 MiB"
        await wait_for(pilot, lambda: zed in str(history.render()))
        assert str(history.render()).index("dev-zed") < str(history.render()).index("dev-old")
        engine.bus.publish(EventKind.MEMORY, result=result)  # the same batch again: listed once
        await pilot.pause(0.3)
        assert str(history.render()).count("dev-zed") == 1
        await wait_for(pilot, lambda: panel.cards[other.key].slider.value == 768 * MIB)


async def test_new_dev_container_form_validates_and_shows_progress(
    make_app: AppFactory, engine: FakeEngine, tmp_path: Any
) -> None:
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f me@x"
    pub = tmp_path / "id_ed25519.pub"
    pub.write_text(key + "\n")
    gate = asyncio.Event()
    engine.devboxes.gate = gate
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4", "n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewDevboxScreen))
        form = app.screen
        assert isinstance(form, NewDevboxScreen)
        await pilot.press(*"Bad Name")
        error = form.query_one("#devbox-name-error")
        assert error.display and "invalid dev box name" in str(error.render())
        form.query_one("#devbox-name", Input).value = "alice"
        await pilot.pause()
        assert not error.display
        form.query_one("#devbox-key", Input).value = str(tmp_path / "missing.pub")
        await pilot.pause()
        assert "no file" in str(form.query_one("#devbox-key-error").render())
        form.query_one("#devbox-key", Input).value = str(pub)
        form.query_one("#devbox-memory", Input).value = "10k"
        await pilot.pause()
        assert "64m or more" in str(form.query_one("#devbox-memory-error").render())
        await pilot.press("ctrl+s")  # Create
        assert engine.devboxes.created == []  # not with a bad field
        assert form.focused is form.query_one("#devbox-memory", Input)
        form.query_one("#devbox-memory", Input).value = "1g"
        form.query_one("#devbox-port", Input).value = "2222"
        await pilot.pause()
        await pilot.press("enter")  # Enter in a field creates too
        await wait_for(pilot, lambda: engine.devboxes.created)
        assert engine.devboxes.created[0] == {
            "name": "alice", "key": key + "\n", "memory": GIB, "cpus": 2.0, "port": 2222,
            "sudo": False,
        }  # fmt: skip
        await wait_for(pilot, lambda: "waiting for sshd" in screen_text(app))
        assert form.query_one("#devbox-create", Button).disabled
        gate.set()
        await wait_for(pilot, lambda: form.created is not None)
        assert "ssh -p 2222 dev@127.0.0.1" in screen_text(app)
        await pilot.press("escape")
        assert not isinstance(app.screen, NewDevboxScreen)
        panel = panel_of(app)
        await wait_for(pilot, lambda: any(c.info.name == "dev-alice" for c in panel.cards.values()))


async def test_new_dev_container_error_is_shown_in_the_form(
    make_app: AppFactory, engine: FakeEngine
) -> None:
    engine.devboxes.error = RuntimeError("port 2222 is taken by [another] container")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4", "n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewDevboxScreen))
        form = app.screen
        form.query_one("#devbox-name", Input).value = "bob"
        form.query_one(
            "#devbox-key", Input
        ).value = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f"
        await pilot.click("#devbox-create")
        await wait_for(pilot, lambda: form.query_one("#devbox-error").display)
        assert "port 2222 is taken by [another] container" in str(
            form.query_one("#devbox-error").render()
        )
        assert not form.query_one("#devbox-create", Button).disabled  # fix and retry


async def test_slider_range_follows_the_host_budget_when_it_arrives(
    make_app: AppFactory, engine: FakeEngine
) -> None:
    engine.put_host(host("local", memory=HostMemory()), publish=False)  # RAM not reported yet
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        _, card = await open_panel(pilot, app)
        assert card.slider.maximum == 512 * MIB  # no budget known: no increase offered
        engine.put_host(host("local"))  # 10 GiB available
        await wait_for(pilot, lambda: card.slider.maximum == 512 * MIB + 10 * GIB)
        assert card.slider.value == 512 * MIB and not card.dirty


@pytest.fixture
def build_host(engine: FakeEngine) -> ContainerInfo:
    """A second host, build-1 (7 GiB budget, 1 GiB free), with the dev container dev-build."""
    engine.put_host(
        host("build-1", url="tcp://build-1:2376",
             memory=HostMemory(total=8 * GIB, reserve=GIB, allocated=6 * GIB, available=GIB)),
        publish=False,
    )  # fmt: skip
    remote = container("e5", "dev-build", host="build-1", labels={"clawtui.role": "devbox"})
    engine.put_container(remote, publish=False)
    return remote


async def test_each_host_has_its_budget_header_and_its_sliders_stop_at_its_free_budget(
    make_app: AppFactory, engine: FakeEngine, build_host: ContainerInfo
) -> None:
    """Two hosts with dev containers (issue 18): a header per host with its own used / budget /
    free, a slider stops at its own host's free budget, and pending changes count only there."""
    remote = build_host
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        panel, card = await open_panel(pilot, app, card_key=remote.key)

        def line(name: str) -> str:
            header = next(h for h in panel.query(HostHeader) if h.info.name == name)
            return str(header.query_one(".host-memory").render())

        assert [h.info.name for h in panel.query(HostHeader)] == ["local", "build-1"]
        assert "budget 14.0 GiB · alloc 4.0 GiB · avail 10.0 GiB" in line("local")
        assert "budget 7.0 GiB · alloc 6.0 GiB · avail 1.0 GiB" in line("build-1")
        # build-1 has 1 GiB free: its slider stops there, whatever local has.
        await pilot.press("end")
        assert card.slider.value == 512 * MIB + GIB
        await pilot.press("right")
        assert card.slider.value == 512 * MIB + GIB
        assert "alloc 7.0 GiB (+1.0 GiB pending) · avail 0 MiB" in line("build-1")
        assert "alloc 4.0 GiB · avail 10.0 GiB" in line("local")  # untouched
        # local's slider still reaches local's own free budget.
        dev = panel.cards[DEV]
        dev.slider.focus()
        await pilot.press("end")
        assert dev.slider.value == 512 * MIB + 10 * GIB
        assert "avail 0 MiB" in line("local") and "avail 0 MiB" in line("build-1")
        pending = str(panel.query_one("#memory-pending").render())
        assert "2 changes pending" in pending and "over budget" not in pending


async def test_a_batch_refused_on_one_host_goes_ahead_on_the_other_after_a_confirm(
    make_app: AppFactory, engine: FakeEngine, build_host: ContainerInfo
) -> None:
    """Each host's part of a batch is applied on its own (issue 18): when build-1 refuses its
    part (over its budget), Apply says so in a confirm, and local's change is applied."""
    remote = build_host
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        panel, card = await open_panel(pilot, app, card_key=remote.key)
        await pilot.press("end")  # all of build-1's free GiB
        panel.cards[DEV].slider.focus()
        await pilot.press("right")  # local: +64 MiB
        # build-1's budget shrinks meanwhile: its part is now over budget.
        shrunk = HostMemory(total=8 * GIB, reserve=GIB, allocated=7 * GIB, available=0)
        engine.put_host(host("build-1", memory=shrunk))
        await wait_for(pilot, lambda: panel.hosts["build-1"].memory.available == 0)
        await pilot.press("A")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        text = screen_text(app)
        assert "Apply on some hosts only?" in text
        assert "✓ host local: 1 change would be applied" in text
        assert "✗ host build-1: nothing would change there" in text and "too much" in text
        assert engine.memory.applied == []
        await pilot.press("y")
        await wait_for(pilot, lambda: engine.memory.applied and not panel.in_flight)
        assert engine.memory.applied[0][0] == {remote.key: 512 * MIB + GIB, DEV: 576 * MIB}
        result = panel.last_result
        assert result is not None and result.state.value == "mixed"
        assert {h.host: h.state.value for h in result.hosts} == {
            "build-1": "refused", "local": "applied"
        }  # fmt: skip
        shown = str(panel.query_one("#memory-result").render())
        assert "Applied on some hosts only" in shown and "host build-1: refused" in shown
        await wait_for(pilot, lambda: not panel.cards[DEV].dirty)
        assert panel.cards[DEV].server_limit == 576 * MIB
        assert card.dirty and card.slider.value == 512 * MIB + GIB  # kept, to adjust
