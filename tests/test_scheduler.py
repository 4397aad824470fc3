"""`vlkge-graph scheduler` as a real process: jobs every few seconds on the real server, history, a failing
job retried without stopping the scheduler, SIGTERM and resume, and two schedulers sharing one scope."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.jobs_fixtures import TINY_RECIPE, tiny_scope
from vlkge_graph.config import Config
from vlkge_graph.etl.sources import PROJECT_ROOT
from vlkge_graph.graph.connection import Graph

pytestmark = pytest.mark.slow


def write_config(path: Path, cfg: Config, jobs: dict[str, Any], scopes: dict[str, Any] | None = None) -> Path:
    sync = cfg.sync
    assert sync.graph is not None
    data = {"neo4j": {"uri": cfg.neo4j.uri},
            "sync": {"graph": {"entity_labels": sync.graph.entity_labels}, "recipe": sync.recipe,
                     "predict": {"k": 3}, "runs_dir": sync.runs_dir, "device": "cpu"},
            "scopes": scopes or {},
            "schedule": {"timezone": "UTC", "stop_grace_s": 120, "jobs": jobs}}
    path.write_text(yaml.safe_dump(data))
    return path


@contextmanager
def scheduler_process(config: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    env.pop("NEO4J_URI", None)  # the configuration file names the server
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "vlkge_graph.cli", "scheduler", "-c", str(config)],
                                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=config.parent)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def stop(proc: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the scheduler did not stop within {timeout} s of SIGTERM:\n{log.read_text()[-3000:]}")


def wait_for(what: str, check: Callable[[], bool], log: Path, proc: subprocess.Popen[bytes] | None = None,
             timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the scheduler exited ({proc.returncode}) before {what}:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")


def history(graph: Graph, scope: str) -> list[dict[str, Any]]:
    return [r["j"] for r in graph.query("MATCH (j:VlkgeJobRun) WHERE j.scope STARTS WITH $s "
                                        "RETURN properties(j) AS j ORDER BY j.started_at", s=scope)]


@pytest.fixture
def tiny(graph: Graph, neo4j_config: Config, unique_label: str, tmp_path: Path) -> Config:
    return tiny_scope(graph, neo4j_config, unique_label, tmp_path)


def test_scheduler_runs_records_survives_failures_stops_on_sigterm_and_resumes(graph: Graph, tiny: Config,
                                                                               tmp_path: Path) -> None:
    label = tiny.sync.scope_name
    broken = {"graph": {"entity_labels": [f"{label}Missing"]}, "recipe": tiny.sync.recipe,
              "runs_dir": tiny.sync.runs_dir, "scope": f"{label}-broken"}
    config = write_config(tmp_path / "vlkge.yaml", tiny, scopes={"broken": broken}, jobs={
        "tiny": {"cron": "*/3 * * * * *", "action": "retrain", "retries": 0},
        "broken": {"cron": "*/4 * * * * *", "action": "retrain", "scope": "broken", "retries": 1,
                   "retry_backoff_s": 1}})
    log = tmp_path / "scheduler.log"

    def runs(job: str, **match: Any) -> list[dict[str, Any]]:
        return [r for r in history(graph, label) if r["job"] == job and all(r.get(k) == v for k, v in match.items())]

    with scheduler_process(config, log) as proc:
        wait_for("a retrain, then a skipped run, of the tiny scope, and a failed job retried twice",
                 lambda: len(runs("tiny", status="skipped")) >= 1 and len(runs("broken", trigger="retry")) >= 2,
                 log, proc)
        first = runs("tiny", status="succeeded")[0]
        assert first["action"] == "retrain" and json.loads(first["stage_seconds"]).keys() == {
            "export", "encode", "train", "evaluate", "predict", "publish", "report"}
        assert "unchanged since run " + first["run_id"] in runs("tiny", status="skipped")[0]["reason"]
        failed = [r for r in runs("broken") if r["status"] != "running"]  # the next one may be under way
        assert {r["status"] for r in failed} == {"failed"}
        assert {r["attempt"] for r in failed} >= {1, 2}
        assert "no node has the label" in failed[0]["error"]
        assert proc.poll() is None  # failures never stop the scheduler

        # A change makes the next run retrain (with a longer training, so that it is still running when the
        # signal comes); SIGTERM once its export is done: the stage in progress finishes, no further one
        # starts, and the run is recorded as interrupted.
        Path(tiny.sync.recipe).write_text(TINY_RECIPE.replace("EPOCHS", "300"))  # ~30 s, within the grace
        graph.execute(f"MATCH (n:`{label}` {{id: 'e07'}}) SET n.text = 'changed while scheduled'")
        wait_for("the retrain of the change to finish its export", lambda: any(
            r["status"] == "running" and r.get("run_dir") and "export" in json.loads(
                Path(r["run_dir"], "run.json").read_text())["stages"] for r in runs("tiny")), log, proc)
        assert stop(proc, log) == 0
    interrupted = runs("tiny")[-1]
    assert interrupted["status"] == "interrupted" and "stopped before stage" in interrupted["error"], interrupted
    assert not [r for r in history(graph, label) if r["status"] == "running"]
    done_before = set(json.loads(interrupted["stage_seconds"]))
    assert "export" in done_before and "publish" not in done_before

    with scheduler_process(config, log) as proc:  # a restart resumes the interrupted run
        wait_for("the interrupted run to be resumed", lambda: bool(runs("tiny", trigger="resume", status="succeeded")),
                 log, proc)
        assert stop(proc, log) == 0
    resumed = runs("tiny", trigger="resume")[0]
    assert resumed["resumed_from"] == interrupted["run_id"] == resumed["run_id"]
    done_after = set(json.loads(resumed["stage_seconds"]))
    assert done_before | done_after == {"export", "encode", "train", "evaluate", "predict", "publish", "report"}
    assert not done_before & done_after
    active = graph.query("MATCH (r:VlkgeRun {scope: $s, active: true}) RETURN r.run_id AS id", s=label)
    assert active == [{"id": interrupted["run_id"]}]


def test_two_schedulers_never_run_jobs_of_one_scope_at_once(graph: Graph, neo4j_config: Config, tmp_path: Path) -> None:
    label = f"Two{uuid.uuid4().hex[:10]}"
    cfg = tiny_scope(graph, neo4j_config, label, tmp_path)
    config = write_config(tmp_path / "vlkge.yaml", cfg, jobs={
        "always": {"cron": "*/2 * * * * *", "action": "retrain", "when": {"changed": False}, "lock_wait_s": 120}})
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    with scheduler_process(config, logs[0]) as a, scheduler_process(config, logs[1]) as b:
        wait_for("four runs from both schedulers", lambda: len({r["pid"] for r in history(graph, label)
                                                                if r["status"] == "succeeded"}) == 2
                 and len([r for r in history(graph, label) if r["status"] == "succeeded"]) >= 4, logs[0], a)
        assert stop(a, logs[0]) == 0 and stop(b, logs[1]) == 0
    runs = [r for r in history(graph, label) if r.get("locked_at") is not None and r.get("finished_at") is not None]
    spans = sorted((r["locked_at"].to_native(), r["finished_at"].to_native(), r["pid"]) for r in runs)
    for (_, end, _), (start, _, _) in pairwise(spans):
        assert end <= start, spans  # the scope's job lock: one at a time
    assert {r["status"] for r in history(graph, label)} <= {"succeeded", "interrupted"}


def test_sigterm_abandons_a_stage_that_outlasts_the_grace(graph: Graph, neo4j_config: Config, tmp_path: Path) -> None:
    """`jobs run` with stop_grace_s 1 and a long training: SIGTERM abandons the stage, records the run as
    interrupted, frees the scope's lock and exits with 143; the job's next run would resume it."""
    from vlkge_graph.jobs.runner import next_stage, resumable_run

    label = f"Term{uuid.uuid4().hex[:10]}"
    cfg = tiny_scope(graph, neo4j_config, label, tmp_path, epochs=500)
    config = write_config(tmp_path / "vlkge.yaml", cfg, jobs={"slow": {"action": "retrain"}})
    config.write_text(config.read_text().replace("stop_grace_s: 120", "stop_grace_s: 1"))
    log = tmp_path / "run.log"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    env.pop("NEO4J_URI", None)
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "vlkge_graph.cli", "jobs", "run", "slow", "-c", str(config)],
                                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    try:
        runs = Path(cfg.sync.runs_dir)
        wait_for("the training stage to start", lambda: any(
            "encode" in json.loads(p.read_text())["stages"] for p in runs.glob("*/run.json")), log, proc)
        started = time.monotonic()
        assert stop(proc, log, timeout=60) == 143
        assert time.monotonic() - started < 30  # abandoned, not finished: 500 epochs take far longer
    finally:
        if proc.poll() is None:
            proc.kill()
    record = history(graph, label)[-1]
    assert record["status"] == "interrupted" and "stopped during a stage" in record["error"], record
    lock = graph.query("MATCH (l:VlkgeLock {name: $n}) RETURN l.holder AS holder", n=f"job:{label}")
    assert lock == [{"holder": None}]  # released: the next run need not wait for the lease
    run_dir = resumable_run(graph, "slow", record_id="none")
    assert run_dir is not None and run_dir.name == record["run_id"] and next_stage(run_dir) == "train"
