"""Fixed, real-looking data for the Threads, Heartbeats, Escalations and Ingress panels, for
snapshots.

Opt in with `with_panel_data(engine)`: it sets `engine.threads`, `engine.escalations`,
`engine.incidents`, `engine.briefs` and `engine.ingress` (a `FakeEngine` has none by default,
so the panels show "not available" as over an engine without them). Times are relative to
`fakes.NOW`.
"""

from __future__ import annotations

from typing import ClassVar

from clawtui.config.ingress import RelayRoute
from clawtui.engine.api.escalations import (
    Brief,
    Decision,
    Escalation,
    Incident,
    IncidentHandOff,
    LoopState,
    NeedsYou,
    NewEscalation,
    Report,
    Severity,
    Status,
)
from clawtui.engine.api.ingress import (
    BodyReader,
    IngressRecord,
    IngressStats,
    Outcome,
    RelayAgentView,
    RelayRoutes,
)
from clawtui.engine.api.threads import (
    HeartbeatState,
    IncomingMessage,
    RepoState,
    ThreadDetail,
    ThreadInfo,
    ThreadProgress,
    ThreadStatus,
    TierState,
)
from tests.tui.fakes import NOW, FakeEngine


def _tiers(quick: float, hourly: float, daily: float | None) -> list[TierState]:
    out = []
    for tier, ago, every in (("quick", quick, 480), ("hourly", hourly, 3600),
                             ("daily", daily, 86400)):  # fmt: skip
        last = None if ago is None else NOW - ago
        due = ago is None or ago >= every
        out.append(TierState(tier=tier, last=last, age=ago, due=due,
                             overdue=ago is not None and ago > 2 * every))  # fmt: skip
    return out


def sample_threads() -> list[ThreadStatus]:
    return [
        ThreadStatus(
            thread=ThreadInfo(id=1, name="Master", cwd="/home/ops/knowledge-base",
                              is_master=True, model="sonnet"),
            repo=RepoState(is_repo=True, branch="main", checked_at=NOW - 30),
            queue_in=0, queue_out=1, last_activity=NOW - 300,
            heartbeat=HeartbeatState(
                tiers=_tiers(240, 1800, 20_000), liveness="alive", next_beat=NOW + 240,
                runs=42, last_reply="HEARTBEAT_OK", last_ok=True,
            ),
        ),
        ThreadStatus(
            thread=ThreadInfo(id=2, name="api", cwd="/home/ops/src/api", container="agent-api"),
            repo=RepoState(is_repo=True, branch="feat/rate-limits", dirty=3, ahead=2, behind=5,
                           upstream="origin/main", stale_branches=["old-spike"]),
            queue_in=2, queue_out=0, last_activity=NOW - 75,
            heartbeat=HeartbeatState(
                tiers=_tiers(400, 3900, 90_000), liveness="degraded", next_beat=NOW + 60,
                runs=40, skipped_stale=2, failed=1, urgent_flags=["prod deploy blocked"],
                problems=["5 new commit(s) on origin/main: 9f2c1ab fix auth header; 71d0e3c "
                          "bump aiohttp to 3.10; 4be77aa add request ids to every log line and "
                          "the error responses ...", "feat/rate-limits conflicts with origin/main"],
                last_reply="- 3 uncommitted change(s): api/limits.py, api/app.py, README.md",
                last_ok=False,
            ),
        ),
        ThreadStatus(
            thread=ThreadInfo(id=3, name="web", cwd="/home/ops/src/web"),
            repo=RepoState(is_repo=True, branch="main", checked_at=NOW - 30),
            queue_in=0, queue_out=0, last_activity=NOW - 5400,
            heartbeat=HeartbeatState(
                tiers=_tiers(200, 2000, 40_000), liveness="alive", next_beat=NOW + 280,
                runs=39, problems=["git fetch failed: 'origin' does not appear to be a git "
                                   "repository"],
                last_ok=False,
            ),
        ),
        ThreadStatus(
            thread=ThreadInfo(id=4, name="docs", cwd="/home/ops/notes"),
            repo=RepoState(is_repo=False, error="not a git repository"),
            last_activity=None,
            heartbeat=HeartbeatState(tiers=_tiers(300, 3000, None), liveness="unknown",
                                     next_beat=NOW + 120, runs=3),
        ),
    ]  # fmt: skip


