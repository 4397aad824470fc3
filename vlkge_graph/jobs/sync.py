"""``vlkge-graph sync``: export -> encode -> train -> evaluate -> predict -> publish -> report, resumable by stage.

Each stage reads the artifacts of the earlier ones from the run directory (``runs/<scope>-<time>/``, beside
``run.json``: the run's identity and each finished stage's timing and results) and writes its own:

==========  =====================================================================================
export      ``snapshot/`` (entities, relations, triples, manifest), ``rejected.parquet``
encode      ``features/`` (one matrix and presence mask per modality; the encoder cache is reused)
train       ``train/model.pt`` (+ ``checkpoints/`` while it trains, to resume), ``train/optimizer.pt`` (the
            optimiser state at the model's epoch, which the next run's warm start carries on),
            ``train/published.*`` (the parameters the plugin scores, with the probability calibration fitted
            on the validation split), ``train/recipe.json`` (the recipe as trained), ``train/history.json``
            (loss and validation MRR per epoch)
evaluate    ``train/metrics.json`` (the test split under the recipe's protocol), ``train/calibration.json``
predict     ``candidates.parquet``
publish     the new generation in Neo4j (the only stage that writes there; see graph/publish.py)
report      ``report/index.html`` (one self-contained file) and its figures ``report/*.png``
            (vlkge_graph/report/); it runs after publish, so a failed report never undoes a publish
==========  =====================================================================================

So ``--from predict`` reuses a finished training, a crash costs only the stage it happened in, and the
encoders and the trained model are each loaded at most once per sync (publish needs neither). After a
publish, superseded run directories beyond ``sync.keep_runs`` are removed (jobs/retention.py).
"""

from __future__ import annotations

import glob
import json
import logging
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from rich.console import Console

from vlkge_graph.config import Config, PredictConfig, SyncConfig
from vlkge_graph.errors import ConfigError, Interrupted, ReportError
from vlkge_graph.graph.connection import Graph
from vlkge_graph.graph_filter import GraphFilter
from vlkge_graph.jobs.retention import prune_runs
from vlkge_graph.jobs.summary import describe
from vlkge_graph.snapshot import read_snapshot, write_snapshot

if TYPE_CHECKING:
    from collections.abc import Mapping

    from torch import Tensor

    from vlkge_graph.encoders.features import EncodedFeatures
    from vlkge_graph.etl.tables import TableSet
    from vlkge_graph.training.api import TrainedRun
    from vlkge_graph.training.recipe import Recipe

log = logging.getLogger(__name__)

RUN_FILE = "run.json"
SNAPSHOT = "snapshot"
FEATURES = "features"
TRAIN = "train"
REJECTED = "rejected.parquet"
CANDIDATES = "candidates.parquet"
RECIPE_FILE = "recipe.json"  # in train/: the recipe as trained, for the run record
HISTORY_FILE = "history.json"  # in train/: one record per epoch (epoch, loss, seconds, valid_mrr when evaluated)
REPORT = "report"


