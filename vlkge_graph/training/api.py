"""The training application layer: ``fit``, ``evaluate_run``, ``load_trained`` (what ``sync`` stages call) and
``train`` / ``evaluate`` (what the CLI's file-based commands call).

They wire the parts together: dataset (ETL recipe or snapshot directory) -> TrainingData -> features
(given, or through the encoder cache) -> model -> Trainer -> filtered ranking -> ``metrics.json``,
``model.pt`` and the published parameters. A :class:`TrainedRun` is the one in-memory product that
evaluate and predict share, so a sync builds its model once.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from rich.console import Console

from vlkge_graph.core import DIRECTIONS, resolve_device
from vlkge_graph.errors import ConfigError, DataError
from vlkge_graph.etl.tables import TableSet
from vlkge_graph.evaluation.calibration import (
    Calibration,
    ScoredPairs,
    calibrate,
    calibration_metrics,
    probability,
    scored_pairs,
)
from vlkge_graph.evaluation.index import CandidatePools, FilterIndex
from vlkge_graph.evaluation.metrics import MODALITY_BUCKETS, RankingResult, modality_bucket_ids
from vlkge_graph.evaluation.ranking import rank_queries
from vlkge_graph.models import Features, KGEModel, build_model
from vlkge_graph.published import PublishedParams, load_calibration
from vlkge_graph.snapshot import MANIFEST, read_snapshot
from vlkge_graph.training import checkpoint
from vlkge_graph.training.data import TrainingData
from vlkge_graph.training.loop import Trainer, seed_everything
from vlkge_graph.training.recipe import EvaluationSpec, Recipe, load_recipe, parse_recipe
from vlkge_graph.training.warm_start import warm_start

MODEL_FILE = "model.pt"
METRICS_FILE = "metrics.json"
#: The calibration and its test-split measures (evaluation/calibration.py; the run report reads it).
CALIBRATION_FILE = "calibration.json"
#: The ETL recipe ``train --triples`` writes into the output directory (its dataset, re-read by ``evaluate``).
DATASET_FILE = "dataset.yaml"
CHECKPOINTS = "checkpoints"


def read_tables(dataset: str) -> TableSet:
    """A snapshot directory (it has a manifest) or an ETL recipe name / path."""
    if (Path(dataset) / MANIFEST).is_file():
        return read_snapshot(dataset)[0]
    from vlkge_graph.etl.readers import read_dataset

    return read_dataset(dataset)


def model_features(tables: TableSet, recipe: Recipe, device: torch.device,
                   progress: bool = True) -> Features | None:
    """The recipe's modality features through the encoder cache; None in structure-only mode."""
    if not recipe.features:
        return None
    from vlkge_graph.encoders.features import encode_features

    return encode_features(tables, image_encoder=recipe.features.get("image"),
                           text_encoder=recipe.features.get("text"), name_encoder=recipe.features.get("name"),
                           device=device, progress=progress)


def make_model(recipe: Recipe, data: TrainingData, features: Features | None) -> KGEModel:
    """The recipe's model for ``data``; entities absent from training are masked as unseen."""
    spec = recipe.model
    return build_model(spec.backbone, data.num_entities, data.num_relations, spec.dim, features=features,
                       seen=data.seen(), fusion=spec.fusion, imaginary=spec.imaginary,
                       imag_init=spec.imag_init, adapter=spec.adapter, init_std=spec.init_std,
                       reciprocal=spec.reciprocal, dropout=spec.dropout, backbone_options=spec.options,
                       structure=spec.structure, structure_dropout=spec.structure_dropout,
                       projection=spec.projection)


def candidate_pools(data: TrainingData, spec: EvaluationSpec,
                    directions: Sequence[str] | None = None) -> list[CandidatePools] | None:
    """The protocol's answer pools: per relation, every answer it has in any split (WikiArt); for the
    protocol's directions, or ``directions``."""
    if not spec.candidate_pools:
        return None
    return [data.candidate_pools(d, ("train", "valid", "test")) for d in directions or spec.directions]


def rank_split(model: KGEModel, data: TrainingData, split: str, spec: EvaluationSpec,
               device: torch.device, progress: bool = False, filter_index: FilterIndex | None = None,
               pools: list[CandidatePools] | None = None, console: Console | None = None) -> RankingResult:
    """Filtered ranking of ``split`` under the recipe's protocol (filter over every split).

    ``filter_index`` / ``pools``: prebuilt ones, so repeated validation does not rebuild them.
    """
    was_training = model.training
    model.eval()
    filter_index = filter_index if filter_index is not None else data.filter_index()
    pools = pools if pools is not None else candidate_pools(data, spec)
    result = rank_queries(model.score_fn(), data.splits[split], filter_index, data.num_entities,
                          directions=spec.directions, filter_mode=spec.filter, ties=spec.ties,
                          block_size=spec.block_size, candidates=pools, device=device,
                          relation_names=list(data.relation_ids), progress=progress, console=console)
    model.train(was_training)
    return result