class FakeThreads:
    def __init__(self) -> None:
        self.rows = sample_threads()

    def statuses(self) -> list[ThreadStatus]:
        return list(self.rows)

    def progress(self) -> list[ThreadProgress]:
        return [ThreadProgress(id=s.thread.id, name=s.thread.name, cwd=s.thread.cwd,
                               last_activity=s.last_activity, liveness=s.heartbeat.liveness)
                for s in self.rows]  # fmt: skip

    async def detail(self, thread_id: int) -> ThreadDetail:
        status = next(s for s in self.rows if s.thread.id == thread_id)
        text = (
            "## Timestamps\n- Last quick: 2025-10-09T08:49:20Z\n- Last hourly: 2025-10-09T08:23:"
            "20Z\n- Last daily: 2025-10-09T03:20:00Z\n\n## Urgent Flags\n(none)\n\n## Tasks\n"
            "- [x] Aggregate the api and web reports\n- [ ] Write the weekly summary\n"
        )
        return ThreadDetail(status=status, heartbeat_text=text, outgoing=[],
                            git_log=["4be77aa 2025-10-09 Daily report: api, web"])  # fmt: skip

    async def send(self, thread_id: int, text: str, *, sender: str = "clawtui") -> IncomingMessage:
        raise NotImplementedError

    async def beat_now(self, thread_id: int) -> None:
        return None

    async def kb_file(self, name: str) -> str:
        return "# Active projects\n- api: rate limits (PR open)\n- web: release 2.4 on Friday\n"

    async def kb_log(self, limit: int = 20) -> list[str]:
        return ["4be77aa 2025-10-09 Daily report: api, web", "1a2b3c4 2025-10-08 Initialise"]


def sample_escalations() -> list[Escalation]:
    return [
        Escalation(id=7, created_at=NOW - 1260, updated_at=NOW - 1260, agent="peter",
                   thread_id=2, doing="deploying api v2.1 to staging",
                   tried=["coolify deploy", "read the proxy logs"],
                   need="the fqdn of the api service set in Coolify",
                   proposed_fix="set fqdn=api.staging.example.com and redeploy",
                   detail="Traceback (most recent call last):\n  File \"deploy.py\", line 3",
                   severity=Severity.HIGH),
        Escalation(id=8, created_at=NOW - 200, updated_at=NOW - 200, agent="maya", thread_id=3,
                   doing="rotating the web signing keys", need="a go before 17:00"),
        Escalation(id=5, created_at=NOW - 90_000, updated_at=NOW - 80_000, agent="sam",
                   thread_id=1, doing="merging the docs branch", need="approval",
                   status=Status.APPROVED, decided_by="tui", decision="ok"),
    ]  # fmt: skip


def sample_incidents() -> list[Incident]:
    return [
        Incident(id=3, opened_at=NOW - 3000, updated_at=NOW - 600, monitor="staging",
                 signal="disk:/var", state=LoopState.DETECTED, severity="high",
                 summary="disk /var 91% used on staging", occurrences=2,
                 report=Report(summary="disk /var 91% used on staging",
                               evidence=["df: /var 91%"], immediate_action="prune old images")),
    ]  # fmt: skip


class FakeEscalations:
    def __init__(self) -> None:
        self.rows = sample_escalations()

    async def raise_(self, new: NewEscalation) -> Escalation:
        raise NotImplementedError

    async def get(self, escalation_id: int) -> Escalation | None:
        return next((e for e in self.rows if e.id == escalation_id), None)

    async def find(self, *, status: Status | None = None, limit: int = 500) -> list[Escalation]:
        return [e for e in self.rows if status is None or e.status is status][:limit]

    async def decide(self, escalation_id: int, decision: Decision) -> Escalation:
        raise NotImplementedError

    async def resolve(self, escalation_id: int, *, note: str | None = None) -> Escalation:
        raise NotImplementedError


