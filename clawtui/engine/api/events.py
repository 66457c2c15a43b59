"""One typed payload model per event kind, and THE encode/decode of events on the wire.

The bus validates every `publish(kind, **fields)` into the kind's payload model (`validate`),
so a publisher with a wrong or misspelt field fails loudly. The service's event stream encodes
with `encode_event` and the remote client decodes with `decode_event`; nothing else builds or
parses the JSON of an event.

The wire form of an event is `{"kind", "host", "ts", "data", "seq"}` where `data` holds exactly
the fields the publisher gave, in its order (unchanged from before the payload models).

Payload fields are the interface's own value types (`api.models`, `api.memory`,
`api.escalations`, `api.ingress`), so a decoded event carries the same models a local engine
publishes. The one `Loose` field (a model, or its JSON object) is THREAD's status, which the
remote client's thread registry applies itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)

from clawtui.engine.api.escalations import AutohealOutcome, Brief, Escalation, Incident
from clawtui.engine.api.ingress import IngressRecord
from clawtui.engine.api.memory import ApplyResult
from clawtui.engine.api.models import (
    ActivityEntry,
    ContainerInfo,
    ContainerStats,
    Event,
    EventKind,
    HostInfo,
)

__all__ = [
    "PAYLOADS",
    "EventDecodeError",
    "EventPayload",
    "Loose",
    "decode_event",
    "encode_event",
    "payload_of",
    "validate",
]


def _model_or_object(value: Any) -> Any:
    if isinstance(value, (BaseModel, dict)):
        return value
    raise ValueError(f"expected a model or a JSON object, got {type(value).__name__}")


Loose = Annotated[Any, AfterValidator(_model_or_object)]
"""A capability value type not in the interface yet: its model, or its JSON object."""


class EventPayload(BaseModel):
    """Base of the payload models: immutable, and an unknown field is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class HostPayload(EventPayload):
    info: HostInfo


class ContainerPayload(EventPayload):
    container: ContainerInfo


class ContainerRemovedPayload(EventPayload):
    id: str
    name: str | None = None


