"""The threads capability's interface: value types, errors and the `ThreadsAPI` protocol.

Everything here is plain data (pydantic models) that crosses the HTTP boundary unchanged:
thread snapshots (`ThreadStatus`, `ThreadDetail`, `ThreadProgress`), heartbeat tiers, a
repository's git state, and the TinyClaw queue messages (`IncomingMessage`,
`OutgoingMessage`) whose field names and types follow TinyClaw's `src/types.ts`: `threadId`
is a number, `timestamp` is epoch milliseconds. No I/O: the engine's `threads`, `heartbeats`
and `kb` packages read and write the files.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import TYPE_CHECKING, Final, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from clawtui.engine.api.protocols import EngineAPI

# -- heartbeat tiers ---------------------------------------------------------------------------
Tier = Literal["quick", "hourly", "daily"]
TIERS: Final[tuple[Tier, ...]] = ("quick", "hourly", "daily")
Liveness = Literal["alive", "degraded", "dead", "unknown"]


class TierState(BaseModel):
    model_config = ConfigDict(defer_build=True)

    tier: Tier
    last: float | None
    """Epoch seconds of the last run; None when never run."""
    age: float | None
    due: bool
    overdue: bool


class RepoState(BaseModel):
    """A thread's repository as git sees it (no network unless `fetched`)."""

    model_config = ConfigDict(defer_build=True)

    is_repo: bool = False
    branch: str | None = None
    dirty: int = 0
    dirty_files: list[str] = []
    ahead: int | None = None
    behind: int | None = None
    upstream: str | None = None
    stale_branches: list[str] = []
    conflicts: bool | None = None
    ci: str | None = None
    error: str | None = None
    checked_at: float | None = None


# -- TinyClaw queue messages -------------------------------------------------------------------
MESSAGE_ID_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

MessageSource = Literal["user", "cross-thread", "heartbeat", "cli", "system"]


class QueueError(Exception):
    """A message could not be written or read; the message says which file and why."""


def new_message_id(prefix: str = "clawtui") -> str:
    """A unique, file-name-safe message id: `<prefix>_<epoch ms>_<random>`."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "-", prefix)[:32] or "clawtui"
    return f"{safe}_{int(time.time() * 1000)}_{secrets.token_hex(4)}"


class QueueMessage(BaseModel):
    """What every TinyClaw queue message has (the base of both kinds)."""

    # TinyClaw ignores fields it does not know; clawtui adds a few (e.g. `relayedFrom`).
    model_config = ConfigDict(extra="allow", populate_by_name=True, defer_build=True)

    channel: str = Field(min_length=1, max_length=64)
    threadId: int = Field(ge=0)
    sender: str = Field(max_length=256)
    message: str
    timestamp: int = Field(default_factory=lambda: int(time.time() * 1000), ge=0)
    messageId: str = Field(default_factory=new_message_id, pattern=MESSAGE_ID_RE.pattern)


class IncomingMessage(QueueMessage):
    """A message for an agent (TinyClaw `IncomingMessage`)."""

    source: MessageSource | None = None
    sourceThreadId: int | None = None
    senderId: str | None = None
    isReply: bool | None = None
    replyToText: str | None = None
    replyToModel: str | None = None
    topicName: str | None = None


class OutgoingMessage(QueueMessage):
    """A reply from an agent (TinyClaw `OutgoingMessage`)."""

    originalMessage: str = ""
    model: str = ""
    targetThreadId: int | None = None


# -- threads -----------------------------------------------------------------------------------
class ThreadError(Exception):
    """A thread operation was refused; the message is for a person."""


class ThreadInfo(BaseModel):
    model_config = ConfigDict(defer_build=True)

    id: int
    name: str
    cwd: str | None = None
    container: str | None = None
    host: str | None = None
    model: str | None = None
    is_master: bool = False
    last_active: float | None = None
    """threads.json lastActive, in epoch seconds."""
    source: str = "config"
    nanoclaw_jid: str | None = None


class HeartbeatState(BaseModel):
    model_config = ConfigDict(defer_build=True)

    tiers: list[TierState] = []
    liveness: Liveness = "unknown"
    urgent_flags: list[str] = []
    problems: list[str] = []
    next_beat: float | None = None
    in_flight: bool = False
    runs: int = 0
    skipped_stale: int = 0
    failed: int = 0
    last_reply: str | None = None
    last_ok: bool | None = None
    last_run: float | None = None


class ThreadStatus(BaseModel):
    model_config = ConfigDict(defer_build=True)

    thread: ThreadInfo
    repo: RepoState | None = None
    queue_in: int = 0
    queue_out: int = 0
    last_activity: float | None = None
    heartbeat: HeartbeatState
    delivery_problem: str | None = None
    """The last error of a second sink (Nanoclaw) for this thread, until a write succeeds."""


class ThreadProgress(BaseModel):
    """What a stuck-agent detector needs of one thread."""

    model_config = ConfigDict(defer_build=True)

    id: int
    name: str
    cwd: str | None
    last_activity: float | None
    """Epoch seconds of the newest sign of work (threads.json lastActive, queue messages,
    HEARTBEAT.md changes, beats); None when nothing is known."""
    liveness: Liveness


class ThreadDetail(BaseModel):
    model_config = ConfigDict(defer_build=True)

    status: ThreadStatus
    heartbeat_text: str
    outgoing: list[OutgoingMessage]
    git_log: list[str]


class ThreadsAPI(Protocol):
    """Agent threads: snapshots, detail, sending, heartbeats and the knowledge base."""

    def statuses(self) -> list[ThreadStatus]: ...

    def progress(self) -> list[ThreadProgress]:
        """Per thread: id, name, cwd, last activity (epoch seconds), liveness."""
        ...

    async def detail(self, thread_id: int) -> ThreadDetail: ...

    async def send(
        self, thread_id: int, text: str, *, sender: str = "clawtui"
    ) -> IncomingMessage: ...

    async def beat_now(self, thread_id: int) -> None: ...

    async def kb_file(self, name: str) -> str:
        """context.md, decisions.md or active-projects.md; any other name is refused."""
        ...

    async def kb_log(self, limit: int = 20) -> list[str]: ...


def threads_of(engine: EngineAPI) -> ThreadsAPI | None:
    """The engine's threads capability, or None when it has none."""
    threads: ThreadsAPI | None = getattr(engine, "threads", None)
    return threads
