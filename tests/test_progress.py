"""Progress that degrades to plain lines when the output is not a terminal (vlkge_graph/progress.py)."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from rich.console import Console

from vlkge_graph import progress as progress_module
from vlkge_graph.progress import progress, track


def test_plain_lines_at_most_every_tenth_when_piped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_module, "LINE_EVERY_S", 0.0)  # only the 10% rule limits the lines
    out = StringIO()
    with progress("encoding texts", 40_943, console=Console(file=out, force_terminal=False)) as bar:
        for _ in range(0, 40_943, 1_000):
            bar.advance(min(1_000, 40_943 - bar.done))
    lines = out.getvalue().splitlines()
    assert 9 <= len(lines) <= 11, lines
    assert re.fullmatch(r"encoding texts: 5,000/40,943 \(12%\), \d+ s, ETA \d+ s", lines[0]), lines[0]
    assert lines[-1].startswith("encoding texts: 40,943/40,943 (100%), ")
    assert "ETA" not in lines[-1]


def test_short_loops_and_disabled_progress_print_nothing() -> None:
    out = StringIO()
    console = Console(file=out, force_terminal=False)
    assert list(track([1, 2, 3], "quick", console=console)) == [1, 2, 3]  # under LINE_EVERY_S: silent
    with progress("off", 10, console=Console(file=out, force_terminal=True), enabled=False) as bar:
        bar.advance(10)
    assert out.getvalue() == ""


def test_a_terminal_gets_a_bar() -> None:
    out = StringIO()
    with progress("ranking", 4, console=Console(file=out, force_terminal=True, width=100)) as bar:
        bar.advance(4)
    assert "ranking" in out.getvalue()
