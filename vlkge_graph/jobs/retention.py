"""Run-directory retention: what a scheduler refreshing a living graph all day leaves on disk.

Every sync and refresh writes a full run directory (snapshot, features, model, candidates), so a job that
refreshes every few minutes would fill the disk. After each publish the scope's superseded runs (published
before the active one) beyond the newest ``sync.keep_runs`` are removed, and every failed run:
- a refresh of a run that is no longer active (it can never publish: a refresh publishes only onto its parent);
- an unfinished sync older than the active run and untouched for a day (a running sync writes a checkpoint
  every epoch);
- before a job's refresh, which holds the scope's job lock, any other unfinished refresh: an earlier attempt
  that failed (jobs of a scope never overlap, and refreshes are not resumed).
Never removed: the active run (change detection compares with its snapshot, a retrain warm-starts from its
model), its last retrain (drift counts from it), published runs newer than it, and other unfinished syncs (the
runner resumes an interrupted retrain). Only directories this project created (``<scope>-<UTC time>
[-refreshN]`` holding a ``run.json`` of the scope) are touched.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from pathlib import Path

from rich.console import Console

from vlkge_graph.config import Config
from vlkge_graph.errors import ConfigError
from vlkge_graph.graph.connection import Graph
from vlkge_graph.jobs.changes import active_run, last_retrain_dir

log = logging.getLogger(__name__)

#: A run directory's name after ``<scope>-``: its UTC start time, and a refresh's number within that second.
RUN_NAME = re.compile(r"(\d{8}T\d{6})(?:-refresh(\d+))?")
#: An unfinished sync whose files have not changed for this long has stopped (failed, or killed).
IDLE_S = 24 * 3600


def run_order(scope: str, run_dir: Path) -> tuple[str, int] | None:
    """When the run started, as a sortable key; None for a directory this project did not name."""
    if not run_dir.name.startswith(f"{scope}-"):
        return None
    match = RUN_NAME.fullmatch(run_dir.name[len(scope) + 1:])
    return (match.group(1), int(match.group(2) or 0)) if match else None


def last_written(run_dir: Path) -> float:
    """When anything in ``run_dir`` last changed (seconds since the epoch)."""
    times = [run_dir.stat().st_mtime]
    for folder, _, files in os.walk(run_dir):
        times += [os.stat(os.path.join(folder, f)).st_mtime for f in files]
    return max(times)


def classify_runs(runs_dir: Path, scope: str, active: Path, *, attempts: bool = False) -> tuple[list[Path], list[Path]]:
    """``(superseded, failed)``: the scope's published runs older than ``active`` (oldest first) and its failed
    runs (see the module docstring; ``attempts``: called under the scope's job lock, before a refresh)."""
    from vlkge_graph.jobs.sync import RunState

    newest = run_order(scope, active)
    protected = {active.resolve(), last_retrain_dir(active).resolve()}
    superseded: list[tuple[tuple[str, int], Path]] = []
    failed: list[Path] = []
    for run_dir in runs_dir.iterdir():
        order = run_order(scope, run_dir)
        if order is None or newest is None or run_dir.resolve() in protected:
            continue
        try:
            state = RunState.load(run_dir)
        except ConfigError:
            continue
        if state.scope != scope:
            continue
        if "publish" in state.stages:
            if order < newest:
                superseded.append((order, run_dir))
        elif state.kind == "refresh":
            if attempts or state.parent != active.name:
                failed.append(run_dir)
        elif order < newest and time.time() - last_written(run_dir) >= IDLE_S:
            failed.append(run_dir)
    return [run_dir for _, run_dir in sorted(superseded)], sorted(failed)


def prune_runs(graph: Graph, config: Config, console: Console | None = None, *, attempts: bool = False) -> list[Path]:
    """Remove the scope's failed runs and its superseded runs beyond the newest ``sync.keep_runs``; returns them.

    Housekeeping after a publish (and, with ``attempts``, before a job's refresh): whatever goes wrong here is
    logged and never fails the run."""
    try:
        return _prune(graph, config, console, attempts)
    except Exception as exc:  # the run has published: cleanup must not turn it into a failure
        log.warning("run directory retention skipped: %s: %s", type(exc).__name__, exc)
        return []


def _prune(graph: Graph, config: Config, console: Console | None, attempts: bool) -> list[Path]:
    keep = config.sync.keep_runs
    scope = config.sync.scope_name
    run = active_run(graph, scope)
    if keep is None or run is None:
        return []
    runs_dir = Path(config.sync.runs_dir)
    active = runs_dir / run["run_id"]
    if not active.is_dir():
        return []
    superseded, failed = classify_runs(runs_dir, scope, active, attempts=attempts)
    removed = []
    for run_dir in [*failed, *superseded[:max(len(superseded) - keep, 0)]]:
        try:
            shutil.rmtree(run_dir)
            removed.append(run_dir)
        except OSError as exc:
            log.warning("could not remove the run directory %s: %s", run_dir, exc)
    if removed:
        (console or Console(stderr=True)).print(
            f"removed {len(removed)} failed or superseded run director{'y' if len(removed) == 1 else 'ies'} of "
            f"scope {scope} (sync.keep_runs: {keep}): {', '.join(d.name for d in removed)}")
    return removed
