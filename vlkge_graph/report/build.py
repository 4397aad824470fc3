"""Write a run's report: read the run directory, draw the figures, build the gallery, render the page.

The sync's report stage passes the model it already holds; ``vlkge-graph report`` loads it from the run
directory like the sync's later stages do (train/ with the encode stage's features, no encoder).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vlkge_graph.jobs.sync import REPORT, TRAIN, load_run_model
from vlkge_graph.report import figures
from vlkge_graph.report.baseline import Baseline, zero_shot_baseline
from vlkge_graph.report.data import RunData, read_run
from vlkge_graph.report.gallery import GalleryQuery, build_gallery
from vlkge_graph.report.html import render
from vlkge_graph.training.api import MODEL_FILE

if TYPE_CHECKING:
    from vlkge_graph.training.api import TrainedRun

INDEX = "index.html"
#: The figures a report may have, each drawn into ``<name>.png``.
FIGURES = ("relation_mrr", "groups", "training_curve", "reliability")


@dataclass
class Written:
    """What :func:`write_report` wrote."""

    index: Path
    figures: dict[str, Path] = field(default_factory=dict)
    gallery_queries: int = 0


def write_report(run_dir: Path, *, trained: TrainedRun | None = None, device: str | None = None,
                 output: Path | None = None) -> Written:
    """``report/index.html`` and ``report/*.png`` of ``run_dir`` (or into ``output``); ``trained``: the run's
    model when the caller holds it, else loaded from ``train/`` (when there is one)."""
    run_dir = Path(run_dir)
    data = read_run(run_dir)
    out = Path(output) if output is not None else run_dir / REPORT
    out.mkdir(parents=True, exist_ok=True)
    for name in FIGURES:  # a figure this run no longer has must not linger from an earlier report (only ours go)
        (out / f"{name}.png").unlink(missing_ok=True)
    drawn = draw_figures(data, out)
    gallery: list[GalleryQuery] | None = None
    baseline = Baseline(reason="the run has no trained model")
    note = None
    if trained is None and (run_dir / TRAIN / MODEL_FILE).is_file():
        trained = load_run_model(run_dir, device)
    if trained is not None:
        gallery = build_gallery(trained)
        baseline = zero_shot_baseline(trained)
    else:
        note = f"no trained model in {run_dir / TRAIN}: the train stage has not run"
    index = out / INDEX
    tmp = index.with_name(f"{INDEX}.tmp")
    tmp.write_text(render(data, drawn, gallery, note, baseline), encoding="utf-8")
    tmp.replace(index)
    return Written(index, drawn, len(gallery or []))


def draw_figures(data: RunData, out: Path) -> dict[str, Path]:
    """Every figure the run's artifacts allow, by name (``relation_mrr``, ``groups``, ``training_curve``,
    ``reliability``); a missing one gets its reason in ``data.notes``."""
    drawn: dict[str, Path] = {}
    metrics = data.metrics
    if metrics is not None:
        split = metrics["split"]
        if metrics.get("per_relation"):
            drawn["relation_mrr"] = figures.relation_mrr(metrics["per_relation"], out / "relation_mrr.png", split)
        if metrics.get("groups"):
            drawn["groups"] = figures.groups(metrics["groups"], out / "groups.png", split)
        else:
            data.notes["groups"] = "the metrics have no groups (modality buckets, seen / unseen answers)"
    if data.history:
        best = data.state.stages.get("train", {}).get("best_epoch")
        drawn["training_curve"] = figures.training_curve(data.history, out / "training_curve.png", best)
    if data.calibration is not None:
        drawn["reliability"] = figures.reliability(data.calibration, out / "reliability.png")
    return drawn