@dataclass
class RunState:
    """What ``run.json`` records: the run's identity and each finished stage's timing and results."""

    run_id: str
    scope: str
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    kind: str = "sync"  # or "refresh" (jobs/refresh.py)
    parent: str | None = None  # a refresh's parent run (the active run it folds the change into)
    retrain: str | None = None  # a refresh's last retrain (the sync its chain of refreshes started from)

    def save(self, run_dir: Path) -> None:
        tmp = run_dir / f"{RUN_FILE}.tmp"
        tmp.write_text(json.dumps(asdict(self), indent=2, default=str))
        tmp.replace(run_dir / RUN_FILE)

    @classmethod
    def load(cls, run_dir: Path) -> RunState:
        try:
            return cls(**json.loads((run_dir / RUN_FILE).read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigError(f"{run_dir} is not a sync run directory (no readable {RUN_FILE}): {exc}") from exc


def new_run_dir(config: Config, kind: str = "sync", parent: str | None = None, retrain: str | None = None) -> Path:
    scope = config.sync.scope_name
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    run_dir = Path(config.sync.runs_dir) / f"{scope}-{stamp}"
    if kind != "sync":  # refreshes may follow each other within a second (e.g. a retry): numbered after the
        # highest number there, so names sort in start order even after retention removed a lower one
        Path(config.sync.runs_dir).mkdir(parents=True, exist_ok=True)
        taken = [int(d.name.rsplit(kind, 1)[1]) for d in run_dir.parent.glob(f"{glob.escape(run_dir.name)}-{kind}*")
                 if d.name.rsplit(kind, 1)[1].isdigit()]
        run_dir = run_dir.with_name(f"{run_dir.name}-{kind}{max(taken, default=0) + 1}")
    try:
        run_dir.mkdir(parents=True, exist_ok=False)
    except FileExistsError as exc:
        raise ConfigError(f"run directory {run_dir} exists: another sync of scope {scope!r} started in the "
                          "same second; wait for it (publishing is locked per scope) and run again") from exc
    RunState(run_id=run_dir.name, scope=scope, kind=kind, parent=parent, retrain=retrain).save(run_dir)
    return run_dir


def latest_run_dir(config: Config) -> Path:
    runs = sorted(Path(config.sync.runs_dir).glob(f"{config.sync.scope_name}-*/{RUN_FILE}"))
    if not runs:
        raise ConfigError(f"no earlier run of scope {config.sync.scope_name!r} in {config.sync.runs_dir}/ to resume")
    return runs[-1].parent


StageFunction = Callable[["Stage"], dict[str, Any]]


@dataclass
class Stage:
    """What a stage function gets: the run it works on, and what earlier stages of this process left."""

    graph: Graph
    config: Config
    run_dir: Path
    state: RunState
    device: str | None
    console: Console
    #: Artifacts read once per process: the trained model (kept from train to evaluate and predict, see
    #: :meth:`trained`), the snapshot's tables, the rejected candidates.
    trained_run: TrainedRun | None = None
    #: The graph as exported before the stages (a refresh's change detection made it), else None.
    current: TableSet | None = None
    _tables: TableSet | None = None
    _rejected: pd.DataFrame | None = None

    def tables(self) -> TableSet:
        """The export stage's snapshot, read (and verified against its manifest) once."""
        if self._tables is None:
            self._tables = read_snapshot(self.run_dir / SNAPSHOT)[0]
        return self._tables

    def rejected(self) -> pd.DataFrame:
        """Curated false links (head, relation, tail) exported with the snapshot."""
        if self._rejected is None:
            self._rejected = pd.read_parquet(self.run_dir / REJECTED)
        return self._rejected

    def trained(self) -> TrainedRun:
        """The trained run: the one train built, else loaded once from ``train/`` with the encode stage's
        features (no encoder is loaded)."""
        if self.trained_run is None:
            self.trained_run = load_run_model(self.run_dir, self.device, self.tables(), self.features())
        return self.trained_run

    def features(self) -> EncodedFeatures | None:
        """The encode stage's features, or None when the recipe is structure-only."""
        return run_features(self.run_dir)

    def recipe(self) -> Recipe:
        """The recipe to encode and train with: the sync's, or for a refresh the one its parent was trained with."""
        from vlkge_graph.training.recipe import load_recipe, parse_recipe

        if self.state.parent is not None:
            path = Path(self.config.sync.runs_dir) / self.state.parent / TRAIN / RECIPE_FILE
            return parse_recipe(json.loads(path.read_text(encoding="utf-8")), str(path))
        return load_recipe(self.config.sync.recipe)


def run_features(run_dir: Path) -> EncodedFeatures | None:
    """A run directory's encoded features, or None when its recipe is structure-only."""
    from vlkge_graph.encoders.features import load_features

    return load_features(run_dir / FEATURES) if (run_dir / FEATURES).is_dir() else None


def load_run_model(run_dir: Path, device: str | None = None, tables: TableSet | None = None,
                   features: EncodedFeatures | None = None) -> TrainedRun:
    """A run directory's trained model, with its snapshot and encode stage's features (no encoder is loaded)."""
    from vlkge_graph.training.api import load_trained

    tables = tables if tables is not None else read_snapshot(run_dir / SNAPSHOT)[0]
    features = features if features is not None else run_features(run_dir)
    return load_trained(run_dir / TRAIN, dataset=str(run_dir / SNAPSHOT), device=device, features=features,
                        tables=tables)


def sync(graph: Graph, config: Config, *, start: str = "export", run_dir: Path | None = None,
         dry_run: bool = False, device: str | None = None, console: Console | None = None,
         interrupt: threading.Event | None = None) -> RunState:
    """Run the stages from ``start`` on; ``dry_run`` stops before publishing; a set ``interrupt`` stops
    before the next stage (the scheduler's SIGTERM)."""
    console = console or Console(stderr=True)
    names = [name for name, _ in STAGES]
    if start not in names:
        raise ConfigError(f"--from must be one of {names}, not {start!r}")
    if config.sync.graph is None:
        raise ConfigError("sync.graph: say which labels are entities, e.g. graph: {entity_labels: [Person]}")
    if start == "export":  # a configuration that does not fit the graph fails before any stage or run directory
        from vlkge_graph.graph.export import check_filter

        check_filter(graph, config.sync.graph, config.source)
    if run_dir is None:
        run_dir = new_run_dir(config) if start == "export" else latest_run_dir(config)
    stage = Stage(graph, config, run_dir, RunState.load(run_dir), device or config.sync.device, console)
    state = run_stages(STAGES, stage, start, dry_run, interrupt)
    if not dry_run:
        prune_runs(graph, config, console)
    return state


def run_stages(stages: list[tuple[str, StageFunction]], stage: Stage, start: str, dry_run: bool = False,
               interrupt: threading.Event | None = None) -> RunState:
    """Run ``stages`` from ``start`` on (not publish when ``dry_run``), recording each in ``run.json``; a set
    ``interrupt`` stops before the next stage."""
    names = [name for name, _ in stages]
    if start not in names:
        raise ConfigError(f"--from must be one of {names}, not {start!r}")
    state = stage.state
    todo = [(n, fn) for n, fn in stages[names.index(start):] if not (dry_run and n == "publish")]
    stage.console.print(f"{state.kind} {state.run_id}: stages {', '.join(n for n, _ in todo)} "
                        f"(run directory {stage.run_dir})")
    for name, fn in todo:
        if interrupt is not None and interrupt.is_set():
            raise Interrupted(f"{state.kind} {state.run_id} stopped before stage {name}: resume it with "
                              f"`vlkge-graph {state.kind} --from {name} --run-dir {stage.run_dir}`")
        began = time.perf_counter()
        stage.console.rule(f"[bold]{name}")
        result = fn(stage)
        state.stages[name] = {"seconds": round(time.perf_counter() - began, 3), **result}
        state.save(stage.run_dir)
    return state


def export_stage(stage: Stage) -> dict[str, Any]:
    """The graph as it is now (the export change detection already made, else a new one) as the snapshot."""
    from vlkge_graph.graph.export import export_rejections, export_tables

    flt = stage.config.sync.graph
    assert flt is not None
    graph = stage.graph
    # the filter was checked before the stages (sync) or by the change detection's export (refresh)
    tables = stage.current if stage.current is not None else export_tables(graph, flt, stage.state.scope, check=False)
    manifest = write_snapshot(tables, stage.run_dir / SNAPSHOT,
                              source={"uri": graph.uri, "database": graph.database, "filter": asdict(flt)})
    export_rejections(graph, flt, tables.relations).to_parquet(stage.run_dir / REJECTED)
    stage.console.print(f"exported {describe(manifest.counts)}")
    return {"counts": manifest.counts, "data_hash": manifest.data_hash}


def encode_stage(stage: Stage) -> dict[str, Any]:
    """The recipe's encoders over the snapshot's entities; the feature cache answers for known contents."""
    recipe = stage.recipe()
    if not recipe.features:
        return {"modalities": {}}
    from vlkge_graph.encoders.features import encode_features, save_features
    from vlkge_graph.image_limit import pixel_limit

    with pixel_limit(stage.config.max_image_pixels):
        features = encode_features(stage.tables(), image_encoder=recipe.features.get("image"),
                                   text_encoder=recipe.features.get("text"),
                                   name_encoder=recipe.features.get("name"), device=stage.device,
                                   console=stage.console)
    save_features(features, stage.run_dir / FEATURES)
    return {m: {k: v for k, v in asdict(report).items() if isinstance(v, int | str)}
            for m, report in features.summary.items()}


def _train(stage: Stage) -> dict[str, Any]:
    from vlkge_graph.training.api import CHECKPOINTS, fit

    rejected = stage.rejected()  # curated false links: hard negatives
    recipe = stage.recipe()
    run, report = fit(recipe, dataset=str(stage.run_dir / SNAPSHOT), device=stage.device,
                      output=stage.run_dir / TRAIN, console=stage.console, hard_negatives=rejected,
                      features=stage.features(), tables=stage.tables(), warm_from=_warm_source(stage, recipe))
    run.published().save(stage.run_dir / TRAIN)
    (stage.run_dir / TRAIN / RECIPE_FILE).write_text(json.dumps(run.recipe.to_dict(), indent=2), encoding="utf-8")
    (stage.run_dir / TRAIN / HISTORY_FILE).write_text(json.dumps(report["history"], indent=1), encoding="utf-8")
    # Trained: the resume checkpoints (the best epoch's, which model.pt and optimizer.pt hold, and the last's)
    # would double the run directory (killed before run.json records this stage, the rerun trains again).
    shutil.rmtree(stage.run_dir / TRAIN / CHECKPOINTS, ignore_errors=True)
    stage.trained_run = run
    return {k: report[k] for k in ("epochs", "best_epoch", "best_valid_mrr", "stopped_early", "warm_start")} | {
        "hard_negatives": len(rejected)}


def _warm_source(stage: Stage, recipe: Recipe) -> Path | None:
    """The scope's active run's ``train/`` when ``sync.warm_start`` is on, it is on this machine and its model
    has this recipe's shape (backbone, sizes, fusion, encoders); else None (a cold start)."""
    if not stage.config.sync.warm_start:
        return None
    from vlkge_graph.jobs.changes import active_run

    active = active_run(stage.graph, stage.state.scope)
    train = Path(stage.config.sync.runs_dir) / active["run_id"] / TRAIN if active else None
    if train is None or not (train / RECIPE_FILE).is_file():
        return None
    before = json.loads((train / RECIPE_FILE).read_text(encoding="utf-8"))
    if before.get("model") != recipe.to_dict()["model"] or before.get("features") != recipe.to_dict()["features"]:
        stage.console.print(f"cold start: the active run {active['run_id']} has another model shape")
        return None
    stage.console.print(f"warm start from the active run {active['run_id']}")
    return train


def _evaluate(stage: Stage) -> dict[str, Any]:
    from vlkge_graph.training.api import METRICS_FILE, write_calibration

    run = stage.trained()
    result = run.evaluate("test", progress=True, console=stage.console)
    calibration = run.calibration_report("test")
    metrics = run.metrics("test", result, calibration)
    (stage.run_dir / TRAIN / METRICS_FILE).write_text(json.dumps(metrics, indent=2, default=float), encoding="utf-8")
    write_calibration(stage.run_dir / TRAIN, calibration)
    stage.console.print(result.table(title=f"{run.recipe.name}: test", groups=run.groups(result)))
    probabilities = {k: calibration["test"][k] for k in ("ece", "brier")} if calibration else {}
    return {"test": {k: v for k, v in result.summary().items() if isinstance(v, int | float)} | probabilities}


def predict_candidates(stage: Stage, run: TrainedRun, only: Mapping[tuple[str, str], Tensor] | None = None,
                       answers: Tensor | None = None, k: int | None = None) -> pd.DataFrame:
    """``run``'s top-k candidates under the scope's ``predict`` settings, rejected pairs excluded, with each
    relation's name and relationship type; ``only``: just these lists, ``answers``: ranking just these
    entities (a refresh's touched lists and new entities, see ``predict_links``); ``k`` instead of predict.k."""
    from vlkge_graph.prediction import predict_links

    data, p = run.data, stage.config.sync.predict
    labels = run.tables.entities.set_index("id").loc[list(data.entity_ids), "type_label"].tolist()
    rejected = data.with_hard_negatives(stage.rejected()).hard_negatives
    exclude = [rejected] if len(rejected) else []
    type_of = run.tables.relation_types()
    name_of = {rel_type: name for name, rel_type in type_of.items()}
    relations = None if p.relations is None else [r if r in type_of else name_of.get(r, r) for r in p.relations]
    candidates = predict_links(run.model, data, labels, relations=relations, directions=p.directions, k=k or p.k,
                               min_score=p.min_score, constrain_labels=p.constrain_labels, exclude=exclude,
                               calibration=run.calibration, device=run.device, only=only, answers=answers,
                               console=stage.console)
    candidates["type"] = candidates["relation"].map(type_of)
    return candidates


def _predict(stage: Stage) -> dict[str, Any]:
    candidates = predict_candidates(stage, stage.trained())
    candidates.to_parquet(stage.run_dir / CANDIDATES)
    stage.console.print(f"{len(candidates):,} candidate links")
    return {"candidates": len(candidates)}


def publish_stage(stage: Stage) -> dict[str, Any]:
    """Publish the run directory's parameters and candidates as a new generation (a sync's last stage, and a
    refresh's when its change is too large for one transaction)."""
    from vlkge_graph.graph.publish import RelationParams, RunRecord, publish
    from vlkge_graph.published import PublishedParams

    params = PublishedParams.load(stage.run_dir / TRAIN)
    config, state = stage.config, stage.state
    flt = config.sync.graph
    assert flt is not None
    inverse = params.inverse_vectors
    type_of = stage.tables().relation_types()
    relations = [RelationParams(name, type_of[name], params.relation_vectors[i],
                                None if inverse is None else inverse[i], params.relation_calibration(name))
                 for i, name in enumerate(params.relation_ids)]
    entities = stage.tables().entities.set_index("id").loc[params.entity_ids].reset_index()[["id", "label"]]
    recipe = json.loads((stage.run_dir / TRAIN / RECIPE_FILE).read_text(encoding="utf-8"))  # as trained
    run = RunRecord(
        run_id=state.run_id, scope=state.scope, backbone=params.backbone, dim=params.dim, options=params.options,
        reciprocal=params.reciprocal, encoder_image=recipe["features"].get("image"),
        encoder_text=recipe["features"].get("text"), fusion=recipe["model"]["fusion"],
        data_hash=state.stages.get("export", {}).get("data_hash", ""), entity_key=flt.key,
        entity_labels=list(flt.entity_labels),
        metrics=state.stages.get("evaluate", state.stages.get("fold", {})).get("test", {}),
        config={"recipe": recipe, "predict": asdict(config.sync.predict)},
        timings={s: v.get("seconds", 0.0) for s, v in state.stages.items()})
    candidates = pd.read_parquet(stage.run_dir / CANDIDATES)
    summary = publish(stage.graph, run, entities=entities, embeddings=params.entity_vectors, relations=relations,
                      candidates=candidates, lock_wait_s=config.sync.lock_wait_s, console=stage.console)
    stage.console.print(f"published {summary.candidates:,} candidates and {summary.embeddings:,} embeddings "
                        f"({summary.embedding_property}) in {summary.seconds:.1f} s")
    return {"candidates": summary.candidates, "embeddings": summary.embeddings,
            "embedding_property": summary.embedding_property}


def report_stage(stage: Stage) -> dict[str, Any]:
    """The run's report (``report/index.html`` and its figures). It comes after publish, which it never undoes:
    a failure here fails the sync with a message naming this stage and how to redo only it."""
    from vlkge_graph.report import write_report
    from vlkge_graph.training.api import MODEL_FILE

    try:
        trained = stage.trained() if stage.trained_run or (stage.run_dir / TRAIN / MODEL_FILE).is_file() else None
        written = write_report(stage.run_dir, trained=trained)
    except Exception as exc:
        done = "published; the publish stands" if "publish" in stage.state.stages else "not published"
        raise ReportError(f"{stage.state.kind} {stage.state.run_id}: the report stage failed ({done}): "
                          f"{type(exc).__name__}: {exc}. Redo only the report with `vlkge-graph sync --from report "
                          f"--run-dir {stage.run_dir}` or `vlkge-graph report {stage.run_dir}`") from exc
    stage.console.print(f"report: {written.index}")
    return {"path": str(written.index), "figures": len(written.figures), "gallery": written.gallery_queries}


#: The stages in order: ``sync --from NAME`` starts at NAME.
STAGES: list[tuple[str, StageFunction]] = [
    ("export", export_stage), ("encode", encode_stage), ("train", _train), ("evaluate", _evaluate),
    ("predict", _predict), ("publish", publish_stage), ("report", report_stage)]

#: What `vlkge-graph demo` syncs: the Countries-MM graph with the offline encoders' recipe.
DEMO_SYNC = SyncConfig(graph=GraphFilter(entity_labels=["CountriesMM"]), recipe="training/countries-mm.yaml",
                       predict=PredictConfig(directions=["tail"], k=5))
