"""``vlkge-graph refresh``: fold new and edited entities into the active run without retraining.

The same stages as a sync, on the change: the current export becomes the snapshot, the encoder cache
encodes only new contents, the active run's model is folded over the current entities (jobs/fold.py:
new entities are embedded from their features), only the top-k lists the change touched are predicted
again, and publish writes only those lists and the new or edited entities' embeddings, switching the
active run in the same transaction (graph/publish_changes.py). A refresh is a run of its own (its run
directory holds full artifacts, so the next refresh, or ``--from``, starts from it); in the graph it
continues its parent's generation. Relation parameters stay the parent's.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from rich.console import Console

from vlkge_graph.config import Config
from vlkge_graph.errors import ConfigError
from vlkge_graph.graph.connection import Graph
from vlkge_graph.jobs.changes import FACT_KEY
from vlkge_graph.jobs.sync import (
    CANDIDATES,
    FEATURES,
    RECIPE_FILE,
    SNAPSHOT,
    TRAIN,
    RunState,
    Stage,
    encode_stage,
    export_stage,
    new_run_dir,
    predict_candidates,
    run_stages,
)

if TYPE_CHECKING:
    from vlkge_graph.jobs.changes import Changes
    from vlkge_graph.training.api import TrainedRun

log = logging.getLogger(__name__)

#: Which top-k lists the refresh predicted again (anchor id, relation, direction), for publish.
TOUCHED = "touched_lists.parquet"
CHANGES = "changes.json"
LIST_KEY = ["anchor", "relation", "direction"]


def refresh(graph: Graph, config: Config, changes: Changes, *, device: str | None = None,
            console: Console | None = None, start: str = "export", run_dir: Path | None = None) -> RunState:
    """Fold ``changes`` (from :func:`vlkge_graph.jobs.changes.detect`) into the scope's active run."""
    console = console or Console(stderr=True)
    parent = Path(config.sync.runs_dir) / changes.run_id
    if not (parent / TRAIN).is_dir():
        raise ConfigError(f"refresh of scope {changes.scope!r}: the active run's directory {parent} is not on this "
                          "machine (runs_dir in the config); run a full sync here first")
    if run_dir is None:
        run_dir = new_run_dir(config, kind="refresh", parent=changes.run_id)
        Change.of(changes).save(run_dir)
    stage = Stage(graph, config, run_dir, RunState.load(run_dir), device or config.sync.device, console)
    stage.current = changes.current
    return run_stages(REFRESH_STAGES, stage, start)


@dataclass
class Change:
    """What a refresh folds in (``changes.json`` in its run directory): entity ids and (head, relation, tail)
    facts, as change detection found them against the parent run."""

    parent: str
    new: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    edited: list[str] = field(default_factory=list)
    new_facts: list[list[str]] = field(default_factory=list)
    removed_facts: list[list[str]] = field(default_factory=list)

    @classmethod
    def of(cls, changes: Changes) -> Change:
        def facts(frame: pd.DataFrame) -> list[list[str]]:
            return frame[FACT_KEY].astype(str).to_numpy().tolist()

        return cls(changes.run_id, sorted(changes.new_entities), sorted(changes.removed_entities),
                   sorted(changes.changed_entities), facts(changes.new_facts), facts(changes.removed_facts))

    def save(self, run_dir: Path) -> None:
        (run_dir / CHANGES).write_text(json.dumps(asdict(self)), encoding="utf-8")

    @classmethod
    def load(cls, run_dir: Path) -> Change:
        return cls(**json.loads((run_dir / CHANGES).read_text(encoding="utf-8")))

    def facts(self, which: str) -> pd.DataFrame:
        return pd.DataFrame(getattr(self, which), columns=FACT_KEY, dtype=str)


def _parent(stage: Stage) -> Path:
    assert stage.state.parent is not None
    return Path(stage.config.sync.runs_dir) / stage.state.parent


def _fold(stage: Stage) -> dict[str, Any]:
    """The parent's model over the current entities; written like a trained run's artifacts."""
    from vlkge_graph.encoders.features import load_features
    from vlkge_graph.jobs.fold import fold
    from vlkge_graph.snapshot import read_snapshot
    from vlkge_graph.training import checkpoint
    from vlkge_graph.training.api import MODEL_FILE, load_trained

    parent = _parent(stage)
    features = load_features(parent / FEATURES) if (parent / FEATURES).is_dir() else None
    base = load_trained(parent / TRAIN, dataset=str(parent / SNAPSHOT), device=stage.device, features=features,
                        tables=read_snapshot(parent / SNAPSHOT)[0])
    run = fold(base, stage.tables(), stage.features())
    out = stage.run_dir / TRAIN
    out.mkdir(parents=True, exist_ok=True)
    checkpoint.save(out / MODEL_FILE, {"model": run.model.state_dict(), "meta": {
        "recipe": run.recipe.to_dict(), "entity_ids": list(run.data.entity_ids),
        "relation_ids": list(run.data.relation_ids)}})
    run.published().save(out)
    shutil.copy(parent / TRAIN / RECIPE_FILE, out / RECIPE_FILE)
    stage.trained_run = run
    seen = run.model.entities.seen
    stages = RunState.load(parent).stages
    parent_test = stages.get("evaluate", stages.get("fold", {}))
    return {"entities": len(seen), "folded_in": int((~seen).sum()), "parent": stage.state.parent,
            "test": parent_test.get("test", {})}  # the parent's metrics: the model did not change


