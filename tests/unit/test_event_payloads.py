"""Typed event payloads (engine/api/events.py): every kind has a model, the wire form is what it
was before the models (`Event.model_dump(mode="json")` of the fields as published), decode is
the inverse of encode, and bad input names the kind and the field."""

from __future__ import annotations

import json

import pytest

from clawtui.engine.api.events import (
    PAYLOADS,
    EventDecodeError,
    HostPayload,
    decode_event,
    encode_event,
    payload_of,
)
from clawtui.engine.api.models import ContainerStats, Event, EventKind
from clawtui.engine.bus import EventBus
from tests.event_samples import every_kind


def test_every_kind_has_a_payload_model() -> None:
    assert set(PAYLOADS) == set(EventKind)


def test_the_wire_is_unchanged_and_decode_inverts_encode() -> None:
    bus = EventBus()
    for kind, host, fields in [*every_kind(), (EventKind.RESYNC, None, {"reason": "gap"})]:
        event = bus.publish(kind, host=host, **fields)
        # What the stream sent before the payload models: the envelope and the fields as given.
        before = Event(kind=kind, host=host, ts=event.ts, seq=event.seq, data=fields)
        wire = json.loads(json.dumps(encode_event(event)))
        assert wire == json.loads(json.dumps(before.model_dump(mode="json"))), kind
        assert list(wire["data"]) == list(fields), kind  # the publisher's order
        back = decode_event(wire)
        assert (back.kind, back.host, back.ts, back.seq) == (kind, host, event.ts, event.seq)
        assert encode_event(back) == encode_event(event), kind
        assert isinstance(back.payload, PAYLOADS[kind])
        assert payload_of(back) == back.payload


def test_decode_gives_typed_values() -> None:
    samples = {k: (h, f) for k, h, f in every_kind()}
    host, fields = samples[EventKind.STATS]
    wire = encode_event(EventBus().publish(EventKind.STATS, host=host, **fields))
    stats = decode_event(json.loads(json.dumps(wire))).data["stats"]
    assert all(isinstance(s, ContainerStats) for s in stats.values())
    host, fields = samples[EventKind.HOST]
    back = decode_event(encode_event(EventBus().publish(EventKind.HOST, host=host, **fields)))
    assert isinstance(back.payload, HostPayload) and back.payload.info.ncpu == 4


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        ({"kind": "nope", "data": {}}, r"bad 'nope' event: kind: unknown event kind"),
        ([1, 2], r"expected a JSON object"),
        ({"kind": "memory", "data": {}}, r"bad 'memory' event: data\.result: Field required"),
        ({"kind": "memory", "data": {"result": 3}}, r"'memory' event: data\.result: .*ApplyResult"),
        ({"kind": "pool", "data": {"pool": "p", "action": "x", "colour": 1}}, r"data\.colour"),
        ({"kind": "stats", "data": {"stats": {"c": {"pids": "many"}}}}, r"data\.stats\.c\.pids"),
        ({"kind": "log", "data": []}, r"bad 'log' event: data: expected a JSON object"),
        ({"kind": "kb", "data": {"action": "report"}, "seq": "x"}, r"bad 'kb' event: seq"),
    ],
)
def test_bad_input_names_the_kind_and_the_field(wire: object, message: str) -> None:
    with pytest.raises(EventDecodeError, match=message):
        decode_event(wire)
