"""`ClawApp`: the terminal front end over one engine.

The app is thin on purpose. It owns the engine's lifecycle when asked to (`manage_engine`),
one event subscription consumed by an async worker on the UI loop, the themes and the key map.
What is drawn, and how each event changes it, belongs to `screens.main.MainScreen`. The app
does not know whether the engine is local or remote: it only uses `EngineAPI`.

Start-up order (a local engine, `StagedStart`): the store and the host monitors start while the
screen is composed, so the first frame waits for neither; the fleet fills in when the hosts
answer; the engine's other components (threads, pools, ingress, ...) and the start hook (the
in-process service) start after the first frame. A component that fails then is shown as a
notification and is in the activity log. A remote engine is started before the first frame.

The command line gives the app an engine factory instead of an engine (`cmd_tui`): the app
draws its first frame (the Fleet panel, empty) before the factory runs, so the engine's
capabilities are imported after it (in a thread, `engine_imports`, so the screen stays live);
the start-up above follows. It may also give a first snapshot of the fleet (`first_snapshot`,
read in a thread while the app starts): drawn in the first frame when it is read by then, else
when it comes, unless the engine is built by then; the engine's view replaces it once the
engine has reached those hosts (`_show_engine`). The
panels not in front are composed after the first frame (`MainScreen.compose_pending_panels`),
or when first shown.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from textual import work
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer

from clawtui.config import Settings
from clawtui.engine.api.models import ContainerInfo, Event, EventKind, HostInfo, HostState
from clawtui.tui.commands import ClawCommands
from clawtui.tui.keymap import binding_ids, binding_owners
from clawtui.tui.messages import as_model
from clawtui.tui.screens.main import MainScreen
from clawtui.tui.themes import ThemeProblem
from clawtui.tui.theming import ThemedApp

if TYPE_CHECKING:  # the interface's protocols (and the event payloads) load with the engine
    from clawtui.engine.api.protocols import EngineAPI, Subscription

log = logging.getLogger(__name__)

Hook = Callable[[], Awaitable[None]]
EngineFactory = Callable[[], "EngineAPI"]
FirstSnapshot = concurrent.futures.Future[tuple[list[HostInfo], list[ContainerInfo]]]
"""The hosts and containers to show before the engine is built (read in a thread)."""


@runtime_checkable
class ConnectionStatus(Protocol):
    """An engine behind a connection (the remote client): why it is down, None when up."""

    @property
    def connection_problem(self) -> str | None: ...


@runtime_checkable
class StagedStart(Protocol):
    """An engine that can start its host monitors first and its other components later (the
    local engine): the app draws its first frame in between."""

    async def start(self, *, components: bool = True) -> None: ...

    async def start_components(self) -> list[tuple[str, Exception]]: ...


class ClawApp(ThemedApp):
    """The clawtui control room: Fleet first, five more panels, activity at the bottom."""

    TITLE = "clawtui"
    CSS_PATH: ClassVar = ["styles/app.tcss", "styles/fleet.tcss"]
    """The stylesheets of the first frame (the fleet view)."""
    LATE_CSS_PATH: ClassVar = [
        "styles/devboxes.tcss",
        "styles/logs.tcss",
        "styles/forms.tcss",
        "styles/help.tcss",
    ]
    """The other panels' and screens' stylesheets: read after the first frame, or before a
    panel or screen that needs them comes first (`load_late_css`)."""
    COMMANDS: ClassVar = {ClawCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark,f1", "help", "Help", id="app.help", tooltip="Show every key"),
        Binding("t", "pick_theme", "Theme", id="app.theme", tooltip="Pick a theme (saved)"),
        Binding("r", "refresh", "Refresh", id="app.refresh", tooltip="Re-read the fleet"),
        Binding("ctrl+p", "command_palette", "Palette", id="app.palette", tooltip="Find a command"),
        Binding("q", "quit", "Quit", id="app.quit", tooltip="Leave clawtui"),
    ]

    STATS_FLUSH_SECONDS: ClassVar[float] = 0.25
    """Stats ticks are applied at most this often (the latest per host wins)."""
    TICK_SECONDS: ClassVar[float] = 1.0
    """How often uptimes advance (with the stats ticks while they come: `_tick`)."""
    CONNECTION_CHECK_SECONDS: ClassVar[float] = 0.5
    """How often a remote engine's connection is looked at (it retries by itself)."""

    def __init__(
        self,
        engine: EngineAPI | EngineFactory,
        settings: Settings,
        *,
        manage_engine: bool = True,
        on_start: Hook | None = None,
        on_stop: Hook | None = None,
        clock: Callable[[], float] = time.time,
        first_snapshot: FirstSnapshot | None = None,
        engine_imports: Callable[[], object] | None = None,
        after_first_frame: Callable[[], object] | None = None,
    ) -> None:
        super().__init__()
        self._after_first_frame_hook = after_first_frame
        """Called once the first frame is drawn (the CLI resumes its garbage collector)."""
        self._engine: EngineAPI | None = None
        self._engine_factory: EngineFactory | None = None
        if callable(engine):  # built after the first frame (`_build_engine`)
            self._engine_factory = engine
        else:
            self._engine = engine
        self.engine_ready = asyncio.Event()
        """Set when the engine exists (at once, unless the app was given a factory)."""
        self.settings = settings
        self.manage_engine = manage_engine
        self.clock = clock
        """Epoch seconds for uptimes; tests pass a fixed clock."""
        self.theme_problems: list[ThemeProblem] = []
        """Theme files that were skipped at start, and why."""
        self._on_start = on_start
        self._on_stop = on_stop
        self._engine_started = False
        self._hook_started = False
        self._core_start: asyncio.Task[None] | None = None
        self.components_ready = asyncio.Event()
        """Set when the engine's late-starting components (and the start hook) have run."""
        self._subscription: Subscription | None = None
        self._pending_stats: dict[str, Mapping[str, Any]] = {}
        self._stats_timer: Timer | None = None
        self._uptimes_at = float("-inf")
        """`time.monotonic()` of the last uptime tick."""
        self._main: MainScreen | None = None
        self._connection_problem: str | None = None
        self._first_snapshot = first_snapshot if self._engine_factory is not None else None
        self._first_snapshot_done = asyncio.Event()
        self._snapshot_hosts: set[str] = set()
        """The hosts shown online from the first snapshot."""
        self._awaiting_hosts: set[str] = set()
        """Those the engine has not reached yet: their snapshot stays on screen until it has."""
        self._engine_imports = engine_imports
        self._theme_notes: list[tuple[str, str]] = []
        self._late_css_loaded = False
        self._load_themes()

    @property
    def engine(self) -> EngineAPI:
        """The engine (when given a factory: from just after the first frame on)."""
        if self._engine is None:
            raise RuntimeError("the engine is built after the first frame")
        return self._engine

    # -- start and stop ------------------------------------------------------------------------
    def get_default_screen(self) -> MainScreen:
        self._main = MainScreen(
            self.clock, lambda: self.engine, self.settings, initial=self._first_snapshot_now
        )
        return self._main

    def _first_snapshot_now(self) -> tuple[list[HostInfo], list[ContainerInfo]] | None:
        """The first snapshot if it is read already (for the first frame)."""
        snapshot = self._first_snapshot
        if snapshot is None or self._engine is not None or not snapshot.done():
            return None
        self._first_snapshot_done.set()
        if snapshot.exception() is not None:
            return None
        self._shown_snapshot(snapshot.result())
        return snapshot.result()

    def _shown_snapshot(self, snapshot: tuple[list[HostInfo], list[ContainerInfo]]) -> None:
        self._snapshot_hosts = {h.name for h in snapshot[0] if h.state is HostState.ONLINE}

    @property
    def main(self) -> MainScreen:
        """The main screen (panels and activity)."""
        assert self._main is not None, "the app is not running"
        return self._main

    async def on_mount(self) -> None:
        self._tell_theme_notes()
        self._apply_keymap()
        for issue in self.settings.warnings:  # e.g. a broken runtime settings file, ignored
            self.notify(str(issue), title="Settings", severity="warning", markup=False)
        if self._engine is not None:
            await self._engine_built()

    async def _engine_built(self) -> None:
        """The engine exists: start it (see the module's docstring) and follow its events."""
        self.sub_title = "remote engine" if self.engine.is_remote else "local engine"
        self.engine_ready.set()
        if self.manage_engine and isinstance(self.engine, StagedStart):
            # The local engine: its store and host monitors start while the screen is composed
            # (not awaited here, so the first frame does not wait for them); its other
            # components after the first frame (`_after_first_frame`).
            self._core_start = asyncio.create_task(
                self.engine.start(components=False), name="tui:engine-start"
            )
            self._engine_started = True  # stopped at exit even if quit while starting
        else:
            engine_ok = True
            if self.manage_engine:
                try:
                    await self.engine.start()
                    self._engine_started = True
                except Exception as exc:
                    engine_ok = False
                    self._engine_failed(exc)
            if engine_ok:
                await self._run_start_hook()
            self.components_ready.set()
        self._subscription = self.engine.subscribe()

    def _engine_failed(self, exc: Exception) -> None:
        log.error("the engine did not start", exc_info=exc)
        self.notify(f"The engine did not start: {exc}", severity="error", markup=False)

    async def _run_start_hook(self) -> None:
        if self._on_start is None:
            return
        self._hook_started = True  # on_stop runs even after a half-done start
        try:
            await self._on_start()
        except Exception as exc:
            log.exception("start hook failed")
            self.notify(f"Start-up step failed: {exc}", severity="error", markup=False)

    async def on_ready(self) -> None:
        """The main screen is composed: show the snapshot, then follow the events."""
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self._theme_changed(self.current_theme)
        self.set_interval(self.TICK_SECONDS, self._tick)
        if self._engine is None:
            if self._first_snapshot is not None:
                self._show_first_snapshot(self._first_snapshot)
            self._build_engine()
            return
        await self._show_engine()

    async def _show_engine(self) -> None:
        """Show the engine's snapshot, follow its events, then the rest of the start-up.

        Over a first snapshot, the engine's view replaces it once the engine has reached the
        hosts it shows (until then the engine says "connecting" and holds no containers):
        their HOST events that still say connecting are not applied, and the first that does
        not re-reads the whole engine view (`dispatch_event`)."""
        self._awaiting_hosts = {
            h.name
            for h in self.engine.hosts()
            if h.name in self._snapshot_hosts and h.state is HostState.CONNECTING
        }
        if not self._awaiting_hosts:
            self.action_refresh()
        if self._subscription is not None:
            self._consume(self._subscription)
        if isinstance(self.engine, ConnectionStatus):
            self.set_interval(self.CONNECTION_CHECK_SECONDS, self.check_connection)
        if self._core_start is not None:
            self.call_after_refresh(self._after_first_frame)
        else:
            await self._load_activity()
        self.call_after_refresh(self._compose_later)

    FIRST_FRAME_WAIT: ClassVar[float] = 0.5
    """At most this long (seconds) the engine factory waits for the footer's keys to be drawn:
    building the engine holds the UI loop (its imports) for a moment."""
    FIRST_SNAPSHOT_WAIT: ClassVar[float] = 0.5
    """At most this long (seconds) after the first frame the engine factory waits for the first
    snapshot (the engine starts from it when it is there)."""

    def _show_first_snapshot(self, snapshot: FirstSnapshot) -> None:
        """Show the first snapshot in the fleet view when it comes, unless the engine is built
        by then (the engine starts from it and is shown instead)."""
        loop = asyncio.get_running_loop()

        def show() -> None:
            self._first_snapshot_done.set()
            if self._engine is not None or snapshot.exception() is not None:
                return
            if self._main is not None and self._main.is_attached:
                self._shown_snapshot(snapshot.result())
                self.main.load(*snapshot.result())

        if not snapshot.done():  # else it was shown in the first frame (`_first_snapshot_now`)

            def done(_: object) -> None:
                with contextlib.suppress(RuntimeError):  # the app has ended: its loop is closed
                    loop.call_soon_threadsafe(show)

            snapshot.add_done_callback(done)

    @work(exclusive=True, group="engine-build", exit_on_error=False)
    async def _build_engine(self) -> None:
        """After the first frame (the footer shows its keys): build the engine with the factory
        the app was given (this imports the engine's capabilities), then start it as `on_mount`
        does otherwise."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.FIRST_FRAME_WAIT
        footers = self.main.query(Footer)
        # Textual's footer has no event for "keys drawn": a short, bounded poll.
        while footers and not footers.first().children and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        if self._first_snapshot is not None:  # the fleet's first data, when it comes soon
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._first_snapshot_done.wait(), self.FIRST_SNAPSHOT_WAIT)
        drawn = asyncio.Event()  # the frame with the footer's keys (and the data) is composed ...
        self.call_after_refresh(drawn.set)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(drawn.wait(), self.FIRST_FRAME_WAIT)
        await asyncio.sleep(0.02)  # ... and written out by Textual's writer thread
        factory, self._engine_factory = self._engine_factory, None
        if factory is None or self._exit:
            return
        try:
            if self._engine_imports is not None:  # in a thread: the screen stays live meanwhile
                await asyncio.to_thread(self._engine_imports)
            self._engine = factory()
        except Exception as exc:
            log.error("the engine could not be built", exc_info=exc)
            self.exit(return_code=1, message=f"clawtui: the engine could not be built: {exc}")
            return
        await self._engine_built()
        await self._show_engine()

    def load_late_css(self) -> None:
        """Read the stylesheets of `LATE_CSS_PATH` (once) and restyle the screens."""
        if self._late_css_loaded:
            return
        self._late_css_loaded = True
        for path in self.LATE_CSS_PATH:
            self.stylesheet.read(Path(__file__).parent / path)
        self.stylesheet.parse()  # the others' rules are cached: only the new ones are parsed
        self.stylesheet.update(self)
        for screen in self.screen_stack:
            self.stylesheet.update(screen)

    def _load_screen_css(self, screen: Screen[Any]) -> None:
        # Textual's hook when a screen is installed: every screen but the main one may use the
        # late stylesheets (help, logs, forms).
        if not isinstance(screen, MainScreen):
            self.load_late_css()
        super()._load_screen_css(screen)

    @work(exclusive=True, group="panels", exit_on_error=False)
    async def _compose_later(self) -> None:
        """After the first frame: the caller's hook, the late stylesheets, the panels not in
        front, then the `[keymap]` check."""
        hook, self._after_first_frame_hook = self._after_first_frame_hook, None
        if hook is not None:
            hook()
        self.load_late_css()
        try:
            await self.main.compose_pending_panels()
            if gc.isenabled():
                # What start-up made (modules, every panel, the fleet's rows) lives as long as
                # the app: kept out of the cyclic collector's full passes, which would walk it
                # again and again (a pause of 50-150 ms each, in the middle of a stats tick).
                gc.freeze()
        finally:
            self._check_keymap()

    async def _load_activity(self) -> None:
        try:
            self.main.load_activity(await self.engine.activity(200))
        except Exception as exc:
            log.warning("could not read the activity log: %s", exc)

    @work(exclusive=True, group="engine-start", exit_on_error=False)
    async def _after_first_frame(self) -> None:
        """The local engine's start, after the first frame: wait for the store and the host
        monitors, show the activity log, start the other components, then the start hook."""
        engine, core_start = self.engine, self._core_start
        if core_start is None or not isinstance(engine, StagedStart):
            return  # the app is closing already
        try:
            await asyncio.shield(core_start)
        except Exception as exc:
            self._engine_started = False
            self._engine_failed(exc)
            return
        await self._load_activity()
        if not self._engine_started:
            return  # the app is closing already
        try:
            failures = await engine.start_components()
        except Exception as exc:  # the engine logs each component's failure itself
            log.exception("the engine's components did not start")
            failures = [("the engine", exc)]
        for name, error in failures:  # also in the activity log (the engine wrote them there)
            self.notify(
                f"{name} did not start: {error}", title="Start-up", severity="error", markup=False
            )
        if self._engine_started:  # not when the app is already closing
            await self._run_start_hook()
        self.components_ready.set()

    async def on_unmount(self) -> None:
        if self._engine is None:  # quit before the engine was built: nothing to stop
            return
        if self._subscription is not None:
            self._subscription.close()
        if self._on_stop is not None and self._hook_started:
            self._hook_started = False
            try:
                await self._on_stop()
            except Exception:
                log.exception("stop hook failed")
        core_start, self._core_start = self._core_start, None
        if core_start is not None:  # let a start under way finish, then stop what it started
            with contextlib.suppress(Exception):
                await core_start
        if self._engine_started:
            self._engine_started = False
            await self.engine.stop()

    def check_connection(self) -> None:
        """Say in the header, and once as a notification, when the remote engine cannot be
        reached or refuses the token (the client keeps retrying); and when it is back."""
        engine = self.engine
        problem = engine.connection_problem if isinstance(engine, ConnectionStatus) else None
        if problem == self._connection_problem:
            return
        before, self._connection_problem = self._connection_problem, problem
        if problem is not None:
            self.sub_title = f"remote engine · {problem} · retrying"
            self.notify(problem + " (retrying)", title="Remote engine", severity="error",
                        markup=False, timeout=30)  # fmt: skip
        elif before is not None:
            self.sub_title = "remote engine"
            self.notify("connected to the remote engine again", title="Remote engine")

    # -- engine events -------------------------------------------------------------------------
    @work(exclusive=True, group="engine-events", exit_on_error=False)
    async def _consume(self, subscription: Subscription) -> None:
        """Apply engine events as they come; runs on the UI loop, so widgets may be touched."""
        async for event in subscription:
            try:
                self.dispatch_event(event)
            except Exception:
                log.exception("could not apply %s event", event.kind)

    def dispatch_event(self, event: Event) -> None:
        """Route one engine event: stats are throttled, RESYNC re-reads the snapshot."""
        if event.kind is EventKind.HOST and event.host in self._awaiting_hosts:
            if as_model(HostInfo, event.data["info"]).state is HostState.CONNECTING:
                return  # the first snapshot of this host stays until the engine has reached it
            self._awaiting_hosts.discard(event.host)
            if not self._awaiting_hosts:
                self.action_refresh()
                return
        if event.kind is EventKind.STATS:
            self._pending_stats[event.host or ""] = event.data.get("stats", {})
            if self._stats_timer is None:
                self._stats_timer = self.set_timer(self.STATS_FLUSH_SECONDS, self._flush_stats)
        elif event.kind is EventKind.RESYNC:
            self.action_refresh()
        else:
            self.main.apply_event(event)

    def _flush_stats(self) -> None:
        self._stats_timer = None
        pending, self._pending_stats = self._pending_stats, {}
        self.main.apply_stats_of_hosts(pending)
        self._advance_uptimes()  # drawn in the same repaint as the stats

    def _tick(self) -> None:
        """Once a second: uptimes advance, unless a stats tick advanced them within the last
        second. While stats come, a row whose CPU and uptime both change every second is
        repainted once a second, not twice."""
        if time.monotonic() - self._uptimes_at >= self.TICK_SECONDS:
            self._advance_uptimes()

    def _advance_uptimes(self) -> None:
        self._uptimes_at = time.monotonic()
        self.main.tick()

    # -- keys ---------------------------------------------------------------------------------
    @classmethod
    def binding_ids(cls) -> set[str]:
        """Every binding id a `[keymap]` entry may name."""
        return binding_ids((cls, *binding_owners()))

    def _apply_keymap(self) -> None:
        self.set_keymap(dict(self.settings.keymap))

    def _check_keymap(self) -> None:
        """Name the `[keymap]` ids no binding has (after the first frame: it imports every
        screen and panel module)."""
        keymap = dict(self.settings.keymap)
        unknown = sorted(set(keymap) - self.binding_ids())
        if unknown:
            log.warning("keymap: unknown binding ids %s", unknown)
            self.notify(
                f"[keymap] names unknown binding ids: {', '.join(unknown)} (see the help screen)",
                severity="warning",
                markup=False,
            )

    # -- actions -------------------------------------------------------------------------------
    def action_help(self) -> None:
        """Show (or close) the list of keys."""
        from clawtui.tui.screens.help import HelpScreen, key_rows

        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss()
            return
        self.push_screen(HelpScreen(key_rows(self, self.main)))

    def action_refresh(self) -> None:
        """Re-read hosts and containers from the engine."""
        if self._engine is None:
            return  # the engine is being built: its snapshot is shown when it is
        self.main.load(self.engine.hosts(), self.engine.containers())

    def show_panel(self, panel_id: str) -> None:
        self.main.action_show_panel(panel_id)

    def container_command(self, verb: str) -> None:
        """A container action (logs, start, ...) on the front panel's marked or selected rows."""
        self.main.container_command(verb)

    def devbox_command(self, action: str) -> None:
        """A Dev containers panel action from the palette: "new", "apply" or "reset"."""
        self.run_worker(self._devbox_command(action), group="devbox-command")

    async def _devbox_command(self, action: str) -> None:
        await self.main.show_panel("devboxes")
        panel = self.main.devboxes
        {"new": panel.action_new_devbox, "apply": panel.action_apply,
         "reset": panel.action_reset}[action]()  # fmt: skip

    def toggle_activity(self) -> None:
        self.main.action_toggle_activity()