def touched_lists(run: TrainedRun, before: pd.DataFrame, change: Change, k: int) -> dict[tuple[str, str], torch.Tensor]:
    """Per (relation, direction), the query entities whose top-k list the change may alter:
    new and edited entities; lists holding a removed or edited entity; both ends of new and removed facts;
    and lists that a new or edited entity now enters (it scores above the list's k-th score, or the list is
    shorter than k)."""
    new, edited, removed = set(change.new), set(change.edited), set(change.removed)
    ids = pd.Index(list(run.data.entity_ids))
    lists = before.assign(anchor=np.where(before["direction"] == "tail", before["head"], before["tail"]),
                          other=np.where(before["direction"] == "tail", before["tail"], before["head"]))
    changed = new | edited
    touched: dict[tuple[str, str], set[str]] = {}

    def add(relation: str, direction: str, anchors: object) -> None:
        touched.setdefault((relation, direction), set()).update(a for a in anchors if a not in removed)

    directions = sorted(set(lists["direction"])) or ["tail"]
    for relation in run.data.relation_ids:
        for direction in directions:
            add(relation, direction, changed & set(ids))
    stale = lists["other"].isin(removed | edited)
    for (relation, direction), group in lists[stale].groupby(["relation", "direction"]):
        add(relation, direction, group["anchor"])
    facts = pd.concat([change.facts("new_facts"), change.facts("removed_facts")])
    for relation, group in facts.groupby("relation"):  # a new fact leaves a list, a removed one may enter it
        for direction in directions:
            add(str(relation), direction, group["head" if direction == "tail" else "tail"])
    entering = sorted(changed & set(ids))
    if entering and len(lists):
        model = run.model
        with torch.no_grad():
            vectors = model.entity_vectors()
            candidates = vectors[torch.as_tensor(ids.get_indexer(entering))]
            for (relation, direction), group in lists.groupby(["relation", "direction"]):
                if relation not in run.data.relation_ids:
                    continue
                per_list = group.groupby("anchor")["score"].agg(["min", "size"])
                anchors = torch.from_numpy(ids.get_indexer(per_list.index).astype(np.int64))
                keep = anchors >= 0
                threshold = torch.from_numpy(per_list["min"].to_numpy(np.float64, copy=True))[keep]
                anchors = anchors[keep]
                full = torch.from_numpy((per_list["size"] >= k).to_numpy(copy=True))[keep]
                queries = torch.zeros(len(anchors), 3, dtype=torch.long)
                queries[:, 0 if direction == "tail" else 2] = anchors
                queries[:, 1] = list(run.data.relation_ids).index(relation)
                best = model.score_queries(queries, direction, candidates).float().amax(dim=1)
                enters = ~full | (best > threshold.float())
                add(str(relation), direction, [ids[i] for i in anchors[enters].tolist()])
    return {key: torch.as_tensor(ids.get_indexer(sorted(value)), dtype=torch.long)
            for key, value in touched.items() if value}


def _predict(stage: Stage) -> dict[str, Any]:
    """The touched lists predicted again; the candidate table is the parent's with those lists replaced."""
    run = stage.trained()
    change = Change.load(stage.run_dir)
    p = stage.config.sync.predict
    before = pd.read_parquet(_parent(stage) / CANDIDATES)
    only = touched_lists(run, before, change, p.k)
    data = run.data
    fresh = predict_candidates(stage, run, only)
    ids = list(data.entity_ids)
    keys = pd.DataFrame([(ids[i], relation, direction) for (relation, direction), anchors in only.items()
                         for i in anchors.tolist()], columns=LIST_KEY)
    removed = set(change.removed)
    gone = pd.DataFrame([(a, r, d) for a in removed for r in data.relation_ids for d in p.directions],
                        columns=LIST_KEY)
    keys = pd.concat([keys, gone], ignore_index=True).drop_duplicates()
    anchor = np.where(before["direction"] == "tail", before["head"], before["tail"])
    listed = pd.MultiIndex.from_frame(before.assign(anchor=anchor)[LIST_KEY])
    kept = before[~listed.isin(pd.MultiIndex.from_frame(keys))]
    candidates = pd.concat([kept, fresh], ignore_index=True)
    candidates.to_parquet(stage.run_dir / CANDIDATES)
    keys.to_parquet(stage.run_dir / TOUCHED)
    stability = jaccard_at_k(before, candidates, exclude=set(change.new) | set(change.edited) | removed)
    stage.console.print(f"{len(keys):,} top-k lists touched; {len(fresh):,} candidates written again "
                        f"(of {len(candidates):,}); mean Jaccard@{p.k} of unchanged entities' lists {stability:.3f}")
    return {"touched_lists": len(keys), "candidates_written": len(fresh), "candidates": len(candidates),
            "jaccard_at_k": stability}