class FakeIncidents:
    async def get(self, incident_id: int) -> Incident | None:
        return next((i for i in sample_incidents() if i.id == incident_id), None)

    async def find(self, *, open_only: bool = False, limit: int = 500) -> list[Incident]:
        return sample_incidents()[:limit]

    async def mark_pr_ready(self, incident_id: int, pr_url: str | None = None) -> Incident:
        raise NotImplementedError

    async def mark_restarting(self, incident_id: int, note: str | None = None) -> Incident:
        raise NotImplementedError

    async def hand_off(self, incident_id: int, thread_id: int | None = None) -> IncidentHandOff:
        raise NotImplementedError


class FakeBriefs:
    BRIEF = Brief(
        day="2025-10-09", created_at=NOW - 20_000, sent=True,
        needs_you=[NeedsYou(escalation_id=7, agent="peter", text="peter: set the api fqdn")],
        happening=["api: rate limits in review", "web: release 2.4 on Friday"],
        shipped=["docs: the new onboarding guide"],
    )  # fmt: skip

    async def build(self, day: str | None = None) -> Brief:
        return self.BRIEF

    async def get(self, day: str) -> Brief | None:
        return self.BRIEF if day == self.BRIEF.day else None

    async def latest(self) -> Brief | None:
        return self.BRIEF


class FakeIngress:
    ROUTES: ClassVar[list[RelayRoute]] = [
        RelayRoute(sender="ryan", to="cody", note="code reviews"),
        RelayRoute(sender="cody", to="ryan", note="review answers"),
    ]
    AGENTS: ClassVar[list[RelayAgentView]] = [
        RelayAgentView(name="ryan", thread_id=2, has_secret=True),
        RelayAgentView(name="cody", thread_id=3, has_secret=True),
    ]

    def __init__(self) -> None:
        self._recent = [
            IngressRecord(ts=NOW - 600, kind="webhook", result="accepted", status=202,
                          summary="build 4711 of api failed on main", thread_id=2,
                          delivery_id="d-4711"),
            IngressRecord(ts=NOW - 420, kind="webhook", result="duplicate", status=200,
                          summary="build 4711 of api failed on main", delivery_id="d-4711"),
            IngressRecord(ts=NOW - 300, kind="relay", result="delivered", status=202,
                          sender="ryan", target="cody", thread_id=3,
                          summary="please review PR 12 (rate limits)"),
            IngressRecord(ts=NOW - 60, kind="relay", result="rejected", status=403,
                          sender="cody", target="maya", reason="route cody → maya not allowed"),
        ]  # fmt: skip
        self._stats = IngressStats()
        for rec in self._recent:
            self._stats.results[(rec.kind, rec.result)] += 1

    @property
    def recent(self) -> list[IngressRecord]:
        return list(self._recent)

    @property
    def stats(self) -> IngressStats:
        return self._stats

    def routes(self) -> list[RelayRoute]:
        return list(self.ROUTES)

    def agents(self) -> list[str]:
        return [a.name for a in self.AGENTS]

    async def relay_routes(self) -> RelayRoutes:
        return RelayRoutes(routes=self.ROUTES, agents=self.AGENTS)

    async def add_route(self, sender: str, to: str, note: str = "") -> RelayRoute:
        raise NotImplementedError

    async def remove_route(self, sender: str, to: str) -> None:
        raise NotImplementedError

    async def receive_webhook(self, secret: str | None, read_body: BodyReader) -> Outcome:
        raise NotImplementedError

    async def receive_relay(self, secret: str | None, read_body: BodyReader) -> Outcome:
        raise NotImplementedError


def with_panel_data(engine: FakeEngine) -> FakeEngine:
    """`engine` with the threads, escalations, incidents, briefs and ingress above."""
    engine.threads = FakeThreads()  # type: ignore[attr-defined]
    engine.escalations = FakeEscalations()  # type: ignore[attr-defined]
    engine.incidents = FakeIncidents()  # type: ignore[attr-defined]
    engine.briefs = FakeBriefs()  # type: ignore[attr-defined]
    engine.ingress = FakeIngress()  # type: ignore[attr-defined]
    return engine
