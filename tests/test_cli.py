"""The typer CLI: the training commands run through it, and importing it stays free of torch."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import yaml
from typer.testing import CliRunner

from tests.test_training import kinships_or_skip
from vlkge_graph.cli import app


def test_importing_the_cli_does_not_import_torch() -> None:
    """`vlkge-graph --help` and the graph commands must not pay torch's import (about a second)."""
    code = "import sys, vlkge_graph.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_train_and_evaluate_through_the_cli(tmp_path: Path) -> None:
    kinships_or_skip()
    recipe = tmp_path / "kin.yaml"
    recipe.write_text(yaml.safe_dump({
        "dataset": "kinships", "name": "kin-cli", "model": {"backbone": "distmult", "dim": 16},
        "training": {"mode": "1vsall", "loss": "cross_entropy", "optimizer": "adam", "lr": 0.02,
                     "batch_size": 1024, "epochs": 2}}))
    out = tmp_path / "run"
    runner = CliRunner()
    trained = runner.invoke(app, ["train", "--recipe", str(recipe), "--output", str(out), "--device", "cpu"])
    assert trained.exit_code == 0, trained.output
    mrr = json.loads((out / "metrics.json").read_text())["test"]["overall"]["mrr"]
    assert 0 < mrr <= 1
    evaluated = runner.invoke(app, ["evaluate", "--model", str(out), "--split", "valid", "--output", str(tmp_path)])
    assert evaluated.exit_code == 0, evaluated.output
    assert (tmp_path / "metrics-valid.json").exists()


def test_unpublish_through_the_cli(graph, neo4j_config, unique_label: str, monkeypatch) -> None:
    """`vlkge-graph unpublish --scope S` retires a published scope, waiting for a lock with --lock-wait; an
    unknown scope is a clear error."""
    from tests.test_publish import make_graph, make_run, publish_made
    from vlkge_graph.graph.lock import hold_lock

    make_graph(graph, unique_label, 4)
    publish_made(graph, make_run(unique_label, unique_label, f"{unique_label}-1", 4, 1, seed=9))
    monkeypatch.setenv("NEO4J_URI", neo4j_config.neo4j.uri)
    monkeypatch.delenv("VLKGE_CONFIG", raising=False)
    monkeypatch.chdir(Path(__file__).parent)  # no vlkge.yaml here: the connection comes from NEO4J_URI
    runner = CliRunner()
    with hold_lock(graph, f"publish:{unique_label}", lease_s=5, holder="a-process-that-died"):
        busy = runner.invoke(app, ["unpublish", "--scope", unique_label])
        assert busy.exit_code == 2 and f"publish:{unique_label}" in busy.output  # the held lock, named
        assert "Traceback" not in busy.output
        start = time.monotonic()
        done = runner.invoke(app, ["unpublish", "--scope", unique_label, "--lock-wait", "60"])
        assert time.monotonic() - start > 1  # it waited for the lease to run out
    assert done.exit_code == 0, done.output
    assert "4 candidate links removed" in done.output
    assert graph.query("MATCH (r:VlkgeRun {scope: $s}) RETURN r.status AS st", s=unique_label) == [{"st": "retired"}]
    unknown = runner.invoke(app, ["unpublish", "--scope", f"{unique_label}X"])
    assert unknown.exit_code == 2 and "error: scope" in unknown.output and "has no runs" in unknown.output
