"""Progress for long loops that degrades to plain lines where no one watches a terminal.

On a terminal, a transient rich bar; piped to a file or in CI (``console.is_terminal`` false) a rich bar
prints nothing until it ends, so there a plain line is printed every ``LINE_EVERY_S`` seconds or every
``LINE_EVERY_FRACTION`` of the work, whichever is rarer::

    encoding texts: 12,000/40,943 (29%), 45 s, ETA 110 s
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")

LINE_EVERY_S = 10.0
LINE_EVERY_FRACTION = 0.1


def stderr_console() -> Console:
    """Where progress goes when the caller gives no console: stderr, so stdout stays the command's output."""
    return Console(stderr=True)


def shows_bar(console: Console, enabled: bool = True) -> bool:
    """Whether a live bar can be seen: progress wanted and the console is a terminal."""
    return enabled and console.is_terminal


def bar_columns() -> tuple[ProgressColumn, ...]:
    """The project's bar: what, bar, done/total, elapsed, time left."""
    return (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TimeRemainingColumn())


class Tracker:
    """Counts the work done in one loop; shows it as a bar or as occasional plain lines."""

    def __init__(self, description: str, total: int, console: Console, enabled: bool) -> None:
        self.description, self.total, self.console = description, total, console
        self.done = 0
        self.lines = enabled and not console.is_terminal
        self.bar: Progress | None = None
        self.task: TaskID | None = None
        if shows_bar(console, enabled):
            self.bar = Progress(*bar_columns(), console=console, transient=True)
            self.task = self.bar.add_task(description, total=total)
        self.started = self.last_time = time.perf_counter()
        self.last_done = 0
        self.printed = False

    def advance(self, n: int = 1) -> None:
        """Record ``n`` more items done."""
        self.done += n
        if self.bar is not None and self.task is not None:
            self.bar.advance(self.task, n)
        elif self.lines:
            now = time.perf_counter()
            if (now - self.last_time >= LINE_EVERY_S
                    and self.done - self.last_done >= LINE_EVERY_FRACTION * max(self.total, 1)):
                self._line(now)

    def _line(self, now: float) -> None:
        elapsed = now - self.started
        share = self.done / self.total if self.total else 1.0
        text = f"{self.description}: {self.done:,}/{self.total:,} ({share:.0%}), {elapsed:.0f} s"
        if 0 < share < 1:
            text += f", ETA {elapsed * (1 - share) / share:.0f} s"
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)
        self.last_time, self.last_done, self.printed = now, self.done, True

    def close(self) -> None:
        """Stop the bar; a loop that printed lines ends with a last one."""
        if self.bar is not None:
            self.bar.stop()
        elif self.printed and self.done != self.last_done:
            self._line(time.perf_counter())


@contextmanager
def progress(description: str, total: int, *, console: Console | None = None,
             enabled: bool = True) -> Iterator[Tracker]:
    """A :class:`Tracker` for ``total`` items: ``with progress("encoding texts", n) as p: ... p.advance(k)``.
    ``enabled=False`` shows nothing."""
    tracker = Tracker(description, total, console or stderr_console(), enabled)
    if tracker.bar is not None:
        tracker.bar.start()
    try:
        yield tracker
    finally:
        tracker.close()


def track(items: Sequence[T], description: str, *, console: Console | None = None,
          enabled: bool = True) -> Iterator[T]:
    """``items`` one by one, counted by :func:`progress` as each is finished."""
    with progress(description, len(items), console=console, enabled=enabled) as tracker:
        for item in items:
            yield item
            tracker.advance()
