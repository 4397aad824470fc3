"""The run report's parts on small fixtures (no Neo4j, no model): figures, missing artifacts, refresh runs.

The report of a real sync, opened in a browser, is tested in test_sync.py.
"""

from __future__ import annotations

import json
import re
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from tests.test_encoders import tiny_open_clip
from vlkge_graph.errors import ConfigError
from vlkge_graph.etl.tables import TableSet
from vlkge_graph.jobs.sync import RunState
from vlkge_graph.report import figures, write_report
from vlkge_graph.report.baseline import Baseline, zero_shot_baseline
from vlkge_graph.report.data import read_run
from vlkge_graph.report.gallery import Thumbnails, build_gallery
from vlkge_graph.report.html import render
from vlkge_graph.training.api import TrainedRun, fit
from vlkge_graph.training.recipe import parse_recipe

CALIBRATION = Path(__file__).parent / "data" / "calibration.json"
FLAGS = Path(__file__).parents[1] / "etl" / "data" / "countries-mm" / "flags"
FLAG = FLAGS / "fr.png"


def metric(mrr: float, count: int = 10) -> dict[str, float]:
    return {"count": count, "mrr": mrr, "mr": 1 / mrr, "hits@1": mrr * 0.8, "hits@3": mrr, "hits@10": min(1, mrr * 1.3)}


def metrics(relations: int = 3) -> dict:
    return {"protocol": {"filter": "strict", "ties": "realistic"}, "overall": metric(0.5, 60),
            "per_direction": {"head": metric(0.45, 30), "tail": metric(0.55, 30)},
            "per_relation": {f"relation_{i}": metric(0.2 + 0.7 * i / relations) for i in range(relations)},
            "groups": {"answer": {"unseen": metric(0.2, 5), "seen": metric(0.55, 55)},
                       "answer modality": {b: metric(0.3 + 0.1 * i) for i, b in enumerate(("none", "image", "text",
                                                                                             "both"))}}}


HISTORY = [{"epoch": e, "loss": 5 / e, "seconds": 0.1, **({"valid_mrr": 0.1 * e} if e % 2 == 0 else {})}
           for e in range(1, 9)]


def run_dir(root: Path, name: str = "Demo-20260101T000000", parent: str | None = None, calibrated: bool = False,
            trained: bool = True) -> Path:
    """A run directory with the record and the JSON artifacts a sync writes (no model)."""
    d = root / name
    (d / "train").mkdir(parents=True)
    stages = {"export": {"seconds": 1.5, "counts": {"entities": 50, "relations": 3, "triples": 120, "train": 100,
                                                    "valid": 10, "test": 10, "entities_with_text": 40,
                                                    "entities_with_image": 20}}}
    if trained:
        stages |= {"train": {"seconds": 12.0, "epochs": 8, "best_epoch": 6}, "evaluate": {"seconds": 0.5}}
        (d / "train" / "metrics.json").write_text(json.dumps({"recipe": "demo", "test": metrics()}))
        (d / "train" / "history.json").write_text(json.dumps(HISTORY))
        (d / "train" / "recipe.json").write_text(json.dumps({
            "features": {"image": "efficientnet-lite0", "text": "minilm"},
            "model": {"backbone": "complex", "dim": 16, "fusion": "average", "reciprocal": True}}))
    if calibrated:
        shutil.copy(CALIBRATION, d / "train" / "calibration.json")
    RunState(run_id=name, scope="Demo", stages=stages, kind="refresh" if parent else "sync", parent=parent).save(d)
    return d


def ink(path: Path) -> float:
    """Share of a picture's pixels that are not white."""
    histogram = Image.open(path).convert("L").histogram()
    return 1 - histogram[255] / sum(histogram)


def test_each_figure_is_a_png_with_content(tmp_path: Path) -> None:
    m = metrics()
    drawn = [figures.relation_mrr(m["per_relation"], tmp_path / "relation.png"),
             figures.groups(m["groups"], tmp_path / "groups.png"),
             figures.training_curve(HISTORY, tmp_path / "curve.png", best_epoch=6),
             figures.training_curve([{"epoch": 1, "loss": 2.0}], tmp_path / "no-valid.png"),
             figures.reliability(json.loads(CALIBRATION.read_text()), tmp_path / "reliability.png")]
    for path in drawn:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width >= 500 and image.height >= 250, path
        assert ink(path) > 0.03, path