def result_groups(model: KGEModel, result: RankingResult,
                  spec: EvaluationSpec | None = None) -> dict[str, tuple[torch.Tensor, list[str]]]:
    """Slices for reports: answers seen vs unseen in training, answers' modality bucket, and (inductive
    protocol) how many ends of the evaluated triple are unseen."""
    entities = model.entities
    targets = result.targets
    seen = entities.seen.cpu()
    groups = {"answer": (seen[targets].long(), ["unseen", "seen"])}
    if spec is not None and spec.protocol == "inductive":
        unseen_ends = (~seen[result.queries[:, 0]]).long() + (~seen[result.queries[:, 2]]).long()
        groups["unseen ends"] = (unseen_ends, ["0", "1", "2"])
    if entities.modalities:
        none = torch.zeros(entities.num_entities, dtype=torch.bool)
        has = {m: getattr(entities, f"present_{m}").cpu() for m in entities.modalities}
        buckets = modality_bucket_ids(has.get("image", none), has.get("text", none))
        groups["answer modality"] = (buckets[targets], list(MODALITY_BUCKETS))
    return groups


def _environment(device: torch.device) -> dict[str, Any]:
    env = {"device": str(device), "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
           "threads": torch.get_num_threads()}
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


@dataclass
class TrainedRun:
    """A trained model ready to score, with the data, tables and recipe it was trained with."""

    model: KGEModel
    data: TrainingData
    tables: TableSet
    recipe: Recipe
    #: Platt coefficients fitted on the validation split; None: uncalibrated (probability = sigmoid(score)).
    calibration: Calibration | None = None

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def evaluate(self, split: str = "test", progress: bool = False, console: Console | None = None) -> RankingResult:
        """Filtered ranking of ``split`` under the recipe's protocol (progress on ``console``)."""
        return rank_split(self.model, self.data, split, self.recipe.evaluation, self.device, progress,
                          console=console)

    def metrics(self, split: str, result: RankingResult, calibration: dict[str, Any] | None = None) -> dict[str, Any]:
        """The run record of ``split``: ranking metrics, and with a calibration report (calibration_report)
        the probabilities' ECE and Brier score."""
        measured = result.to_dict(self.groups(result))
        if calibration is not None:
            measured.update({k: calibration[split][k] for k in ("ece", "brier")})
        return {"recipe": self.recipe.name, "dataset": self.data.name, split: measured,
                "environment": _environment(self.device)}

    def groups(self, result: RankingResult) -> dict[str, tuple[torch.Tensor, list[str]]]:
        return result_groups(self.model, result, self.recipe.evaluation)

    def scored_pairs(self, split: str) -> ScoredPairs:
        """The split's queries' true answers and filtered corruptions, as calibration weighs them."""
        spec = self.recipe.evaluation
        pools = candidate_pools(self.data, spec, DIRECTIONS)
        was_training = self.model.training
        self.model.eval()
        pairs = scored_pairs(self.model.score_fn(), self.data.splits[split], self.data.filter_index(),
                             candidates=pools, filter_mode=spec.filter, device=self.device)
        self.model.train(was_training)
        return pairs

    def calibrate(self) -> TrainedRun:
        """This run with Platt coefficients fitted on its validation split (evaluation/calibration.py);
        unchanged (uncalibrated) without validation facts."""
        if not len(self.data.splits["valid"]):
            return self
        return replace(self, calibration=calibrate(self.scored_pairs("valid"), list(self.data.relation_ids)))

    def calibration_report(self, split: str = "test") -> dict[str, Any] | None:
        """``calibration.json``'s content: the coefficients and their ECE, Brier and reliability table on
        ``split``; None for an uncalibrated run."""
        if self.calibration is None:
            return None
        metrics = calibration_metrics(self.calibration, self.scored_pairs(split), list(self.data.relation_ids))
        return {**self.calibration.to_dict(), split: metrics}

    @torch.no_grad()
    def probability(self, head: str, relation: str, tail: str, direction: str = "tail") -> float:
        """The probability that ``(head, relation, tail)`` is a true fact (entity ids, relation name), from
        the score of the ``direction`` query, as publish writes it and ``vlkge.probability`` gives it."""
        ids, relations = list(self.data.entity_ids), list(self.data.relation_ids)
        h, r, t = ids.index(head), relations.index(relation), ids.index(tail)
        other = t if direction == "tail" else h
        query = torch.tensor([[h, r, t]], device=self.device)
        score = self.model.score_queries(query, direction, self.model.entity_vectors()[[other]])[0, 0]
        return float(probability(self.calibration, score, relation, direction))

    @torch.no_grad()
    def published(self) -> PublishedParams:
        """Entity vectors and the backbone's own published parameters (see PublishedParams)."""
        model = self.model
        options, table = model.backbone.published_params()
        table = table.float().cpu().numpy()
        r = model.num_relations
        return PublishedParams(backbone=self.recipe.model.backbone, dim=model.backbone.dim,
                               reciprocal=model.reciprocal, entity_ids=list(self.data.entity_ids),
                               relation_ids=list(self.data.relation_ids),
                               entity_vectors=model.entity_vectors().float().cpu().numpy(),
                               relation_vectors=table[:r], inverse_vectors=table[r:2 * r] if model.reciprocal else None,
                               options=options,
                               calibration=self.calibration.to_dict() if self.calibration is not None else None)


