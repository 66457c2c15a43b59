"""clawtui.cli._common: errors become one stderr line and an exit code; JSON and table output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from clawtui.cli._common import (
    EXIT_FAIL,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    UsageError,
    error,
    format_table,
    print_json,
    print_rows,
    printable,
    report,
)


def test_exit_codes_keep_their_values() -> None:
    assert (EXIT_OK, EXIT_FAIL, EXIT_USAGE) == (0, 1, 2)


def test_usage_error_exits_2_with_the_clawtui_prefix(capsys: pytest.CaptureFixture[str]) -> None:
    assert report(UsageError("--limit must be 1-10000")) == EXIT_USAGE
    out, err = capsys.readouterr()
    assert out == "" and err == "clawtui: --limit must be 1-10000\n"


def test_command_error_exits_1_unless_it_carries_a_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert report(CommandError("service unreachable")) == EXIT_FAIL
    assert report(CommandError("HTTP 404: no such escalation", code=EXIT_USAGE)) == EXIT_USAGE
    assert capsys.readouterr().err == (
        "clawtui: service unreachable\nclawtui: HTTP 404: no such escalation\n"
    )


def test_the_error_prefix_wins_over_the_callers(capsys: pytest.CaptureFixture[str]) -> None:
    assert report(UsageError("bad", prefix="clawtui relay"), "clawtui pool") == EXIT_USAGE
    assert report(CommandError(ValueError("gone")), "clawtui pool") == EXIT_FAIL
    assert capsys.readouterr().err == "clawtui relay: bad\nclawtui pool: gone\n"


def test_other_exceptions_and_text_fail_with_1_or_the_code_given(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert report(OSError("disk full"), "clawtui dev") == EXIT_FAIL
    assert report("no pools are configured", "clawtui pool", code=EXIT_USAGE) == EXIT_USAGE
    assert report(UsageError("x"), code=EXIT_FAIL) == EXIT_FAIL  # an explicit code wins
    assert capsys.readouterr().err == (
        "clawtui dev: disk full\nclawtui pool: no pools are configured\nclawtui: x\n"
    )


def test_details_are_indented_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    error("container exited\nlast line 1\nlast line 2", "clawtui dev", indent_details=True)
    error("the configuration has problems:\nengine.bogus: extra")
    assert capsys.readouterr().err == (
        "clawtui dev: container exited\n  last line 1\n  last line 2\n"
        "clawtui: the configuration has problems:\nengine.bogus: extra\n"
    )


def test_print_json_is_indented_and_ascii_unless_asked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_json({"name": "é", "n": [1]})
    assert capsys.readouterr().out == '{\n  "name": "\\u00e9",\n  "n": [\n    1\n  ]\n}\n'
    print_json({"name": "é"}, ensure_ascii=False)
    out = capsys.readouterr().out
    assert out == '{\n  "name": "é"\n}\n' and json.loads(out) == {"name": "é"}


def test_print_rows_json_empty_or_one_line_each(capsys: pytest.CaptureFixture[str]) -> None:
    print_rows([], False, "no escalations", print)
    print_rows([{"id": 1}, {"id": 2}], False, "none", lambda r: print(f"#{r['id']}"))
    assert capsys.readouterr().out == "no escalations\n#1\n#2\n"
    print_rows([], True, "no escalations", print)
    assert capsys.readouterr().out == "[]\n"


def test_format_table_pads_all_but_the_last_column() -> None:
    rows = [["NAME", "HOST", "REASON"], ["dev-a", "local", ""], ["b", "h", "too big"]]
    assert format_table(rows).splitlines() == [
        "NAME   HOST   REASON",
        "dev-a  local",
        "b      h      too big",
    ]


def test_printable() -> None:
    assert printable("a\x1b[31mb\nc") == "a [31mb c"
    assert printable("a\x07\nb", keep_newlines=True) == "a \nb"


def test_handler_errors_reach_stderr_through_main(capsys: pytest.CaptureFixture[str]) -> None:
    from clawtui.cli import main

    config = Path(__file__).resolve().parents[2] / "config.toml"
    assert main(["mem", "history", "--limit", "0", "--config", str(config)]) == EXIT_USAGE
    assert capsys.readouterr().err == "clawtui mem history: --limit must be 1-10000\n"


def test_import_clawtui_cli_stays_light() -> None:
    code = "import sys, clawtui.cli; print(sorted(m for m in sys.modules if m[:7] == 'clawtui'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['clawtui', 'clawtui.cli']"
    code = "from clawtui.cli import main; print(callable(main), main.__module__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True clawtui.cli.entry"
