"""``vlkge-graph sync``: export -> encode -> train (+ evaluate) -> predict -> publish, resumable by stage.

Every stage leaves its artifact in the run directory (``snapshot/``, ``train/``, ``candidates.parquet``,
``run.json``), so ``--from predict`` reuses a finished training, and a crash costs only the stage it
happened in. Publishing is the only stage that writes to Neo4j (see graph/publish.py).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from rich.console import Console

from vlkge_graph.config import Config, PredictConfig, SyncConfig
from vlkge_graph.errors import ConfigError, Interrupted
from vlkge_graph.graph.connection import Graph
from vlkge_graph.graph.graph_filter import GraphFilter
from vlkge_graph.snapshot import read_snapshot, write_snapshot

log = logging.getLogger(__name__)

STAGES = ("export", "encode", "train", "predict", "publish")
RUN_FILE = "run.json"


@dataclass
class RunState:
    """What ``run.json`` records: the run's identity and each finished stage's timing and results."""

    run_id: str
    scope: str
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)

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


def new_run_dir(config: Config) -> Path:
    scope = config.sync.scope_name
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    run_dir = Path(config.sync.runs_dir) / f"{scope}-{stamp}"
    try:
        run_dir.mkdir(parents=True, exist_ok=False)
    except FileExistsError as exc:
        raise ConfigError(f"run directory {run_dir} exists: another sync of scope {scope!r} started in the "
                          "same second; wait for it (publishing is locked per scope) and run again") from exc
    RunState(run_id=run_dir.name, scope=scope).save(run_dir)
    return run_dir


def latest_run_dir(config: Config) -> Path:
    runs = sorted(Path(config.sync.runs_dir).glob(f"{config.sync.scope_name}-*/{RUN_FILE}"))
    if not runs:
        raise ConfigError(f"no earlier run of scope {config.sync.scope_name!r} in {config.sync.runs_dir}/ to resume")
    return runs[-1].parent


def sync(graph: Graph, config: Config, *, start: str = "export", run_dir: Path | None = None,
         dry_run: bool = False, device: str | None = None, console: Console | None = None,
         interrupt: threading.Event | None = None) -> RunState:
    """Run the stages from ``start`` on; ``dry_run`` stops before publishing; a set ``interrupt`` stops
    before the next stage (the scheduler's SIGTERM)."""
    console = console or Console(stderr=True)
    if start not in STAGES:
        raise ConfigError(f"--from must be one of {list(STAGES)}, not {start!r}")
    if config.sync.graph is None:
        raise ConfigError("sync.graph: say which labels are entities, e.g. graph: {entity_labels: [Person]}")
    if run_dir is None:
        run_dir = new_run_dir(config) if start == "export" else latest_run_dir(config)
    state = RunState.load(run_dir)
    device = device or config.sync.device
    todo = STAGES[STAGES.index(start):]
    if dry_run:
        todo = tuple(s for s in todo if s != "publish")
    console.print(f"sync {state.run_id}: stages {', '.join(todo)} (run directory {run_dir})")
    for stage in todo:
        if interrupt is not None and interrupt.is_set():
            raise Interrupted(f"sync {state.run_id} stopped before stage {stage}: resume it with "
                                  f"`vlkge-graph sync --from {stage} --run-dir {run_dir}`")
        began = time.perf_counter()
        console.rule(f"[bold]{stage}")
        result = STAGE_FUNCTIONS[stage](graph, config, run_dir, state, device, console)
        state.stages[stage] = {"seconds": round(time.perf_counter() - began, 3), **result}
        state.save(run_dir)
    return state


def _export(graph: Graph, config: Config, run_dir: Path, state: RunState, device: str | None,
            console: Console) -> dict[str, Any]:
    from vlkge_graph.graph.export import export_rejections, export_tables

    flt = config.sync.graph
    assert flt is not None
    tables = export_tables(graph, flt, state.scope)
    manifest = write_snapshot(tables, run_dir / "snapshot",
                              source={"uri": graph.uri, "database": graph.database, "filter": asdict(flt)})
    export_rejections(graph, flt).to_parquet(run_dir / "rejected.parquet")
    console.print(f"exported {manifest.counts}")
    return {"counts": manifest.counts, "data_hash": manifest.data_hash}


def _encode(graph: Graph, config: Config, run_dir: Path, state: RunState, device: str | None,
            console: Console) -> dict[str, Any]:
    from vlkge_graph.training.recipe import load_recipe

    recipe = load_recipe(config.sync.recipe)
    if not recipe.features:
        return {"modalities": {}}
    from vlkge_graph.encoders.features import encode_features

    tables, _ = read_snapshot(run_dir / "snapshot")
    features = encode_features(tables, image_encoder=recipe.features.get("image"),
                               text_encoder=recipe.features.get("text"), device=device, console=console)
    return {m: {k: v for k, v in asdict(report).items() if isinstance(v, int | str)}
            for m, report in features.summary.items()}


def _train(graph: Graph, config: Config, run_dir: Path, state: RunState, device: str | None,
           console: Console) -> dict[str, Any]:
    from vlkge_graph.training.commands import train

    rejected = pd.read_parquet(run_dir / "rejected.parquet")  # curated false links: hard negatives
    metrics = train(config.sync.recipe, dataset=str(run_dir / "snapshot"), device=device,
                    output=run_dir / "train", console=console, hard_negatives=rejected)
    test = metrics.get("test", {}).get("overall", metrics.get("test", {}))
    return {"test": {k: v for k, v in test.items() if isinstance(v, (int, float))},
            "hard_negatives": len(rejected)}


def _predict(graph: Graph, config: Config, run_dir: Path, state: RunState, device: str | None,
             console: Console) -> dict[str, Any]:
    from vlkge_graph.prediction import predict_links
    from vlkge_graph.training.commands import load_trained

    model, data, tables, recipe = load_trained(run_dir / "train", dataset=str(run_dir / "snapshot"), device=device)
    p = config.sync.predict
    labels = tables.entities.set_index("id").loc[list(data.entity_ids), "type_label"].tolist()
    rejected = data.with_hard_negatives(pd.read_parquet(run_dir / "rejected.parquet")).hard_negatives
    exclude = [rejected] if len(rejected) else []
    candidates = predict_links(model, data, labels, relations=p.relations, directions=p.directions, k=p.k,
                               min_score=p.min_score, constrain_labels=p.constrain_labels, exclude=exclude,
                               probability="softmax" if recipe.training.loss == "cross_entropy" else "sigmoid",
                               device=device or ("cuda" if torch.cuda.is_available() else "cpu"))
    candidates["type"] = candidates["relation"]
    candidates.to_parquet(run_dir / "candidates.parquet")
    console.print(f"{len(candidates)} candidate links")
    return {"candidates": len(candidates)}


def _publish(graph: Graph, config: Config, run_dir: Path, state: RunState, device: str | None,
             console: Console) -> dict[str, Any]:
    from vlkge_graph.graph.publish import RelationParams, RunRecord, publish
    from vlkge_graph.training.commands import load_trained

    model, data, tables, recipe = load_trained(run_dir / "train", dataset=str(run_dir / "snapshot"), device="cpu")
    flt = config.sync.graph
    assert flt is not None
    with torch.no_grad():
        embeddings = model.entity_vectors().float().numpy()
        weights = model.backbone.relations.weight.float().numpy()
    r_count = data.num_relations
    relations = [RelationParams(name, name, weights[i], weights[i + r_count] if model.reciprocal else None)
                 for i, name in enumerate(data.relation_ids)]
    entities = tables.entities.set_index("id").loc[list(data.entity_ids)].reset_index()[["id", "label"]]
    backbone = model.backbone
    run = RunRecord(
        run_id=state.run_id, scope=state.scope, backbone=recipe.model.backbone, dim=backbone.dim,
        gamma=float(getattr(backbone, "gamma", 0.0)), p=int(getattr(backbone, "p", 1)),
        normalize=bool(getattr(backbone, "normalize", False)), reciprocal=model.reciprocal,
        encoder_image=recipe.features.get("image"),
        encoder_text=recipe.features.get("text"), fusion=recipe.model.fusion,
        data_hash=state.stages.get("export", {}).get("data_hash", ""), entity_key=flt.key,
        entity_labels=list(flt.entity_labels), metrics=state.stages.get("train", {}).get("test", {}),
        config={"recipe": recipe.to_dict(), "predict": asdict(config.sync.predict)},
        timings={s: v.get("seconds", 0.0) for s, v in state.stages.items()})
    candidates = pd.read_parquet(run_dir / "candidates.parquet")
    summary = publish(graph, run, entities=entities, embeddings=embeddings, relations=relations,
                      candidates=candidates, lock_wait_s=config.sync.lock_wait_s)
    console.print(f"published {summary.candidates} candidates and {summary.embeddings} embeddings "
                  f"({summary.embedding_property}) in {summary.seconds:.1f} s")
    return {"candidates": summary.candidates, "embeddings": summary.embeddings,
            "embedding_property": summary.embedding_property}


#: What `vlkge-graph demo` syncs: the Countries-MM graph with the offline encoders' recipe.
DEMO_SYNC = SyncConfig(graph=GraphFilter(entity_labels=["CountriesMM"]), recipe="training/countries-mm.yaml",
                       predict=PredictConfig(directions=["tail"], k=5))

STAGE_FUNCTIONS = {"export": _export, "encode": _encode, "train": _train, "predict": _predict,
                   "publish": _publish}