def _stats_as_sampled(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """The hot path (every tick of every host's sampler) stays O(1): a dict whose first entry
    is `str -> ContainerStats` is taken as the sampler built it (engine code, typed
    `dict[str, ContainerStats]` under mypy strict); checking every entry would cost about as
    much as the rest of a publish per 100 containers. Anything else (JSON objects from the
    wire, a wrong value in front) is validated in full."""
    if type(value) is dict:
        first = next(iter(value.items()), None)
        if first is None or (type(first[0]) is str and type(first[1]) is ContainerStats):
            return value
    return handler(value)


class StatsPayload(EventPayload):
    stats: Annotated[dict[str, ContainerStats], WrapValidator(_stats_as_sampled)]
    """Container id -> latest sample (the event's host says which host)."""


class ResyncPayload(EventPayload):
    reason: str = ""


class LogPayload(EventPayload):
    entry: ActivityEntry


class MemoryPayload(EventPayload):
    result: ApplyResult


class ThreadPayload(EventPayload):
    thread: Loose  # a ThreadStatus, or its JSON (the remote client's registry applies it)


class HeartbeatPayload(EventPayload):
    thread_id: int
    action: str  # ran | skipped
    tiers: list[str] = []
    ok: bool | None = None
    reply: str = ""


class KbPayload(EventPayload):
    action: str
    thread_id: int | None = None
    committed: bool | None = None


class PoolPayload(EventPayload):
    pool: str | None
    action: str  # warm | refused | claimed | released | release_failed | removed | scaled | ...
    tenant: str | None = None
    container: str | None = None
    source: str | None = None
    message: str | None = None


class SyncPayload(EventPayload):
    tenant: str
    pool: str
    mapping: str
    direction: str
    phase: str  # started | finished
    status: str | None = None
    bytes: int | None = None
    duration: float | None = None
    error: str | None = None


class EscalationPayload(EventPayload):
    escalation: Escalation
    change: str  # raised | decided | resolved


class IncidentPayload(EventPayload):
    incident: Incident | None = None
    autoheal: AutohealOutcome | None = None
    change: str


class BriefPayload(EventPayload):
    brief: Brief


class IngressPayload(EventPayload):
    record: IngressRecord


class TmuxPayload(EventPayload):
    action: str  # run | send | attach | broadcast
    session: str | None = None
    target: str | None = None
    key: str | None = None
    window: str | None = None
    targets: list[str] | None = None
    ok: int | None = None


PAYLOADS: Final[Mapping[EventKind, type[EventPayload]]] = {
    EventKind.HOST: HostPayload,
    EventKind.CONTAINER: ContainerPayload,
    EventKind.CONTAINER_REMOVED: ContainerRemovedPayload,
    EventKind.STATS: StatsPayload,
    EventKind.RESYNC: ResyncPayload,
    EventKind.LOG: LogPayload,
    EventKind.MEMORY: MemoryPayload,
    EventKind.THREAD: ThreadPayload,
    EventKind.HEARTBEAT: HeartbeatPayload,
    EventKind.KB: KbPayload,
    EventKind.POOL: PoolPayload,
    EventKind.SYNC: SyncPayload,
    EventKind.ESCALATION: EscalationPayload,
    EventKind.INCIDENT: IncidentPayload,
    EventKind.BRIEF: BriefPayload,
    EventKind.INGRESS: IngressPayload,
    EventKind.TMUX: TmuxPayload,
}


class EventDecodeError(ValueError):
    """An event that does not fit its kind's payload model; names the kind and the field."""

    def __init__(self, kind: str, field: str, problem: str) -> None:
        super().__init__(f"bad {kind!r} event: {field}: {problem}")
        self.kind = kind
        self.field = field
        self.problem = problem


def _first_error(kind: str, exc: ValidationError, prefix: str = "") -> EventDecodeError:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(payload)"
    return EventDecodeError(kind, f"{prefix}{loc}", err["msg"])


def validate(kind: EventKind, fields: Mapping[str, Any]) -> tuple[EventPayload, dict[str, Any]]:
    """The payload model of `fields`, and the validated fields as given (their order kept):
    the `data` of the event. Raises EventDecodeError naming the kind and the field."""
    model = PAYLOADS[kind]
    try:
        payload = model.model_validate(fields)
    except ValidationError as exc:
        raise _first_error(kind.value, exc, "data.") from None
    return payload, {name: getattr(payload, name) for name in fields}


def payload_of(event: Event) -> EventPayload:
    """The typed payload of an event (built from `data` when the event was made without one)."""
    if isinstance(event.payload, EventPayload):
        return event.payload
    return validate(event.kind, event.data)[0]


def encode_event(event: Event) -> dict[str, Any]:
    """An event as the JSON-able dict of the wire: kind, host, ts, data (as published), seq."""
    return event.model_dump(mode="json")


def decode_event(wire: Any) -> Event:
    """A wire dict back into an event with its typed payload. Raises EventDecodeError, naming
    the kind and the field, when it does not fit."""
    if not isinstance(wire, Mapping):
        raise EventDecodeError("?", "(event)", f"expected a JSON object, got {type(wire).__name__}")
    raw_kind = wire.get("kind")
    try:
        kind = EventKind(str(raw_kind))
    except ValueError:
        raise EventDecodeError(str(raw_kind)[:40], "kind", "unknown event kind") from None
    data = wire.get("data", {})
    if not isinstance(data, Mapping):
        raise EventDecodeError(kind.value, "data", "expected a JSON object")
    payload, fields = validate(kind, data)
    head = {k: wire[k] for k in ("host", "ts", "seq") if k in wire}
    try:
        return Event(kind=kind, data=fields, payload=payload, **head)
    except ValidationError as exc:
        raise _first_error(kind.value, exc) from None