def test_many_relations_get_a_readable_figure(tmp_path: Path) -> None:
    """Beyond MAX_RELATIONS bars the figure keeps the best ones instead of growing without end."""
    path = figures.relation_mrr(metrics(relations=120)["per_relation"], tmp_path / "relations.png")
    height = Image.open(path).height
    assert height < (2 + 0.32 * figures.MAX_RELATIONS) * figures.DPI  # 40 bars, not 120


def test_long_relation_names_are_shortened_not_squeezing_the_plot(tmp_path: Path) -> None:
    """Freebase relation paths run to 150 characters: the bars keep their room (no collapsed layout)."""
    long = {f"/base/x2010fifaworldcupsouthafrica/world_cup_squad/current_world_cup_squad./base/"
            f"x2010fifaworldcupsouthafrica/current_world_cup_squad/current_club_{i}": metric(0.1 * i)
            for i in range(1, 6)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = figures.relation_mrr(long, tmp_path / "relations.png")
    assert ink(path) > 0.03
    assert figures.short("a" * 90) == "…" + "a" * 39 and figures.short("neighbor_of") == "neighbor_of"


def test_report_says_what_is_missing(tmp_path: Path) -> None:
    """No calibration and no model: the page still renders, with a note where the figure or gallery would be."""
    written = write_report(run_dir(tmp_path))
    html = written.index.read_text(encoding="utf-8")
    assert set(written.figures) == {"relation_mrr", "groups", "training_curve"}
    assert {p.name for p in written.index.parent.glob("*.png")} == {"relation_mrr.png", "groups.png",
                                                                    "training_curve.png"}
    assert "no train/calibration.json" in html and "no trained model" in html
    assert 'id="fig-relation-mrr"' in html and 'id="fig-reliability"' not in html
    assert "complex, dim 16, reciprocal" in html and "0.5000" in html  # identity and the test metrics table
    assert html.count("data:image/png;base64,") == 3


def test_report_with_calibration_shows_the_reliability_diagram(tmp_path: Path) -> None:
    mine = tmp_path / "out" / "mine.png"
    mine.parent.mkdir()
    mine.write_bytes(b"the user's own file")
    written = write_report(run_dir(tmp_path, calibrated=True), output=mine.parent)
    assert mine.read_bytes() == b"the user's own file"  # --output DIR: only the report's own files are written
    html = written.index.read_text(encoding="utf-8")
    assert "reliability" in written.figures and 'id="fig-reliability"' in html
    assert "0.0310" in html and "0.2140" in html  # calibrated and uncalibrated ECE
    assert "platt" in html


def test_report_of_an_untrained_run_and_of_a_refresh(tmp_path: Path) -> None:
    """A run stopped after export has no figures, only notes; a refresh shows its parent's metrics, saying so."""
    bare = write_report(run_dir(tmp_path, "Demo-20260101T000001", trained=False))
    html = bare.index.read_text(encoding="utf-8")
    assert bare.figures == {} and "the evaluate stage has not run" in html and "not recorded" in html
    parent = run_dir(tmp_path, "Demo-20260101T000002")
    (parent / "snapshot").mkdir()  # what makes it the retrain a chain of refreshes starts from
    refresh = run_dir(tmp_path, "Demo-20260101T000002-refresh1", parent=parent.name, trained=False)
    data = read_run(refresh)
    assert data.metrics is not None and data.metrics["overall"]["mrr"] == 0.5
    assert data.sources["metrics"] == f"from run {parent.name}, the last retrain (a refresh does not retrain)"
    html = write_report(refresh).index.read_text(encoding="utf-8")
    assert f"from run {parent.name}, the last retrain" in html and f"refresh of run {parent.name}" in html
    # a refresh of a refresh reads them from the retrain the chain started from
    (refresh / "snapshot").mkdir()
    second = run_dir(tmp_path, "Demo-20260101T000002-refresh2", parent=refresh.name, trained=False)
    assert read_run(second).sources["metrics"].startswith(f"from run {parent.name}, the last retrain")


def test_a_directory_that_is_no_run_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a sync run directory"):
        write_report(tmp_path)


def test_thumbnails_are_embedded_or_say_why_not() -> None:
    thumbnail = Thumbnails()
    uri, why = thumbnail([str(FLAG)])
    assert uri is not None and uri.startswith("data:image/jpeg;base64,") and why is None
    assert thumbnail([]) == (None, None)  # no image: the card shows its text only
    uri, why = thumbnail(["/nonexistent/flag.png", str(FLAG)])
    assert uri is not None and why is None  # the second image of the list
    uri, why = thumbnail(["/nonexistent/flag.png"])
    assert uri is None and why == "image not readable (file not found): /nonexistent/flag.png"
    assert thumbnail(["http://127.0.0.1:9/a.png"])[0] is None  # nothing listens on port 9: refused at once
    uri, why = thumbnail(["http://127.0.0.1:9/b.png"])
    assert uri is None and why is not None and why.startswith("image URL not fetched (an earlier one failed")


def flag_tables() -> TableSet:
    """Twelve countries with their flags and three colours (texts only); each country has one colour, the last
    three facts are the test split."""
    flags = sorted(FLAGS.glob("*.png"))[:12]
    colours = ["red", "green", "blue"]
    countries = pd.DataFrame({"id": [f"country:{f.stem}" for f in flags], "label": "Country",
                              "name": [f.stem.upper() for f in flags], "text": [f"the flag of {f.stem}" for f in flags],
                              "images": [[str(f)] for f in flags]})
    hues = pd.DataFrame({"id": [f"colour:{c}" for c in colours], "label": "Colour", "name": colours,
                         "text": [f"the colour {c}" for c in colours], "images": [[] for _ in colours]})
    triples = pd.DataFrame({"head": countries["id"], "relation": "has_colour",
                            "tail": [f"colour:{colours[i % 3]}" for i in range(len(flags))],
                            "split": ["train"] * 9 + ["test"] * 3})
    return TableSet("flags", pd.concat([countries, hues], ignore_index=True),
                    pd.DataFrame({"relation": ["has_colour"], "type": ["HAS_COLOUR"]}), triples)


@pytest.fixture(scope="module")
def clip_run(tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    """A tiny model trained on features of one (random, tiny) CLIP for both modalities, in a private cache."""
    folder = tmp_path_factory.mktemp("clip")
    spec = tiny_open_clip(folder, "vlkge-report-clip")
    recipe = parse_recipe({"dataset": "flags", "features": {"image": spec, "text": spec},
                           "model": {"backbone": "distmult", "dim": 8},
                           "training": {"mode": "1vsall", "loss": "cross_entropy", "optimizer": "adam", "lr": 0.05,
                                        "batch_size": 16, "epochs": 2, "seed": 1}}, "flags recipe")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VLKGE_CACHE", str(folder / "cache"))
        run, _ = fit(recipe, tables=flag_tables(), device="cpu", progress=False)
    return run


def test_gallery_shows_top5_with_images_and_marks(clip_run: TrainedRun) -> None:
    gallery = build_gallery(clip_run)
    assert len(gallery) == 3  # every test query (fewer than six)
    for query in gallery:
        assert query.direction == "tail" and query.relation == "has_colour"
        assert query.anchor.image is not None and query.anchor.image.startswith("data:image/jpeg;base64,")
        assert len(query.top) == 5 and query.anchor.id not in {c.id for c in query.top}
        assert [c.score for c in query.top] == sorted((c.score for c in query.top), reverse=True)
        in_top = [c for c in query.top if c.id == query.answer.id]
        assert (in_top[0].mark == "test answer") if in_top else query.answer_rank > 5
        assert 1 <= query.answer_rank <= query.candidates == 14


def test_zero_shot_baseline_where_both_encoders_are_one_vision_language_model(clip_run: TrainedRun) -> None:
    baseline = zero_shot_baseline(clip_run)
    assert baseline.reason is None and baseline.metrics is not None
    assert baseline.metrics["count"] == 3 and 1 / 3 <= baseline.metrics["mrr"] <= 1  # among three colours


def test_the_baseline_row_sits_under_the_models_rows(tmp_path: Path) -> None:
    data = read_run(run_dir(tmp_path))
    html = render(data, {}, None, "no model", Baseline(metrics=metric(0.25, 10), encoder="open_clip:ViT-B-32@openai"))
    rows = re.findall(r"<tr class=\"[a-z]*\"><td>([^<]+)</td><td>10</td><td>0.2500</td>", html)
    assert rows == ["zero-shot VLM baseline (tail queries)"] and "open_clip:ViT-B-32@openai" in html
