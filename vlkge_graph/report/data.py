"""What a run report shows, read from a run directory's files alone (no Neo4j, no model).

Every artifact is optional: a run directory made before a file existed (``train/history.json``), a run
without calibration, or a refresh (which keeps its parent's model and metrics: they are read from the
directory of the retrain its chain of refreshes started from, beside it) still gives a report, with a note
where a part is missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlkge_graph.errors import DataError
from vlkge_graph.jobs.sync import HISTORY_FILE, RECIPE_FILE, TRAIN, RunState
from vlkge_graph.training.api import CALIBRATION_FILE, METRICS_FILE


@dataclass
class RunData:
    """A run directory's record and artifacts; ``notes`` say why a missing part is missing."""

    run_dir: Path
    state: RunState
    recipe: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None  # metrics.json's split section (protocol, overall, per_relation, groups)
    history: list[dict[str, Any]] | None = None
    calibration: dict[str, Any] | None = None
    notes: dict[str, str] = field(default_factory=dict)
    #: artifact name -> where it was read from, when not this run's own train/ (a refresh's parent)
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        return self.state.stages.get("export", {}).get("counts", {})

    @property
    def timings(self) -> dict[str, float]:
        return {name: float(info.get("seconds", 0.0)) for name, info in self.state.stages.items()}

    @property
    def encoders(self) -> dict[str, str]:
        return dict((self.recipe or {}).get("features") or {})

    @property
    def model(self) -> dict[str, Any]:
        return dict((self.recipe or {}).get("model") or {})


def read_run(run_dir: Path) -> RunData:
    """The run directory's record and whichever artifacts it has (see the module docstring)."""
    run_dir = Path(run_dir)
    data = RunData(run_dir, RunState.load(run_dir))
    data.recipe = _artifact(data, RECIPE_FILE, "recipe")
    metrics = _artifact(data, METRICS_FILE, "metrics")
    if metrics is not None:
        split = next((s for s in ("test", "valid") if isinstance(metrics.get(s), dict)), None)
        if split is None:
            raise DataError(f"{run_dir / TRAIN / METRICS_FILE}: no test or valid section")
        data.metrics = {"split": split, **metrics[split]}
    else:
        data.notes["metrics"] = f"no {TRAIN}/{METRICS_FILE}: the evaluate stage has not run"
    history = _artifact(data, HISTORY_FILE, "history")
    if history is not None:
        data.history = list(history)
    else:
        data.notes["history"] = (f"no {TRAIN}/{HISTORY_FILE}: the training history was not recorded (a run made "
                                 "before vlkge-graph kept it, or one that has not trained)")
    data.calibration = _artifact(data, CALIBRATION_FILE, "calibration")
    if data.calibration is None:
        data.notes["calibration"] = (f"no {TRAIN}/{CALIBRATION_FILE}: this run has no calibrated probabilities, "
                                     "so there is no reliability diagram")
    return data


def _artifact(data: RunData, name: str, what: str) -> Any:
    """``train/<name>`` parsed, from this run or else (a refresh) from its last retrain's directory beside it."""
    from vlkge_graph.jobs.changes import last_retrain_dir

    retrain = last_retrain_dir(data.run_dir)
    places = [data.run_dir / TRAIN / name, retrain / TRAIN / name]
    for path in places:
        if path.is_file():
            try:
                value = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise DataError(f"{path}: unreadable {what} ({exc})") from exc
            if path != places[0]:
                data.sources[what] = f"from run {retrain.name}, the last retrain (a refresh does not retrain)"
            return value
    return None
