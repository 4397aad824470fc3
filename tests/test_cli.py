"""The typer CLI: the training commands run through it, and importing it stays free of torch."""

from __future__ import annotations

import json
import subprocess
import sys
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
