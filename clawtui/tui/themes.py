"""Theme files: `themes/*.toml` read as data, validated, and turned into Textual themes.

Themes are user-editable files, so they are untrusted input like any other: each file is read
with a size cap, parsed, and validated with a pydantic model (every color must parse as a
Textual color). A broken file is reported as a `ThemeProblem` and skipped; it never stops the
app from starting. Registering the result is the app's job (`App.register_theme`), which keeps
Textual's global theme table untouched.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from textual.color import Color, ColorParseError
from textual.theme import Theme

import clawtui

MAX_THEME_BYTES = 64 * 1024
"""A theme file larger than this is refused unread."""

BUILTIN_THEMES_DIR = Path(clawtui.__file__).resolve().parent.parent / "themes"
"""The themes shipped with clawtui, at the root of the source tree."""


def _check_color(value: str) -> str:
    try:
        Color.parse(value)
    except ColorParseError as exc:
        raise ValueError(f"not a color: {value!r} ({exc})") from None
    return value


ColorText = Annotated[str, AfterValidator(_check_color)]


class ThemeFile(BaseModel):
    """The contents of one `themes/*.toml` file."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="Name used in config (`[tui] theme`) and in the theme picker.",
    )
    dark: bool = Field(description="True for a dark theme (light text on a dark background).")
    primary: ColorText = Field(description="Main accent: focused borders, active tab, cursor.")
    secondary: ColorText = Field(description="Second accent color.")
    accent: ColorText = Field(description="Highlights that must stand out from primary.")
    foreground: ColorText = Field(description="Default text color.")
    background: ColorText = Field(description="Screen background.")
    surface: ColorText = Field(description="Background of widgets such as tables.")
    panel: ColorText = Field(description="Background of headers and panels.")
    success: ColorText = Field(description="Healthy: running containers, memory with room.")
    warning: ColorText = Field(description="Needs attention: low memory, hosts connecting.")
    error: ColorText = Field(description="Broken: offline hosts, overcommitted memory.")
    variables: dict[str, str] = Field(
        default_factory=dict, description="Extra Textual CSS variables, e.g. footer-key-foreground."
    )

    def to_theme(self) -> Theme:
        return Theme(
            name=self.name,
            dark=self.dark,
            primary=self.primary,
            secondary=self.secondary,
            accent=self.accent,
            foreground=self.foreground,
            background=self.background,
            surface=self.surface,
            panel=self.panel,
            success=self.success,
            warning=self.warning,
            error=self.error,
            variables=dict(self.variables),
        )


@dataclass(frozen=True)
class ThemeProblem:
    """Why one theme file was skipped."""

    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class ThemeLoad:
    """Every theme found, and every file that could not be used."""

    themes: list[Theme] = field(default_factory=list)
    problems: list[ThemeProblem] = field(default_factory=list)


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "(file)"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def load_theme_file(path: Path) -> Theme:
    """Read and validate one theme file; raises ValueError with a message for a person."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_THEME_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_THEME_BYTES:
        raise ValueError(f"too large (the limit is {MAX_THEME_BYTES // 1024} KiB)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not valid UTF-8 at byte {exc.start}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"not valid TOML: {exc}") from None
    try:
        return ThemeFile.model_validate(data).to_theme()
    except ValidationError as exc:
        raise ValueError(_validation_message(exc)) from None


def load_themes(directories: Iterable[Path | None]) -> ThemeLoad:
    """Load `*.toml` from each folder in order; a later folder overrides a theme by name.

    A folder that does not exist is skipped silently for the built-in one and reported for
    any other (it was named in config).
    """
    result = ThemeLoad()
    by_name: dict[str, Theme] = {}
    for directory in directories:
        if directory is None:
            continue
        if not directory.is_dir():
            if directory != BUILTIN_THEMES_DIR:
                result.problems.append(ThemeProblem(directory, "themes folder not found"))
            continue
        for path in sorted(directory.glob("*.toml")):
            try:
                theme = load_theme_file(path)
            except ValueError as exc:
                result.problems.append(ThemeProblem(path, str(exc)))
                continue
            by_name[theme.name] = theme
    result.themes = list(by_name.values())
    return result