def jaccard_at_k(before: pd.DataFrame, after: pd.DataFrame, exclude: set[str] | None = None) -> float:
    """Mean Jaccard overlap of the top-k lists (anchor, relation, direction) of anchors not in ``exclude``,
    between two candidate tables: 1.0 when the predictions did not move."""
    def sets(frame: pd.DataFrame) -> pd.Series:
        f = frame.assign(anchor=np.where(frame["direction"] == "tail", frame["head"], frame["tail"]),
                         other=np.where(frame["direction"] == "tail", frame["tail"], frame["head"]))
        f = f[~f["anchor"].isin(exclude or set())]
        return f.groupby(LIST_KEY)["other"].agg(frozenset)

    a, b = sets(before), sets(after)
    keys = a.index.union(b.index)
    if not len(keys):
        return 1.0
    a, b = a.reindex(keys), b.reindex(keys)
    scores = [len(x & y) / len(x | y) if isinstance(x, frozenset) and isinstance(y, frozenset) and (x | y) else
              (1.0 if not isinstance(x, frozenset) and not isinstance(y, frozenset) else 0.0)
              for x, y in zip(a, b, strict=True)]
    return float(np.mean(scores))


def _publish(stage: Stage) -> dict[str, Any]:
    from vlkge_graph.graph.publish_changes import publish_changes
    from vlkge_graph.published import PublishedParams

    params = PublishedParams.load(stage.run_dir / TRAIN)
    change = Change.load(stage.run_dir)
    flt = stage.config.sync.graph
    assert flt is not None
    ids = pd.Index(params.entity_ids)
    write = sorted(set(change.new) | set(change.edited))
    rows = ids.get_indexer(write)
    entities = stage.tables().entities.set_index("id").loc[write].reset_index()[["id", "label"]]
    candidates = pd.read_parquet(stage.run_dir / CANDIDATES)
    keys = pd.read_parquet(stage.run_dir / TOUCHED)
    anchor = np.where(candidates["direction"] == "tail", candidates["head"], candidates["tail"])
    listed = pd.MultiIndex.from_frame(candidates.assign(anchor=anchor)[LIST_KEY])
    fresh = candidates[listed.isin(pd.MultiIndex.from_frame(keys))]
    if len(fresh) > stage.config.sync.refresh_transaction_max:
        stage.console.print(f"the change touched {len(keys):,} top-k lists ({len(fresh):,} candidates, more than one "
                            f"transaction takes): publishing a whole new generation instead")
        from vlkge_graph.jobs.sync import publish_stage

        return {**publish_stage(stage), "mode": "full generation", "lists": len(keys)}
    summary = publish_changes(
        stage.graph, run_id=stage.state.run_id, parent=stage.state.parent or "", scope=stage.state.scope,
        entity_key=flt.key, entity_labels=list(flt.entity_labels), entities=entities,
        embeddings=params.entity_vectors[rows], lists=keys, candidates=fresh,
        stats={"timings": {s: v.get("seconds", 0.0) for s, v in stage.state.stages.items()},
               "jaccard_at_k": stage.state.stages.get("predict", {}).get("jaccard_at_k")},
        lock_wait_s=stage.config.sync.lock_wait_s)
    stage.console.print(f"refreshed: {summary.candidates:,} candidates in {summary.lists:,} lists and "
                        f"{summary.embeddings:,} embeddings written in {summary.seconds:.1f} s")
    return {**asdict(summary), "mode": "one transaction"}


#: The refresh's stages: a sync's, with fold in place of train and evaluate, and no report (the model and its
#: metrics are the parent's; ``vlkge-graph report`` on a refresh run shows them with the folded model's predictions).
REFRESH_STAGES = [("export", export_stage), ("encode", encode_stage), ("fold", _fold), ("predict", _predict),
                  ("publish", _publish)]
