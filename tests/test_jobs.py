"""Jobs on the real server: decisions (skip, retrain, promotion by drift, refresh not there yet), history,
resuming an interrupted retrain, and the one-shot commands (`sync --if-changed`, `refresh`, `jobs ...`)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from tests.jobs_fixtures import tiny_scope
from vlkge_graph.cli import app
from vlkge_graph.config import Config, JobConditions, JobConfig
from vlkge_graph.graph.connection import Graph
from vlkge_graph.jobs.history import records
from vlkge_graph.jobs.runner import run_job

QUIET = Console(stderr=True, quiet=True)


@pytest.fixture
def scope(graph: Graph, neo4j_config: Config, unique_label: str, tmp_path: Path) -> Config:
    return tiny_scope(graph, neo4j_config, unique_label, tmp_path)


def job(action: str = "retrain", **when: object) -> JobConfig:
    return JobConfig(action=action, when=JobConditions(**when), lock_wait_s=30)  # type: ignore[arg-type]


def active_run_id(graph: Graph, scope: str) -> str | None:
    rows = graph.query("MATCH (r:VlkgeRun {scope: $s, active: true}) RETURN r.run_id AS id", s=scope)
    return rows[0]["id"] if rows else None


def test_retrain_job_syncs_a_new_scope_then_skips_while_unchanged(graph: Graph, scope: Config) -> None:
    name = f"retrain-{scope.sync.scope_name}"
    first = run_job(graph, scope, name, job(), console=QUIET)
    assert (first.status, first.action) == ("succeeded", "retrain"), first.error
    assert first.reason == "a full sync: the scope has no active run"
    assert list(first.stages) == ["export", "encode", "train", "evaluate", "predict", "publish", "report"]
    assert active_run_id(graph, scope.sync.scope_name) == first.run_id
    second = run_job(graph, scope, name, job(), trigger="cron", console=QUIET)
    assert (second.status, second.action) == ("skipped", None)
    assert f"unchanged since run {first.run_id}" in second.reason
    history = records(graph, job=name)
    assert [r["status"] for r in history] == ["skipped", "succeeded"]  # newest first
    assert history[0]["trigger"] == "cron" and history[0]["new_entities"] == 0 and history[0]["drift"] == 0
    assert json.loads(history[1]["stage_seconds"]).keys() == first.stages.keys()
    assert history[1]["run_id"] == first.run_id and history[1]["error"] is None


def test_refresh_without_an_active_run_says_to_sync_first(graph: Graph, scope: Config) -> None:
    out = run_job(graph, scope, "fold-in", job("refresh"), console=QUIET)
    assert out.status == "failed" and "run a sync first" in (out.error or "")
    assert records(graph, job="fold-in")[0]["error"] == out.error


def test_a_refresh_job_folds_the_change_in_and_records_it(graph: Graph, scope: Config) -> None:
    first = run_job(graph, scope, "first", job(), console=QUIET)
    assert first.status == "succeeded"
    graph.execute(f"MATCH (n:`{scope.sync.scope_name}` {{id: 'e03'}}) SET n.text = 'edited'")
    out = run_job(graph, scope, "fold-in", job("refresh"), console=QUIET)
    assert (out.status, out.error, out.action) == ("succeeded", None, "refresh"), out.error
    assert out.counts["changed_entities"] == 1 and set(out.stages) == {"export", "encode", "fold", "predict", "publish"}
    row = records(graph, job="fold-in")[0]
    assert (row["status"], row["run_id"], row["changed_entities"]) == ("succeeded", out.run_id, 1)
    active = graph.query("MATCH (r:VlkgeRun {scope: $s, active: true}) RETURN r.run_id AS id, r.parent AS parent",
                         s=scope.sync.scope_name)
    assert active == [{"id": out.run_id, "parent": first.run_id}]
    again = run_job(graph, scope, "fold-in", job("refresh"), console=QUIET)
    assert again.status == "skipped"  # the refreshed snapshot is the new baseline


def test_drift_promotes_a_refresh_to_a_retrain_and_says_so(graph: Graph, scope: Config) -> None:
    label = scope.sync.scope_name
    first = run_job(graph, scope, "first", job(), console=QUIET)
    graph.execute(f"UNWIND range(1, 4) AS i CREATE (n:`{label}`:Thing {{id: 'new' + i, text: 'newcomer ' + i}}) "
                  f"WITH n MATCH (m:`{label}` {{id: 'e01'}}) CREATE (n)-[:NEAR]->(m)")
    small = run_job(graph, scope, "fold-in", job("refresh", min_changed_entities=5), console=QUIET)
    assert small.status == "skipped" and "4 entities new, removed or edited, fewer than min_changed_entities 5" \
        in small.reason
    out = run_job(graph, scope, "fold-in", job("refresh", retrain_drift=0.1), console=QUIET)
    assert (out.status, out.action) == ("succeeded", "retrain"), out.error
    assert out.reason.startswith("promoted to retrain by drift: 16.7% >= retrain_drift 10.0% (4 new entities of 24, "
                                 "4 new facts of 36)")
    assert active_run_id(graph, label) == out.run_id != first.run_id
    row = records(graph, job="fold-in")[0]
    assert row["action"] == "retrain" and row["reason"] == out.reason and row["new_entities"] == 4


def test_a_retrain_warm_starts_from_the_active_run_with_its_optimizer_state(graph: Graph, scope: Config) -> None:
    """The retrain's training starts from the active run's parameters and optimiser state (rows matched by key);
    an active run without ``optimizer.pt`` (trained before it existed) gives a fresh optimiser state, said so."""
    label, runs = scope.sync.scope_name, Path(scope.sync.runs_dir)
    first = run_job(graph, scope, "first", job(), console=QUIET)
    assert first.status == "succeeded" and train_record(runs, first.run_id)["warm_start"] is None  # a first run
    assert (runs / first.run_id / "train" / "optimizer.pt").is_file()
    assert not (runs / first.run_id / "train" / "checkpoints").exists()  # resume copies, dropped once trained
    add = f"UNWIND $ids AS id CREATE (n:`{label}`:Thing {{id: id}}) WITH n MATCH (m:`{label}` {{id: 'e01'}}) " \
          "CREATE (n)-[:NEAR]->(m)"
    graph.execute(add, ids=["new1", "new2"])
    second = run_job(graph, scope, "nightly", job(), console=QUIET)
    assert (second.status, second.action) == ("succeeded", "retrain"), second.error
    warm = train_record(runs, second.run_id)["warm_start"]
    assert warm["from"] == str(runs / first.run_id / "train")
    assert (warm["entities"], warm["new_entities"], warm["relations"]) == (24, 2, 2)
    assert warm["optimizer_state"] == "carried for 2 parameters (epoch 2)"  # entity and relation tables
    (runs / second.run_id / "train" / "optimizer.pt").unlink()
    graph.execute(add, ids=["new3"])
    third = run_job(graph, scope, "nightly", job(), console=QUIET)
    assert third.status == "succeeded", third.error
    fresh = train_record(runs, third.run_id)["warm_start"]
    assert fresh["from"] == str(runs / second.run_id / "train") and fresh["optimizer_state"].startswith("fresh: ")


def train_record(runs: Path, run_id: str | None) -> dict:
    return json.loads((runs / str(run_id) / "run.json").read_text())["stages"]["train"]


def test_drift_counts_from_the_last_retrain_across_refreshes(graph: Graph, scope: Config) -> None:
    """Two refreshes each below the threshold add up: drift is measured against the last retrain's snapshot,
    not against the refreshed one (else a graph could drift without bound, one small refresh at a time)."""
    label = scope.sync.scope_name
    first = run_job(graph, scope, "first", job(), console=QUIET)
    add = f"UNWIND $ids AS id CREATE (n:`{label}`:Thing {{id: id, text: 'newcomer ' + id}})"
    graph.execute(add, ids=["new1", "new2"])
    step = run_job(graph, scope, "fold-in", job("refresh", retrain_drift=0.1), console=QUIET)
    assert (step.status, step.action, step.drift) == ("succeeded", "refresh", pytest.approx(2 / 24, abs=1e-6))
    graph.execute(add, ids=["new3"])
    out = run_job(graph, scope, "fold-in", job("refresh", retrain_drift=0.1), console=QUIET)
    assert (out.status, out.action) == ("succeeded", "retrain"), out.error  # 1 of 26 since the refresh, 3 of 24
    assert out.drift == pytest.approx(3 / 24, abs=1e-6)
    assert out.reason.startswith("promoted to retrain by drift: 12.5% >= retrain_drift 10.0% (3 new entities of 24, "
                                 f"0 new facts of 36 since retrain {first.run_id})"), out.reason


def test_an_interrupted_retrain_resumes_from_its_last_finished_stage(graph: Graph, scope: Config) -> None:
    stop = threading.Event()
    runs = Path(scope.sync.runs_dir)

    def stop_after_export() -> None:  # what SIGTERM does: the stage in progress finishes, no new one starts
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not stop.is_set():
            if any("export" in json.loads(p.read_text())["stages"] for p in runs.glob("*/run.json")):
                stop.set()
            time.sleep(0.01)

    watcher = threading.Thread(target=stop_after_export)
    watcher.start()
    first = run_job(graph, scope, "nightly", job(), stop=stop, console=QUIET)
    watcher.join()
    assert first.status == "interrupted" and "stopped before stage" in (first.error or ""), first
    assert "export" in first.stages and "publish" not in first.stages
    assert active_run_id(graph, scope.sync.scope_name) is None
    resumed = run_job(graph, scope, "nightly", job(), console=QUIET)
    assert (resumed.status, resumed.resumed_from, resumed.run_id) == ("succeeded", first.run_id, first.run_id)
    assert resumed.reason.startswith(f"resuming run {first.run_id} from stage ")
    assert set(first.stages) | set(resumed.stages) == {"export", "encode", "train", "evaluate", "predict", "publish",
                                                       "report"}
    assert not set(first.stages) & set(resumed.stages)  # nothing ran twice
    assert active_run_id(graph, scope.sync.scope_name) == first.run_id


def test_a_dead_run_is_marked_abandoned_and_resumed(graph: Graph, scope: Config) -> None:
    """A process killed mid-run leaves a `running` record and a half-done run directory behind."""
    from vlkge_graph.jobs import history
    from vlkge_graph.jobs.sync import new_run_dir, sync

    run_dir = new_run_dir(scope)
    dead = history.start_record(graph, job="nightly", scope=scope.sync.scope_name, trigger="cron", requested="retrain")
    history.update_record(graph, dead, action="retrain", run_dir=str(run_dir))
    sync(graph, scope, run_dir=run_dir, dry_run=True, console=QUIET)  # every stage but publish, then "killed"
    out = run_job(graph, scope, "nightly", job(), console=QUIET)
    assert (out.status, out.resumed_from, list(out.stages)) == ("succeeded", run_dir.name, ["publish", "report"])
    assert records(graph, job="nightly")[1]["status"] == "abandoned"


def test_one_scope_runs_one_job_at_a_time(graph: Graph, scope: Config) -> None:
    """Two runs started together: the second waits for the scope's job lock."""
    outcomes = []
    threads = [threading.Thread(target=lambda n=n: outcomes.append(
        run_job(graph, scope, f"job{n}", job(changed=False), console=QUIET))) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(o.status for o in outcomes) == ["succeeded", "succeeded"], [o.error for o in outcomes]
    spans = graph.query("MATCH (j:VlkgeJobRun {scope: $s}) RETURN j.locked_at AS a, j.finished_at AS b "
                        "ORDER BY a", s=scope.sync.scope_name)
    assert len(spans) == 2 and spans[0]["b"] <= spans[1]["a"]


def flat(text: str) -> str:
    """Console output without the line breaks of its 80-column wrapping."""
    return " ".join(text.split())


def cli_config(scope: Config, path: Path, **extra: object) -> Path:
    sync = scope.sync
    data = {"neo4j": {"uri": scope.neo4j.uri},
            "sync": {"graph": {"entity_labels": sync.graph.entity_labels}, "recipe": sync.recipe,
                     "predict": {"k": 3}, "runs_dir": sync.runs_dir, "device": "cpu"}, **extra}
    path.write_text(yaml.safe_dump(data))
    return path


def test_one_shot_commands(graph: Graph, scope: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEO4J_URI", raising=False)
    label = scope.sync.scope_name
    path = cli_config(scope, tmp_path / "vlkge.yaml", schedule={"jobs": {
        "hourly": {"cron": "0 * * * *", "action": "refresh", "when": {"retrain_drift": 0.2}},
        "adhoc": {"action": "retrain", "when": {"changed": False}}}})
    runner = CliRunner()
    listed = runner.invoke(app, ["jobs", "list", "-c", str(path)])
    assert listed.exit_code == 0 and "hourly" in listed.output and "on demand" in listed.output, listed.output
    refresh = runner.invoke(app, ["refresh", "-c", str(path)])
    assert refresh.exit_code == 1 and "run a sync first" in flat(refresh.output), refresh.output
    first = runner.invoke(app, ["sync", "--if-changed", "-c", str(path)])
    assert first.exit_code == 0 and "a full sync: the scope has no active run" in first.output, first.output
    again = runner.invoke(app, ["sync", "--if-changed", "-c", str(path)])
    assert again.exit_code == 0 and "skipped: scope" in again.output and "unchanged since run" in flat(again.output)
    graph.execute(f"MATCH (n:`{label}` {{id: 'e05'}}) SET n.text = 'edited'")
    refresh = runner.invoke(app, ["refresh", "-c", str(path)])
    assert refresh.exit_code == 0 and "refreshed:" in flat(refresh.output), refresh.output
    manual = runner.invoke(app, ["jobs", "run", "adhoc", "-c", str(path)])
    assert manual.exit_code == 0, manual.output
    # each run ends with its summary table (jobs/summary.py): readable fields, no Python reprs
    for out, words in ((refresh, ("fold", "folded in", "top-k lists touched")), (manual, ("train", "epochs"))):
        assert "stage" in out.output and "total" in out.output and "{'" not in out.output, out.output
        assert all(w in flat(out.output) for w in words), out.output
    unknown = runner.invoke(app, ["jobs", "run", "nope", "-c", str(path)])
    assert unknown.exit_code == 2 and "no job 'nope' in schedule.jobs" in flat(unknown.output)
    from vlkge_graph import cli

    monkeypatch.setattr(cli.console, "width", 250)  # the table folds words at the default 80 columns
    shown = runner.invoke(app, ["jobs", "history", "-c", str(path), "--scope", label])
    assert shown.exit_code == 0, shown.output
    for text in ("adhoc", "succeeded", "refresh", "failed", "skipped", "sync-if-changed", "manual"):
        assert text in shown.output, text
    bad = runner.invoke(app, ["sync", "--if-changed", "--from", "train", "-c", str(path)])
    assert bad.exit_code == 2 and "cannot resume" in flat(bad.output)
    assert replace(scope.sync, device="cpu").scope_name == label


def test_a_scope_lock_held_too_long_fails_the_job_with_a_clear_message(graph: Graph, scope: Config) -> None:
    from vlkge_graph.graph.lock import hold_lock

    label = scope.sync.scope_name
    with hold_lock(graph, f"job:{label}", lease_s=30, holder="another-scheduler"):
        out = run_job(graph, scope, "blocked", replace(job(), lock_wait_s=1), console=QUIET)
    assert out.status == "failed" and "stayed taken longer than lock_wait_s (1 s)" in (out.error or "")
    assert f"'job:{label}'" in (out.error or "")
    assert records(graph, job="blocked")[0]["status"] == "failed"
