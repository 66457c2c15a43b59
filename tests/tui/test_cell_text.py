"""Text cells drawn once per length (widgets/cell_text.py) are the segments rich draws for
them: every justification, style, width, padding and cursor style of a DataTable cell, and the
texts that must go through rich (wide characters, spaces at an end, spans, too long)."""

from __future__ import annotations

import random
import string
from collections.abc import Callable

import pytest
from rich.console import Console
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.renderables.styled import Styled

from clawtui.tui.widgets.cell_text import TextCells

CONSOLE = Console(width=200, color_system="truecolor", legacy_windows=False)
LOOKS = [
    (Style(color="white", bgcolor="black"), Style(bold=True)),
    (Style(bgcolor="#224466"), Style()),
    (Style(), Style(color="red", reverse=True)),
]


def _renderer(
    width: int, padding: int, height: int, pre: Style, post: Style
) -> Callable[[Text], list[list[Segment]]]:
    def render(text: Text) -> list[list[Segment]]:
        options = CONSOLE.options.update_dimensions(width, height)
        if height == 1:
            options = options.update(no_wrap=True)
        return CONSOLE.render_lines(
            Styled(Padding(text, (0, padding)), pre_style=pre, post_style=post), options
        )

    return render


def _texts(rng: random.Random) -> list[Text]:
    alphabet = string.ascii_letters + string.digits + string.punctuation + "  "
    texts = []
    for _ in range(300):
        plain = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        texts.append(
            Text(
                plain,
                style=rng.choice(["", "green", "bold red on blue", "italic"]),
                justify=rng.choice([None, "left", "right", "center", "full", "default"]),
                no_wrap=rng.choice([True, False]),
                overflow=rng.choice([None, "crop", "ellipsis", "fold"]),
            )
        )
    texts += [
        Text("5m 12s", justify="right"),
        Text(" lead", justify="right"),
        Text("trail ", justify="right"),
        Text("名前", no_wrap=True),
        Text("tab\there"),
        Text("two\nlines"),
        Text.assemble(("ab", "red"), ("cd", "blue")),
        Text("x" * 40, justify="right"),
    ]
    return texts


@pytest.mark.parametrize(
    ("width", "padding", "height"), [(8, 1, 1), (20, 1, 1), (7, 0, 1), (12, 2, 2)]
)
def test_text_cells_are_the_segments_rich_draws(width: int, padding: int, height: int) -> None:
    rng = random.Random(width * 100 + padding)
    cells = TextCells()
    for pre, post in LOOKS:
        render = _renderer(width, padding, height, pre, post)
        look = (pre, post, width, padding, height)
        for text in _texts(rng):
            expected = render(text)
            for _ in range(2):  # drawn, then from what was kept
                got = cells.lines(text, look, width - 2 * padding, render)
                assert got == expected, (text, text.justify, text.style, width)


def test_plain_texts_of_one_length_are_drawn_by_rich_once() -> None:
    calls: list[str] = []
    inner = _renderer(9, 1, 1, Style(bgcolor="black"), Style())

    def render(text: Text) -> list[list[Segment]]:
        calls.append(text.plain)
        return inner(text)

    cells = TextCells()
    for second in range(60):
        value = Text(f"5m {second}s", justify="right", no_wrap=True)
        assert cells.lines(value, "look", 7, render) == inner(value)
    assert calls == ["xxxxx", "xxxxxx"]  # "5m 0s".."5m 9s", then "5m 10s".."5m 59s"