def fit(recipe: str | Path | Recipe, *, dataset: str | None = None, device: str | None = None,
        output: str | Path | None = None, resume: bool = True, progress: bool = True,
        console: Console | None = None, hard_negatives: pd.DataFrame | None = None,
        features: Features | None = None, tables: TableSet | None = None,
        warm_from: str | Path | None = None, warm_shrink: float = 1.0,
        warm_optimizer: bool = True) -> tuple[TrainedRun, dict[str, Any]]:
    """Train a recipe (the best validation model is kept) and return it with a training report. Writes
    ``output`` (checkpoints, ``model.pt``). ``dataset`` overrides the recipe's (e.g. a snapshot directory
    exported from Neo4j); ``tables``: the dataset already read; ``features``: already encoded ones (else
    through the encoder cache);
    ``hard_negatives``: (head, relation, tail) names of triples known to be false (rejected candidates),
    pushed down during training. ``warm_from``: an earlier run's ``train`` directory (or ``model.pt``) whose
    parameters the model starts from, matched by entity and relation key, shrunk by ``warm_shrink`` towards a
    fresh initialisation (training/warm_start.py); ``warm_optimizer``: carry its optimiser state too (its
    ``optimizer.pt``; a run without one gives a fresh state, said in the report)."""
    console = console or Console(stderr=True)
    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    if dataset is not None:
        recipe = replace(recipe, dataset=dataset)
    if not recipe.dataset:
        raise ConfigError(f"training recipe {recipe.name!r} names no dataset: add dataset: to it, or give "
                          "--dataset or --triples")
    dev = resolve_device(device)
    out = Path(output) if output is not None else None
    tables = tables if tables is not None else read_tables(recipe.dataset)
    data = TrainingData.from_tables(tables)
    if hard_negatives is not None and len(hard_negatives):
        data = data.with_hard_negatives(hard_negatives)
    if features is None:
        features = model_features(tables, recipe, dev, progress)
    seed_everything(recipe.training.seed)
    model = make_model(recipe, data, features)
    warm = (warm_start(model, data.entity_ids, data.relation_ids, warm_from, warm_shrink,
                       recipe.training.optimizer if warm_optimizer else None) if warm_from is not None else None)
    if warm is not None:
        console.print(f"warm start: optimiser state {warm.record['optimizer_state']}")
    meta = {"recipe": recipe.to_dict(), "entity_ids": list(data.entity_ids),
            "relation_ids": list(data.relation_ids)}

    def validation_mrr(m: KGEModel) -> float:
        return rank_split(m, data, "valid", recipe.evaluation, trainer.device, filter_index=known,
                          pools=pools).summary()["mrr"]

    has_valid = len(data.splits["valid"]) > 0
    trainer = Trainer(model, data, recipe.training, device=dev, evaluator=validation_mrr if has_valid else None,
                      checkpoint_dir=out / CHECKPOINTS if out else None, meta=meta, progress=progress,
                      console=console, optimizer_state=warm.optimizer_state if warm else None)
    known, pools = data.filter_index().to(trainer.device), candidate_pools(data, recipe.evaluation)
    start = time.perf_counter()
    state = trainer.fit(resume=resume)
    report = {"epochs": state.epoch, "best_epoch": state.best_epoch,
              "best_valid_mrr": state.best_metric if has_valid else None, "stopped_early": state.stopped_early,
              "seconds": time.perf_counter() - start, "history": state.history, "rank": trainer.rank,
              "warm_start": warm.record if warm else None}
    if out is not None and trainer.rank == 0:
        checkpoint.save(out / MODEL_FILE, {"model": model.state_dict(), "meta": meta})
        checkpoint.save(out / checkpoint.OPTIMIZER, trainer.trained_optimizer_state())
    run = TrainedRun(model.eval(), data, tables, recipe)
    return (run.calibrate() if trainer.rank == 0 else run), report


