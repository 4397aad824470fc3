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
from vlkge_graph.jobs.changes import FACT_KEY, last_retrain_dir
from vlkge_graph.jobs.retention import prune_runs
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
        run_dir = new_run_dir(config, kind="refresh", parent=changes.run_id, retrain=last_retrain_dir(parent).name)
        Change.of(changes).save(run_dir)
    stage = Stage(graph, config, run_dir, RunState.load(run_dir), device or config.sync.device, console)
    stage.current = changes.current
    state = run_stages(REFRESH_STAGES, stage, start)
    prune_runs(graph, config, console)
    return state


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


class Lists:
    """Top-k lists named by one integer each, ``(anchor row * relations + relation) * 2 + direction``:
    set operations over millions of candidates stay numpy operations instead of string tuples."""

    def __init__(self, entity_ids: list[str], relation_ids: list[str]) -> None:
        self.ids, self.relations = pd.Index(entity_ids), pd.Index(relation_ids)

    def codes(self, frame: pd.DataFrame) -> np.ndarray:
        """The list of each candidate row; -1 where its anchor or relation is no longer in the model."""
        head = (frame["direction"] == "head").to_numpy()
        anchor = self.ids.get_indexer(np.where(head, frame["tail"], frame["head"]))
        relation = self.relations.get_indexer(frame["relation"])
        code = (anchor.astype(np.int64) * len(self.relations) + relation) * 2 + head
        return np.where((anchor >= 0) & (relation >= 0), code, -1)

    def key_codes(self, keys: pd.DataFrame) -> np.ndarray:
        """The codes of (anchor, relation, direction) rows (``keys``); -1 for anchors not in the model."""
        return self.codes(pd.DataFrame({"head": keys["anchor"], "tail": keys["anchor"],
                                        "relation": keys["relation"], "direction": keys["direction"]}))

    def of(self, anchors: object, relation: str, direction: str) -> np.ndarray:
        rows = self.ids.get_indexer(pd.Index(list(anchors)))  # type: ignore[call-overload]
        rows = rows[rows >= 0].astype(np.int64)
        return (rows * len(self.relations) + self.relations.get_loc(relation)) * 2 + (direction == "head")

    def anchors(self, codes: np.ndarray) -> np.ndarray:
        return codes // 2 // len(self.relations)

    def only(self, codes: np.ndarray) -> dict[tuple[str, str], torch.Tensor]:
        """``predict_links``' ``only``: the anchors of ``codes`` per (relation, direction)."""
        codes = np.unique(codes)
        anchor, relation, head = self.anchors(codes), codes // 2 % len(self.relations), codes % 2
        return {(str(self.relations[r]), "head" if d else "tail"):
                torch.from_numpy(anchor[(relation == r) & (head == d)])
                for r, d in set(zip(relation.tolist(), head.tolist(), strict=True))}

    def keys(self, codes: np.ndarray) -> pd.DataFrame:
        """The lists of ``codes`` as (anchor id, relation, direction) rows."""
        codes = np.unique(codes)
        anchor, relation = self.anchors(codes), codes // 2 % len(self.relations)
        return pd.DataFrame({"anchor": np.asarray(self.ids, dtype=object)[anchor],
                             "relation": np.asarray(self.relations, dtype=object)[relation],
                             "direction": np.where(codes % 2 == 1, "head", "tail")})


def lists_to_rescore(lists: Lists, before: pd.DataFrame, codes: np.ndarray, change: Change,
                     rejected: pd.DataFrame, directions: list[str]) -> np.ndarray:
    """Lists whose entries a change may alter other than by a new entity entering them, so they are ranked
    again over every entity: the lists of new and edited entities; lists holding a removed or edited entity
    or a pair rejected since; both ends' lists of new and removed facts."""
    new, edited, removed = set(change.new), set(change.edited), set(change.removed)
    parts = [lists.of(new | edited, str(r), d) for r in lists.relations for d in directions]
    other = np.where(before["direction"] == "head", before["head"], before["tail"])
    stale = pd.Series(other).isin(removed | edited).to_numpy()
    if len(rejected):
        stale |= pd.MultiIndex.from_frame(before[FACT_KEY].astype(str)).isin(
            pd.MultiIndex.from_frame(rejected[FACT_KEY].astype(str)))
    parts.append(codes[stale])
    facts = pd.concat([change.facts("new_facts"), change.facts("removed_facts")])
    for relation, group in facts.groupby("relation"):  # a new fact leaves a list, a removed one may enter it
        if relation in lists.relations:
            parts += [lists.of(group["head" if d == "tail" else "tail"], str(relation), d) for d in directions]
    out = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return np.unique(out[out >= 0])


