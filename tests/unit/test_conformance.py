"""Every engine the front ends can be handed satisfies the engine interface (issue 13).

Three implementations: the local `Engine`, the remote client `RemoteEngine` (`--connect`) and
the TUI tests' `FakeEngine`. For each, `EngineAPI` and every capability a `*_of` helper of
`clawtui.engine.api` finds on it must match the capability's protocol member for member: the
same names, async where the protocol is async, every parameter of the protocol accepted under
the same name and kind, and no extra parameter without a default. mypy checks the same statically
(tests/typecheck_conformance.py); this test also covers what mypy cannot see through `getattr`.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import pytest

import clawtui.engine.api
from clawtui.client.engine import RemoteEngine
from clawtui.config import EngineConfig, Settings
from clawtui.engine.api import protocols
from clawtui.engine.api.protocols import EngineAPI
from clawtui.engine.core import Engine
from tests.tui.fakes import FakeEngine

API_MODULES = [
    importlib.import_module(m.name)
    for m in pkgutil.iter_modules(clawtui.engine.api.__path__, prefix="clawtui.engine.api.")
]


def _finders() -> dict[str, tuple[Callable[[Any], Any], type]]:
    """`name_of` helper -> (the helper, the protocol it returns)."""
    out: dict[str, tuple[Callable[[Any], Any], type]] = {}
    for module in API_MODULES:
        for name, fn in vars(module).items():
            if not (name.endswith("_of") and inspect.isfunction(fn)):
                continue
            if fn.__module__ != module.__name__:
                continue  # a re-export; checked where it is defined
            if list(inspect.signature(fn).parameters)[:1] != ["engine"]:
                continue  # not a capability finder (e.g. events.payload_of)
            # Only the return annotation: parameters name EngineAPI under TYPE_CHECKING.
            ret = eval(fn.__annotations__["return"], {**vars(protocols), **vars(module)})
            proto = next(a for a in typing.get_args(ret) if a is not type(None))
            out[name] = (fn, proto)
    return out


FINDERS = _finders()


def _members(proto: type) -> dict[str, Any]:
    names: dict[str, Any] = {}
    for klass in reversed(proto.__mro__):
        if klass in (object, Protocol, typing.Generic) or not getattr(klass, "_is_protocol", False):
            continue
        for name, value in vars(klass).items():
            if not name.startswith("_"):
                names[name] = value
        for name in getattr(klass, "__annotations__", {}):
            if not name.startswith("_"):
                names.setdefault(name, None)
    return names


def _problems(impl: object, proto: type) -> list[str]:
    problems: list[str] = []
    for name, member in _members(proto).items():
        if not hasattr(impl, name):
            problems.append(f"{name}: missing")
            continue
        if member is None or isinstance(member, property) or not callable(member):
            continue
        got = getattr(impl, name)
        want_async = inspect.iscoroutinefunction(member)
        if want_async != inspect.iscoroutinefunction(got):
            problems.append(f"{name}: {'async' if want_async else 'not async'} in the protocol")
        want = inspect.signature(member)
        have = inspect.signature(got)
        params = dict(have.parameters)
        takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
        for pname, param in want.parameters.items():
            if pname == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            other = params.pop(pname, None)
            if other is None:
                if not takes_kwargs:
                    problems.append(f"{name}: no parameter {pname!r}")
                continue
            if param.kind is param.KEYWORD_ONLY and other.kind not in (
                other.KEYWORD_ONLY,
                other.POSITIONAL_OR_KEYWORD,
            ):
                problems.append(f"{name}: {pname!r} must be accepted by keyword")
            if param.default is not param.empty and other.default is other.empty:
                problems.append(f"{name}: {pname!r} has a default in the protocol")
        for pname, other in params.items():
            if other.kind in (other.VAR_POSITIONAL, other.VAR_KEYWORD):
                continue
            if other.default is other.empty:
                problems.append(f"{name}: extra required parameter {pname!r}")
    return problems


def _engines(tmp_path: Path) -> dict[str, object]:
    settings = Settings(engine=EngineConfig(state_dir=tmp_path))
    return {
        "local": Engine(settings),
        "remote": RemoteEngine("http://127.0.0.1:9", "token"),
        "fake": FakeEngine(),
    }


def test_every_finder_names_a_protocol() -> None:
    assert {"pools_of", "threads_of", "ingress_of", "escalations_of"} <= set(FINDERS)
    for name, (_fn, proto) in FINDERS.items():
        assert getattr(proto, "_is_protocol", False), f"{name} returns {proto}, not a Protocol"


@pytest.mark.parametrize("kind", ["local", "remote", "fake"])
def test_engine_satisfies_the_interface(kind: str, tmp_path: Path) -> None:
    engine = _engines(tmp_path)[kind]
    assert _problems(engine, EngineAPI) == []
    found = 0
    problems: dict[str, list[str]] = {}
    for name, (finder, proto) in sorted(FINDERS.items()):
        capability = finder(engine)
        if capability is None:
            continue
        found += 1
        if issues := _problems(capability, proto):
            problems[f"{name} -> {proto.__name__}"] = issues
    assert problems == {}
    # The local engine has every capability; the others at least the ones the panels need.
    if kind == "local":
        assert found == len(FINDERS), sorted(FINDERS)
    else:
        assert found >= 3


def test_the_checker_catches_a_mismatch() -> None:
    class Proto(Protocol):
        async def go(self, key: str, *, force: bool = False) -> None: ...

        def count(self) -> int: ...

    class Bad:
        def go(self, other: str) -> None: ...

    assert _problems(Bad(), Proto) == [
        "go: async in the protocol",
        "go: no parameter 'key'",
        "go: no parameter 'force'",
        "go: extra required parameter 'other'",
        "count: missing",
    ]
