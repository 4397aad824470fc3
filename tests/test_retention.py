"""Run-directory retention on a real sync / refresh chain: superseded runs, dead refreshes and stopped syncs
beyond ``sync.keep_runs`` go; the active run, its last retrain, a sync that may be running and directories the
project did not create stay."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from tests.jobs_fixtures import tiny_scope
from vlkge_graph.config import Config, JobConfig, SyncConfig
from vlkge_graph.errors import ConfigError
from vlkge_graph.graph.connection import Graph
from vlkge_graph.jobs.changes import detect_changes
from vlkge_graph.jobs.refresh import refresh
from vlkge_graph.jobs.runner import run_job
from vlkge_graph.jobs.sync import RunState, new_run_dir, sync

pytestmark = pytest.mark.neo4j


def add_node(graph: Graph, label: str, key: str) -> None:
    graph.execute(f"CREATE (n:`{label}`:Thing {{id: $key, text: 'a newcomer'}}) WITH n "
                  f"MATCH (m:`{label}` {{id: 'e05'}}) CREATE (n)-[:NEAR]->(m)", key=key)


def test_superseded_runs_beyond_keep_runs_are_removed(graph: Graph, neo4j_config: Config, unique_label: str,
                                                      tmp_path: Path) -> None:
    base = tiny_scope(graph, neo4j_config, unique_label, tmp_path)
    cfg = replace(base, sync=replace(base.sync, keep_runs=1))
    runs = Path(cfg.sync.runs_dir)
    stopped = new_run_dir(cfg)  # an unfinished sync untouched for two days: stopped, superseded
    for path in [stopped, *stopped.rglob("*")]:
        os.utime(path, (time.time() - 2 * 86400,) * 2)
    time.sleep(1.1)  # run directories are named by the second
    unfinished = new_run_dir(cfg)  # an unfinished sync written to lately (it may be running): kept
    (runs / "notes").mkdir()  # not the project's
    time.sleep(1.1)
    first = sync(graph, cfg, device="cpu").run_id
    time.sleep(1.1)
    retrain = sync(graph, cfg, device="cpu").run_id
    assert (runs / first).is_dir()  # one superseded run is kept
    dead = new_run_dir(cfg, kind="refresh", parent=first)  # a failed refresh of a run no longer active
    refreshes = []
    for key in ("n1", "n2", "n3"):
        add_node(graph, unique_label, key)
        refreshes.append(refresh(graph, cfg, detect_changes(graph, cfg.sync), device="cpu").run_id)
        assert RunState.load(runs / refreshes[-1]).retrain == retrain
    left = sorted(d.name for d in runs.iterdir())
    assert dead.name not in left and stopped.name not in left  # unfinished, but it can never publish / has stopped
    assert left == sorted([unfinished.name, "notes", retrain, refreshes[1], refreshes[2]])
    # drift still counts from the last retrain, whose snapshot stayed, not from the oldest refresh left
    add_node(graph, unique_label, "n4")
    changes = detect_changes(graph, cfg.sync)
    assert changes.since_retrain is not None and changes.since_retrain["run_id"] == retrain
    assert changes.since_retrain["new_entities"] == 4
    # a refresh job removes the attempts that failed before it (it holds the scope's job lock)
    attempts = [new_run_dir(cfg, kind="refresh", parent=refreshes[-1]) for _ in range(2)]
    outcome = run_job(graph, cfg, "fresh", JobConfig(action="refresh"), console=Console(quiet=True))
    assert outcome.status == "succeeded", outcome.error
    left = sorted(d.name for d in runs.iterdir())
    assert not any((runs / a).exists() for a in {a.name for a in attempts} - {outcome.run_id})  # (names recur)
    assert left == sorted([unfinished.name, "notes", retrain, refreshes[2], outcome.run_id])


def test_keep_runs_must_be_a_count_or_null() -> None:
    with pytest.raises(ConfigError, match=r"sync\.keep_runs"):
        SyncConfig(keep_runs=-1)
    assert SyncConfig(keep_runs=None).keep_runs is None


def test_refresh_names_sort_in_start_order_after_a_removal(tmp_path: Path) -> None:
    """Refreshes of one second are numbered after the highest number there, so retention, which orders runs by
    name, never takes a later run for an earlier one after it removed one of them."""
    import shutil

    from vlkge_graph.jobs.retention import run_order

    cfg = Config(sync=SyncConfig(scope="S", runs_dir=str(tmp_path)))
    first = new_run_dir(cfg, kind="refresh", parent="p")
    second = new_run_dir(cfg, kind="refresh", parent="p")
    shutil.rmtree(first)
    third = new_run_dir(cfg, kind="refresh", parent="p")
    order = [run_order("S", d) for d in (first, second, third)]
    assert order[0] < order[1] < order[2], [d.name for d in (first, second, third)]