def relabelled(run: TrainedRun, change: Change, directions: list[str]) -> list[tuple[str, str]]:
    """(relation, direction)s whose label constraint (``predict.constrain_labels``: labels seen at each end
    of a relation) the change's facts altered: all their lists are ranked again. Labels are the current
    ones; a removed entity's label is no longer known, so its removed facts count as never there."""
    label = run.tables.entities.set_index("id")["type_label"]
    data = run.data
    ids, relations = np.asarray(data.entity_ids, dtype=object), np.asarray(data.relation_ids, dtype=object)
    now = pd.DataFrame(torch.cat(list(data.splits.values())).numpy(), columns=FACT_KEY)
    now = pd.DataFrame({"head": ids[now["head"]], "relation": relations[now["relation"]], "tail": ids[now["tail"]]})
    key = pd.MultiIndex.from_frame(now)
    new = change.facts("new_facts")
    then = pd.concat([now[~key.isin(pd.MultiIndex.from_frame(new))], change.facts("removed_facts")])

    def ends(frame: pd.DataFrame) -> set[tuple[str, str, str]]:  # (relation, end, a label seen there)
        return {(r, end, label[e]) for end in ("head", "tail")
                for r, e in zip(frame["relation"], frame[end], strict=True) if e in label.index}

    moved = sorted({r for r, _, _ in ends(now) ^ ends(then)})
    return [(r, d) for r in moved for d in directions]


def entered_lists(before: pd.DataFrame, codes: np.ndarray, best: pd.DataFrame, best_codes: np.ndarray,
                  k: int) -> np.ndarray:
    """The lists a new entity enters: its score (``best``: the new entities' best per list) beats the list's
    k-th entry, or the list holds fewer than k."""
    stats = pd.DataFrame({"code": codes, "score": before["score"].to_numpy()}).groupby("code")["score"].agg(
        ["min", "size"])
    floor = stats["min"].reindex(best_codes).to_numpy()
    full = (stats["size"].reindex(best_codes).fillna(0) >= k).to_numpy()
    enters = ~full | (best["score"].to_numpy() > np.nan_to_num(floor, nan=-np.inf))
    return np.unique(best_codes[enters])


def merge_lists(before: pd.DataFrame, codes: np.ndarray, entering: pd.DataFrame, entering_codes: np.ndarray,
                k: int) -> pd.DataFrame:
    """The top k of each list of ``entering`` (the new entities' own top k) ranked with its old entries: every
    other entity's score is as before, so that is the top k over all entities."""
    both = pd.concat([before[np.isin(codes, entering_codes)], entering], ignore_index=True)
    both_codes = np.concatenate([codes[np.isin(codes, entering_codes)], entering_codes])
    order = np.lexsort((-both["score"].to_numpy(), both_codes))
    both, both_codes = both.iloc[order].reset_index(drop=True), both_codes[order]
    rank = pd.Series(both_codes).groupby(both_codes).cumcount().to_numpy() + 1
    return both.assign(rank=rank)[rank <= k].reset_index(drop=True)


def _predict(stage: Stage) -> dict[str, Any]:
    """The candidate table is the parent's with the lists the change touched replaced: lists a change may
    alter are ranked again over every entity; the others take the new entities' top k into account."""
    run = stage.trained()
    change = Change.load(stage.run_dir)
    p = stage.config.sync.predict
    before = pd.read_parquet(_parent(stage) / CANDIDATES)
    lists = Lists(list(run.data.entity_ids), list(run.data.relation_ids))
    codes = lists.codes(before)
    rescore = lists_to_rescore(lists, before, codes, change, stage.rejected(), list(p.directions))
    if p.constrain_labels:
        every = np.arange(len(lists.ids), dtype=np.int64)
        rescore = np.union1d(rescore, np.concatenate(
            [lists.of(lists.ids[every], r, d) for r, d in relabelled(run, change, list(p.directions))] or [[]]
        ).astype(np.int64))
    fresh = predict_candidates(stage, run, lists.only(rescore))
    newcomers = [i for i in lists.ids.get_indexer(change.new) if i >= 0]
    entered = np.zeros(0, dtype=np.int64)
    if newcomers:  # which lists they enter from their best entry, then their top k for those lists only
        answers = torch.as_tensor(newcomers, dtype=torch.long)
        best = predict_candidates(stage, run, answers=answers, k=1)
        entered = np.setdiff1d(entered_lists(before, codes, best, lists.codes(best), p.k), rescore)
        entering = predict_candidates(stage, run, lists.only(entered), answers=answers)
        fresh = pd.concat([fresh, merge_lists(before, codes, entering, lists.codes(entering), p.k)],
                          ignore_index=True)
    touched = np.concatenate([rescore, entered])
    kept = before[(codes >= 0) & ~np.isin(codes, touched)]
    candidates = pd.concat([kept, fresh], ignore_index=True)
    candidates.to_parquet(stage.run_dir / CANDIDATES)
    gone = pd.DataFrame([(a, r, d) for a in sorted(change.removed) for r in run.data.relation_ids
                         for d in p.directions], columns=LIST_KEY)
    keys = pd.concat([lists.keys(touched), gone], ignore_index=True)
    keys.to_parquet(stage.run_dir / TOUCHED)
    moved = stability(lists, before, codes, fresh, touched, set(change.new) | set(change.edited) | set(change.removed))
    stage.console.print(f"{len(keys):,} top-k lists touched ({len(rescore):,} ranked again, {len(entered):,} entered "
                        f"by new entities); {len(fresh):,} candidates written again (of {len(candidates):,}); "
                        f"mean Jaccard@{p.k} of unchanged entities' lists {moved:.3f}")
    return {"touched_lists": len(keys), "ranked_again": len(rescore), "entered": len(entered),
            "candidates_written": len(fresh), "candidates": len(candidates), "jaccard_at_k": moved}


