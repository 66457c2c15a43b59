"""What `clawtui config check` checks of the TUI's own settings, which only the TUI knows:
`[keymap]` binding ids and key names, two bindings on one key, and `[tui] theme`.

Each problem is a `ConfigIssue` like the loader's, so `config check` reports them all at once
with the rest, instead of the TUI finding them at start-up.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.binding import Binding
from textual.keys import Keys, _character_to_key
from textual.theme import BUILTIN_THEMES

from clawtui.config import ConfigIssue, Settings
from clawtui.tui.keymap import binding_ids, binding_owners
from clawtui.tui.themes import BUILTIN_THEMES_DIR, load_themes

MODIFIERS = frozenset({"ctrl", "shift", "alt", "meta", "super", "hyper"})


def _key_names() -> frozenset[str]:
    names = {_character_to_key(chr(code)) for code in range(32, 127)}
    for key in Keys:
        names.add(key.value.rsplit("+", 1)[-1])
    return frozenset(names)


KEY_NAMES = _key_names()
"""Base key names Textual produces: `a`, `question_mark`, `f1`, `escape`, `up`, ..."""


def is_key(text: str) -> bool:
    """True when `text` names a key Textual can bind: `x`, `ctrl+x`, `f5`, `question_mark`."""
    *modifiers, base = text.strip().split("+")
    if not base or any(m not in MODIFIERS for m in modifiers):
        return False
    return (len(base) == 1 and base.isprintable()) or base in KEY_NAMES


def _owners() -> tuple[type, ...]:
    from clawtui.tui.app import ClawApp

    return (ClawApp, *binding_owners())


def _bindings(owner: type) -> Iterable[Binding]:
    return (b for b in owner.__dict__.get("BINDINGS", []) if isinstance(b, Binding) and b.id)


def _keys(text: str) -> list[str]:
    return [key.strip() for key in text.split(",") if key.strip()]


def keymap_issues(settings: Settings) -> list[ConfigIssue]:
    """Unknown binding ids, key names that are not keys, and two bindings on one key."""
    label = str(settings.source) if settings.source else "(defaults)"
    keymap = {name: str(value) for name, value in settings.keymap.items()}
    issues: list[ConfigIssue] = []
    owners = _owners()
    known = binding_ids(owners)
    for name, value in sorted(keymap.items()):
        if name not in known:
            issues.append(
                ConfigIssue(label, f"keymap.{name}", "no binding has this id (see the help screen)")
            )
        bad = [key for key in _keys(value) if not is_key(key)]
        if bad or not _keys(value):
            issues.append(
                ConfigIssue(
                    label,
                    f"keymap.{name}",
                    f"not a key name: {', '.join(map(repr, bad)) or repr(value)} "
                    "(e.g. 'x', 'ctrl+x', 'f5', 'question_mark')",
                )
            )
    # Bindings that are active together: the app's with the main screen's, and each owner's own.
    app, main, *rest = owners
    for group in ((app, main), *((owner,) for owner in rest)):
        users: dict[str, list[str]] = {}
        for owner in group:
            for binding in _bindings(owner):
                assert binding.id is not None
                keys = _keys(keymap.get(binding.id, binding.key))
                for key in keys:
                    users.setdefault(key, []).append(binding.id)
        for key, ids in sorted(users.items()):
            remapped = [i for i in ids if i in keymap]
            if len(ids) > 1 and remapped:
                issues.append(
                    ConfigIssue(
                        label,
                        f"keymap.{remapped[0]}",
                        f"key {key!r} is bound to {' and '.join(ids)}: only one of them works",
                    )
                )
    return issues


def theme_issues(settings: Settings) -> list[ConfigIssue]:
    """`[tui] theme` that is neither built in nor in a theme folder; broken theme files."""
    label = str(settings.source) if settings.source else "(defaults)"
    loaded = load_themes([BUILTIN_THEMES_DIR, settings.tui.themes_dir])
    issues = [ConfigIssue(label, "tui.themes_dir", str(problem)) for problem in loaded.problems]
    names = set(BUILTIN_THEMES) | {theme.name for theme in loaded.themes}
    if settings.tui.theme not in names:
        issues.append(
            ConfigIssue(
                label,
                "tui.theme",
                f"no theme called {settings.tui.theme!r} (known: {', '.join(sorted(names))})",
            )
        )
    return issues


def tui_issues(settings: Settings) -> list[ConfigIssue]:
    """Every problem of the TUI's settings that loading config.toml cannot see."""
    return keymap_issues(settings) + theme_issues(settings)