def train(recipe: str | Path | Recipe, *, dataset: str | None = None, device: str | None = None,
          output: str | Path | None = None, resume: bool = True, progress: bool = True,
          console: Console | None = None, hard_negatives: pd.DataFrame | None = None,
          features: Features | None = None) -> dict[str, Any]:
    """:func:`fit`, then evaluate the best model on the test split; writes ``metrics.json`` into ``output``
    and returns the metrics (what ``vlkge-graph train`` does)."""
    console = console or Console(stderr=True)
    run, report = fit(recipe, dataset=dataset, device=device, output=output, resume=resume, progress=progress,
                      console=console, hard_negatives=hard_negatives, features=features)
    if report.pop("rank") != 0:
        return {}
    result = run.evaluate("test", progress, console)
    calibration = run.calibration_report("test")
    metrics = {**run.metrics("test", result, calibration), "data": run.data.summary(), "training": report}
    if output is not None:
        (Path(output) / METRICS_FILE).write_text(json.dumps(metrics, indent=2, default=float), encoding="utf-8")
        write_calibration(Path(output), calibration)
    console.print(result.table(title=f"{run.recipe.name}: test", groups=run.groups(result)))
    return metrics


def write_calibration(directory: Path, report: dict[str, Any] | None) -> None:
    """``calibration.json`` (see :meth:`TrainedRun.calibration_report`); nothing for an uncalibrated run."""
    if report is not None:
        (directory / CALIBRATION_FILE).write_text(json.dumps(report, indent=2), encoding="utf-8")


def saved_calibration(directory: Path) -> Calibration | None:
    """The calibration saved with a trained model: with its published parameters (a sync's train stage), else
    in ``calibration.json`` (``vlkge-graph train``); None for a run trained before calibration existed."""
    saved = load_calibration(directory)
    if saved is None and (directory / CALIBRATION_FILE).is_file():
        saved = json.loads((directory / CALIBRATION_FILE).read_text(encoding="utf-8"))
    return Calibration.from_dict(saved) if saved is not None else None


def load_trained(model_path: str | Path, *, dataset: str | None = None, device: str | None = None,
                 progress: bool = False, features: Features | None = None,
                 tables: TableSet | None = None) -> TrainedRun:
    """A trained model ready to score, with its data: from ``model.pt``, a checkpoint, or a ``train``
    output directory. ``dataset`` overrides the recipe's (e.g. the snapshot it was trained on); its
    entities and relations must be the ones the model was trained on, in the same order. ``tables`` /
    ``features``: the dataset already read / already encoded (a run directory's), else read / encoded here."""
    path = Path(model_path)
    if path.is_dir():
        path = path / MODEL_FILE
    payload = checkpoint.load(path)
    meta = payload["meta"]
    recipe = parse_recipe(meta["recipe"], str(path))
    if dataset is not None:
        recipe = replace(recipe, dataset=dataset)
    dev = resolve_device(device)
    tables = tables if tables is not None else read_tables(recipe.dataset)
    data = TrainingData.from_tables(tables)
    if list(data.entity_ids) != meta["entity_ids"] or list(data.relation_ids) != meta["relation_ids"]:
        raise DataError(f"{path}: the dataset {recipe.dataset!r} does not hold the entities / relations "
                        "the model was trained on")
    if features is None:
        features = model_features(tables, recipe, dev, progress)
    model = make_model(recipe, data, features)
    model.load_state_dict(payload["model"])
    return TrainedRun(model.to(dev).eval(), data, tables, recipe, saved_calibration(path.parent))


def evaluate(model_path: str | Path, *, split: str = "test", dataset: str | None = None,
             device: str | None = None, output: str | Path | None = None, progress: bool = True,
             console: Console | None = None) -> dict[str, Any]:
    """Evaluate a trained model (see :func:`load_trained`) with its recipe's protocol; optionally
    write ``metrics-<split>.json`` into ``output``."""
    console = console or Console(stderr=True)
    run = load_trained(model_path, dataset=dataset, device=device, progress=progress)
    result = run.evaluate(split, progress, console)
    metrics = run.metrics(split, result, run.calibration_report(split))
    if output is not None:
        Path(output).mkdir(parents=True, exist_ok=True)
        (Path(output) / f"metrics-{split}.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    console.print(result.table(title=f"{run.recipe.name}: {split}", groups=run.groups(result)))
    return metrics
