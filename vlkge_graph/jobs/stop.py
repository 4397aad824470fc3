"""SIGTERM / SIGINT for long-running jobs: finish the stage in progress, or abandon it cleanly.

The first signal sets ``event``: a running sync stops before its next stage (its run directory keeps the
finished ones, and the job's next run resumes from there) and no new job starts. If the stage in progress
takes longer than ``grace_s``, or a second signal comes, the stage is abandoned: the running jobs are
recorded as interrupted, their locks released, and the process exits with status 143. Abandoning is safe:
a publish becomes visible in one transaction or not at all, and training resumes from its checkpoints.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from vlkge_graph.jobs import history
from vlkge_graph.jobs.runner import ACTIVE

log = logging.getLogger(__name__)

EXIT_STATUS = 128 + signal.SIGTERM


class GracefulStop:
    """Install with ``install()`` in the main thread; ``event`` is what jobs watch."""

    def __init__(self, grace_s: float, on_first: Callable[[], None] | None = None) -> None:
        self.grace_s, self.on_first = grace_s, on_first
        self.event = threading.Event()
        self._previous: dict[int, Any] = {}

    def install(self) -> GracefulStop:
        """Handle SIGTERM and SIGINT (only possible in the main thread; elsewhere the defaults stay)."""
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def restore(self) -> None:
        """Put back the handlers ``install`` replaced (a one-shot command inside a longer-lived process)."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.event.is_set():
            self.abandon(f"a second {name}")
        self.event.set()
        log.warning("%s: finishing the stage in progress (at most %.0f s), then stopping; send it again to "
                    "stop at once", name, self.grace_s)
        if self.on_first is not None:
            self.on_first()
        timer = threading.Timer(self.grace_s, self.abandon, args=(f"{name}, and the stage took longer than "
                                                                  f"stop_grace_s ({self.grace_s:.0f} s)",))
        timer.daemon = True
        timer.start()

    def abandon(self, why: str) -> None:
        """Record the running jobs as interrupted, release their locks, exit."""
        for record_id, (graph, lease) in list(ACTIVE.items()):
            try:
                history.finish_record(graph, record_id, status="interrupted", error=(
                    f"stopped during a stage ({why}); the run directory keeps its finished stages and the "
                    "job's next run resumes from there"))
                lease.release()
            except Exception as exc:  # Neo4j gone: the lease expires and the next run marks it abandoned
                log.error("could not record the interruption of %s: %s", record_id, exc)
        log.warning("stopped: %s", why)
        logging.shutdown()
        os._exit(EXIT_STATUS)