def list_jaccard(before: pd.DataFrame, after: pd.DataFrame) -> pd.Series:
    """Jaccard overlap of each top-k list (``code``) between two tables of (code, other) rows: 1.0 where the
    list did not move, 0.0 where it is new or gone."""
    a, b = before.drop_duplicates(), after.drop_duplicates()
    size_a, size_b = a.groupby("code").size(), b.groupby("code").size()
    keys = size_a.index.union(size_b.index)
    common = a.merge(b, on=["code", "other"]).groupby("code").size().reindex(keys, fill_value=0)
    union = size_a.reindex(keys, fill_value=0) + size_b.reindex(keys, fill_value=0) - common
    return common / union


def stability(lists: Lists, before: pd.DataFrame, codes: np.ndarray, fresh: pd.DataFrame, touched: np.ndarray,
              exclude: set[str]) -> float:
    """Mean Jaccard@k of the lists of anchors not in ``exclude`` (the unchanged entities) between the parent's
    table and the refresh's: only ``touched`` lists can differ, so only they are compared."""
    excluded = lists.ids.get_indexer(pd.Index(sorted(exclude)))
    every = np.union1d(codes[codes >= 0], touched)
    every = every[~np.isin(lists.anchors(every), excluded)]
    if not len(every):
        return 1.0
    compared = touched[~np.isin(lists.anchors(touched), excluded)]

    def rows(frame: pd.DataFrame, frame_codes: np.ndarray) -> pd.DataFrame:
        pick = np.isin(frame_codes, compared)
        other = np.where(frame["direction"] == "head", frame["head"], frame["tail"])
        return pd.DataFrame({"code": frame_codes[pick], "other": other[pick]})

    jaccard = list_jaccard(rows(before, codes), rows(fresh, lists.codes(fresh)))
    return float((jaccard.sum() + len(every) - len(jaccard)) / len(every))


def _publish_generation(stage: Stage, why: str, lists: int) -> dict[str, Any]:
    """A change too large for one transaction is published as a whole new generation, in batches, as a sync
    does (still without training); the previous generation stays visible until it is complete."""
    from vlkge_graph.jobs.sync import publish_stage

    stage.console.print(f"{why}: publishing a whole new generation instead")
    return {**publish_stage(stage), "mode": "full generation", "lists": lists, "why": why}


def _publish(stage: Stage) -> dict[str, Any]:
    from vlkge_graph.graph.publish_changes import TransactionTooLarge, publish_changes
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
    lists = Lists(params.entity_ids, params.relation_ids)
    fresh = candidates[np.isin(lists.codes(candidates), lists.key_codes(keys))]
    if len(fresh) > stage.config.sync.refresh_transaction_max:
        return _publish_generation(stage, f"the change touched {len(keys):,} top-k lists ({len(fresh):,} candidates, "
                                          "more than sync.refresh_transaction_max)", len(keys))
    try:
        summary = publish_changes(
            stage.graph, run_id=stage.state.run_id, parent=stage.state.parent or "", scope=stage.state.scope,
            entity_key=flt.key, entity_labels=list(flt.entity_labels), entities=entities,
            embeddings=params.entity_vectors[rows], lists=keys, candidates=fresh,
            stats={"timings": {s: v.get("seconds", 0.0) for s, v in stage.state.stages.items()},
                   "jaccard_at_k": stage.state.stages.get("predict", {}).get("jaccard_at_k")},
            lock_wait_s=stage.config.sync.lock_wait_s)
    except TransactionTooLarge as exc:
        return _publish_generation(stage, str(exc), len(keys))
    stage.console.print(f"refreshed: {summary.candidates:,} candidates in {summary.lists:,} lists and "
                        f"{summary.embeddings:,} embeddings written in {summary.seconds:.1f} s")
    return {**asdict(summary), "mode": "one transaction"}


#: The refresh's stages: a sync's, with fold in place of train and evaluate, and no report (the model and its
#: metrics are the parent's; ``vlkge-graph report`` on a refresh run shows them with the folded model's predictions).
REFRESH_STAGES = [("export", export_stage), ("encode", encode_stage), ("fold", _fold), ("predict", _predict),
                  ("publish", _publish)]
