"""Publishing a run into Neo4j as a new generation that becomes visible atomically.

Order of work, each step batched and safe to repeat:
1. apply the project's schema (idempotent); take the scope's publish lock and its entity labels' locks;
   remove what earlier unfinished or superseded runs left behind;
2. allocate a fresh generation number (graph/generation.py); write the run node (``status: publishing``,
   that ``generation``), its relation parameters, the entity embeddings into the embedding slot the active
   run does not use, and the candidate relationships (tagged with the generation number);
3. one small transaction makes the new run the active one;
4. remove the previous generation (its candidates, relation nodes and embedding slot) in batches.
Runs of a scope may share a generation (a refresh continues its parent's): removal deletes the candidates
of the stale runs' generations other than the kept run's, and relation nodes by run.
A crash anywhere before step 3 leaves the previous generation visible and intact; the next publish
cleans up the partial one. See docs/graph-model.md for the graph model.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from neo4j import ManagedTransaction
from rich.console import Console

from vlkge_graph.errors import ConfigError, DataError
from vlkge_graph.etl.tables import CANDIDATE_COLUMNS
from vlkge_graph.graph.connection import WRITERS, Graph, column_batches
from vlkge_graph.graph.generation import next_generation
from vlkge_graph.graph.load import node_element_ids
from vlkge_graph.graph.lock import Lease, hold_lock
from vlkge_graph.graph.schema import apply_schema
from vlkge_graph.identifiers import quote, validate_identifier
from vlkge_graph.namespace import CANDIDATE_TYPE, RELATION_PARAMS_TYPE
from vlkge_graph.progress import Tracker
from vlkge_graph.progress import progress as tracked

log = logging.getLogger(__name__)

EMBEDDING_SLOTS = ("vlkge_embedding_a", "vlkge_embedding_b")
BATCH = 10_000
#: The candidate table a publish takes: the predicted links plus their relationship ``type``.
PUBLISH_COLUMNS = (*CANDIDATE_COLUMNS, "type")
#: One batch of candidates (see candidate_batches). Few properties per relationship: each costs write
#: throughput (docs/benchmarks.md, bench_publish.py); model and time live on the run node, which the
#: candidates reach by their integer ``generation`` (stored inline, where a run-id string needs a record).
WRITE_CANDIDATES = (
    "UNWIND range(0, size($heads) - 1) AS i "
    "MATCH (h) WHERE elementId(h) = $heads[i] MATCH (t) WHERE elementId(t) = $tails[i] "
    f"CREATE (h)-[:{CANDIDATE_TYPE} {{relation: $relation, type: $type, score: $scores[i], "
    "probability: $probabilities[i], rank: $ranks[i], direction: $direction, generation: $generation}]->(t) "
    "RETURN count(*) AS n")


@dataclass
class RunRecord:
    """The run node's properties (docs/graph-model.md); ``metrics`` and ``config`` are stored as JSON."""

    run_id: str
    scope: str  # the graph a sync works on; each scope has its own active generation
    backbone: str
    dim: int
    #: The backbone's run-level options the plugin reads (Backbone.published_params: TransE gamma, p, normalize).
    options: dict[str, Any] = field(default_factory=dict)
    reciprocal: bool = False  # head queries use each relation's inverse_vector (Lacroix et al. 2018)
    encoder_image: str | None = None
    encoder_text: str | None = None
    fusion: str | None = None
    data_hash: str = ""
    entity_key: str = "id"
    entity_labels: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    #: The run's generation number (graph/generation.py); publish allocates a fresh one, whatever is set here.
    generation: int | None = None

    def properties(self) -> dict[str, Any]:
        props = asdict(self)
        props.update(props.pop("options"))
        for name in ("metrics", "config", "timings"):
            props[name] = json.dumps(props[name], sort_keys=True, default=str)
        return {k: v for k, v in props.items() if v is not None}


@dataclass
class RelationParams:
    """A relation's backbone parameters as the plugin reads them (docs/graph-model.md)."""

    relation: str
    type: str
    vector: Sequence[float]
    inverse_vector: Sequence[float] | None = None  # reciprocal models only
    #: ``[tail_a, tail_b, head_a, head_b]``: probability = sigmoid(a * score + b) of the query direction's
    #: score; None for an uncalibrated run (the plugin then gives sigmoid(score)).
    calibration: Sequence[float] | None = None

    def properties(self) -> dict[str, Any]:
        props: dict[str, Any] = {"relation": self.relation, "type": self.type,
                                 "vector": [float(x) for x in self.vector]}
        if self.inverse_vector is not None:
            props["inverse_vector"] = [float(x) for x in self.inverse_vector]
        if self.calibration is not None:
            props["calibration"] = [float(x) for x in self.calibration]
        return props


@dataclass
class PublishSummary:
    run_id: str
    candidates: int
    embeddings: int
    relations: int
    embedding_property: str
    removed_previous: int
    seconds: float
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase, for benchmarks and logs
    generation: int | None = None  # the published generation number (that of the active run when unchanged)


def publish(graph: Graph, run: RunRecord, *, entities: pd.DataFrame, embeddings: np.ndarray,
            relations: Sequence[RelationParams], candidates: pd.DataFrame,
            batch_size: int = BATCH, workers: int = WRITERS, lock_wait_s: float = 0, lock_lease_s: float = 120,
            progress: bool = True, console: Console | None = None) -> PublishSummary:
    """Publish one run. ``entities`` has ``id`` and ``label`` (the node's label for matching on
    ``run.entity_key``) aligned with the rows of ``embeddings``; ``candidates`` has PUBLISH_COLUMNS.
    ``progress`` goes to ``console`` (default stderr)."""
    started = time.perf_counter()
    _check_inputs(run, entities, embeddings, candidates)
    apply_schema(graph)  # the candidate indexes, and the uniqueness that makes the locks exclusive
    with hold_lock(graph, lock_names(run.scope, run.entity_labels), lease_s=lock_lease_s,
                   wait_s=lock_wait_s) as lease:
        _refuse_shared_labels(graph, run)
        active = _active_run(graph, run.scope)
        if active and active["run_id"] == run.run_id:
            log.info("run %s is already the published generation: nothing to do", run.run_id)
            return PublishSummary(run.run_id, 0, 0, 0, active["embedding_property"], 0, 0.0,
                                  generation=active["generation"])
        slot = EMBEDDING_SLOTS[1] if active and active["embedding_property"] == EMBEDDING_SLOTS[0] \
            else EMBEDDING_SLOTS[0]
        remove_inactive(graph, lease, run.scope, keep=active["run_id"] if active else None, slots=[slot],
                         labels=run.entity_labels, batch_size=batch_size)
        generation = next_generation(graph)  # in its own transaction: never handed out twice
        run = replace(run, generation=generation)
        graph.execute("MERGE (r:VlkgeRun {run_id: $run_id}) SET r += $props, r.status = 'publishing', "
                      "r.active = false, r.embedding_property = $slot, r.created_at = datetime()",
                      run_id=run.run_id, props=run.properties(), slot=slot)
        graph.execute("MATCH (r:VlkgeRun {run_id: $run_id}) UNWIND $rels AS rel "
                      f"CREATE (r)-[:{RELATION_PARAMS_TYPE}]->(x:VlkgeRelation {{run_id: $run_id}}) SET x += rel",
                      run_id=run.run_id, rels=[rel.properties() for rel in relations])
        phases = {"prepare": time.perf_counter() - started}
        node_ids = _node_ids(graph, run, entities)
        mark = time.perf_counter()
        with tracked("publishing embeddings", len(entities), console=console, enabled=progress) as bar:
            _write_embeddings(graph, lease, run, node_ids, entities, embeddings, slot, batch_size, bar)
        phases["embeddings"] = time.perf_counter() - mark
        mark = time.perf_counter()
        with tracked("publishing candidates", len(candidates), console=console, enabled=progress) as bar:
            _write_candidates(graph, lease, generation, node_ids, candidates, batch_size, workers, bar)
        phases["candidates"] = time.perf_counter() - mark
        mark = time.perf_counter()
        _ensure_vector_indexes(graph, run.entity_labels, slot, embeddings.shape[1])
        graph.write(_activate, run.scope, run.run_id)  # the one small transaction that switches generations
        phases["activate"] = time.perf_counter() - mark
        mark = time.perf_counter()
        removed = 0
        if active:
            removed = remove_inactive(graph, lease, run.scope, keep=run.run_id, slots=[active["embedding_property"]],
                                       labels=run.entity_labels, batch_size=batch_size)
        phases["remove_previous"] = time.perf_counter() - mark
    return PublishSummary(run.run_id, len(candidates), len(entities), len(relations), slot, removed,
                          time.perf_counter() - started, phases, generation)


def unpublish(graph: Graph, scope: str, *, batch_size: int = BATCH, lock_wait_s: float = 0,
              lock_lease_s: float = 120) -> int:
    """Retire a scope: remove its candidate links, relation parameters, embedding slots (and their
    vector indexes) and the ``vlkge_run_id`` marks it left on entity nodes; its run nodes stay as history,
    inactive, with status ``retired``. Users' nodes keep everything else. Returns the candidates removed."""
    apply_schema(graph)
    with hold_lock(graph, lock_names(scope, []), lease_s=lock_lease_s, wait_s=lock_wait_s) as lease:
        runs = graph.query("MATCH (r:VlkgeRun {scope: $scope}) RETURN r.run_id AS run_id, "
                           "coalesce(r.entity_labels, []) AS labels", scope=scope)
        if not runs:
            raise ConfigError(f"scope {scope!r} has no runs in this database: nothing to unpublish")
        labels = sorted({label for r in runs for label in r["labels"]})
        run_ids = [r["run_id"] for r in runs]
        lease.add(lock_names(scope, labels), wait_s=lock_wait_s)
        removed = remove_inactive(graph, lease, scope, keep=None, slots=EMBEDDING_SLOTS, labels=labels,
                                   batch_size=batch_size)
        for label in labels:
            graph.execute(f"MATCH (n:{quote(label, 'entity label')}) WHERE n.vlkge_run_id IN $runs "
                          "REMOVE n.vlkge_run_id", runs=run_ids)
            for slot in EMBEDDING_SLOTS:
                graph.execute(f"DROP INDEX {quote(_vector_index_name(label, slot))} IF EXISTS")
        graph.execute("MATCH (r:VlkgeRun {scope: $scope}) SET r.active = false, r.status = 'retired'", scope=scope)
    return removed


def lock_names(scope: str, labels: Sequence[str]) -> list[str]:
    """The scope's publish lock and one per entity label: embedding slots are per label, so publishes of
    two scopes on one label must not interleave (the second then sees the first's run and is refused)."""
    return [f"publish:{scope}", *(f"embeddings:{label}" for label in labels)]


def _check_inputs(run: RunRecord, entities: pd.DataFrame, embeddings: np.ndarray, candidates: pd.DataFrame) -> None:
    validate_identifier(run.entity_key, "entity key property")
    for label in run.entity_labels:
        validate_identifier(label, "entity label")
    if len(entities) != len(embeddings):
        raise DataError(f"{len(entities)} entities but {len(embeddings)} embedding rows")
    if not np.isfinite(embeddings).all():
        bad = entities["id"].iloc[np.flatnonzero(~np.isfinite(embeddings).all(axis=1))[:5]].tolist()
        raise DataError(f"non-finite embeddings for entities {bad}: refusing to publish them")
    missing = [c for c in PUBLISH_COLUMNS if c not in candidates.columns]
    if missing:
        raise DataError(f"candidate table lacks columns {missing}")
    unknown = set(entities["label"]) - set(run.entity_labels)
    if unknown:
        raise DataError(f"entities carry labels {sorted(unknown)} not among the run's entity labels")


def _refuse_shared_labels(graph: Graph, run: RunRecord) -> None:
    """Fail before any write when another scope's active run holds embeddings on one of the run's entity
    labels: the two embedding slots are per label, so this publish would overwrite and later remove them."""
    rows = graph.query(
        "MATCH (r:VlkgeRun {active: true}) WHERE r.scope <> $scope "
        "WITH r, [label IN coalesce(r.entity_labels, []) WHERE label IN $labels] AS shared WHERE size(shared) > 0 "
        "RETURN r.scope AS scope, r.run_id AS run_id, shared LIMIT 1", scope=run.scope, labels=run.entity_labels)
    if rows:
        other = rows[0]
        raise ConfigError(f"scope {run.scope!r}: entity label(s) {other['shared']} carry the embeddings of scope "
                          f"{other['scope']!r} (active run {other['run_id']!r}); embedding slots are per label, so "
                          "two scopes cannot share an entity label. Sync both graphs as one scope, give them "
                          f"distinct labels, or retire the other one with `vlkge-graph unpublish --scope "
                          f"{other['scope']}` (docs/graph-model.md). Nothing was written.")


def _active_run(graph: Graph, scope: str) -> dict[str, Any] | None:
    rows = graph.query("MATCH (r:VlkgeRun {scope: $scope, active: true}) RETURN r.run_id AS run_id, "
                       "r.embedding_property AS embedding_property, r.generation AS generation "
                       "ORDER BY r.published_at DESC LIMIT 1",
                       scope=scope)
    return rows[0] if rows else None


def _activate(tx: ManagedTransaction, scope: str, run_id: str) -> None:
    tx.run("MATCH (old:VlkgeRun {scope: $scope, active: true}) WHERE old.run_id <> $run_id "
           "SET old.active = false, old.status = 'superseded'", scope=scope, run_id=run_id)
    tx.run("MATCH (r:VlkgeRun {run_id: $run_id}) SET r.active = true, r.status = 'published', "
           "r.published_at = datetime()", run_id=run_id)


def remove_inactive(graph: Graph, lease: Lease, scope: str, keep: str | None, slots: Sequence[str],
                     labels: Sequence[str], batch_size: int) -> int:
    """Delete the relation nodes of the scope's runs other than ``keep`` (a run id; None: every run) and the
    candidates of their generations except ``keep``'s own, which runs sharing it keep; clear ``slots``."""
    runs = graph.query("MATCH (r:VlkgeRun {scope: $scope}) RETURN r.run_id AS run_id, r.generation AS generation",
                       scope=scope)
    stale = [r["run_id"] for r in runs if r["run_id"] != keep]
    kept = {r["generation"] for r in runs if r["run_id"] == keep}
    generations = sorted({r["generation"] for r in runs if r["run_id"] != keep} - kept - {None})
    removed = 0
    while generations:
        count = graph.execute(f"MATCH ()-[c:{CANDIDATE_TYPE}]->() WHERE c.generation IN $generations "
                              "WITH c LIMIT $n DELETE c RETURN count(*) AS n",
                              generations=generations, n=batch_size)[0]["n"]
        removed += count
        lease.renew()
        if count < batch_size:
            break
    graph.execute("MATCH (rel:VlkgeRelation) WHERE rel.run_id IN $stale DETACH DELETE rel", stale=stale)
    graph.execute("MATCH (r:VlkgeRun) WHERE r.run_id IN $stale AND r.status = 'publishing' "
                  "SET r.status = 'failed', r.active = false", stale=stale)
    for prop, label in ((quote(slot, "embedding property"), label) for slot in slots for label in labels):
        while True:
            count = graph.execute(f"MATCH (n:{quote(label, 'entity label')}) WHERE n.{prop} IS NOT NULL "
                                  f"WITH n LIMIT $n REMOVE n.{prop} RETURN count(*) AS n", n=batch_size)[0]["n"]
            lease.renew()
            if count < batch_size:
                break
    return removed


def _node_ids(graph: Graph, run: RunRecord, entities: pd.DataFrame) -> dict[str, str]:
    """Entity key -> elementId, read once per label: the writes then seek nodes by id."""
    ids: dict[str, str] = {}
    for label in sorted(set(entities["label"])):
        ids.update(node_element_ids(graph, label, run.entity_key))
    missing = [e for e in entities["id"] if e not in ids]
    if missing:
        raise DataError(f"{len(missing)} published entities are no longer in the graph, e.g. {missing[:5]}")
    return ids


def _write_embeddings(graph: Graph, lease: Lease, run: RunRecord, node_ids: dict[str, str],
                      entities: pd.DataFrame, embeddings: np.ndarray, slot: str, batch_size: int,
                      bar: Tracker) -> None:
    cypher = write_embeddings(slot)
    ids = [node_ids[e] for e in entities["id"]]
    for start in range(0, len(ids), batch_size):
        end = start + batch_size
        graph.execute(cypher, ids=ids[start:end], vectors=embeddings[start:end].astype(float).tolist(),
                      run_id=run.run_id)
        lease.renew()
        bar.advance(len(ids[start:end]))


def write_embeddings(slot: str) -> str:
    """One batch of entity vectors (``$ids`` elementIds, ``$vectors``) into the embedding ``slot``."""
    return (f"UNWIND range(0, size($ids) - 1) AS i MATCH (n) WHERE elementId(n) = $ids[i] "
            f"SET n.{quote(slot, 'embedding property')} = $vectors[i], n.vlkge_run_id = $run_id")


def _write_candidates(graph: Graph, lease: Lease, generation: int, node_ids: dict[str, str],
                      candidates: pd.DataFrame, batch_size: int, workers: int, bar: Tracker) -> None:
    """Batches of one (relation, type, direction) each, sent as columns: the shared values travel once
    per batch and plain lists pack far faster than one map per relationship."""
    frame = candidates.assign(head=candidates["head"].map(node_ids), tail=candidates["tail"].map(node_ids))
    if frame["head"].isna().any() or frame["tail"].isna().any():
        raise DataError("candidates name entities that are not in the published entity table")
    for records in graph.execute_each(WRITE_CANDIDATES, candidate_batches(frame, batch_size, generation), workers):
        lease.renew()
        bar.advance(records[0]["n"])


def candidate_batches(frame: pd.DataFrame, batch_size: int, generation: int) -> Iterator[dict[str, Any]]:
    """Parameters of WRITE_CANDIDATES; ``frame`` is the candidate table with elementIds as head and tail."""
    for (relation, rel_type, direction), group in frame.groupby(["relation", "type", "direction"], sort=False):
        columns = {"heads": group["head"].tolist(), "tails": group["tail"].tolist(),
                   "scores": group["score"].astype(float).tolist(),
                   "probabilities": group["probability"].astype(float).tolist(),
                   "ranks": group["rank"].astype(int).tolist()}
        shared = {"relation": str(relation), "type": str(rel_type), "direction": str(direction),
                  "generation": int(generation)}
        yield from ({**batch, **shared} for batch in column_batches(columns, batch_size))


def _ensure_vector_indexes(graph: Graph, labels: Sequence[str], slot: str, dim: int) -> None:
    """One cosine vector index per (label, slot); recreated when the dimension changed (it is ours)."""
    existing = {r["name"]: r for r in graph.query(
        "SHOW INDEXES YIELD name, type, options WHERE type = 'VECTOR' RETURN name, options")}
    for label in labels:
        name = _vector_index_name(label, slot)
        current = existing.get(name)
        if current is not None:
            dims = current["options"]["indexConfig"].get("vector.dimensions")
            if dims == dim:
                continue
            graph.execute(f"DROP INDEX {quote(name)} IF EXISTS")
        graph.execute(f"CREATE VECTOR INDEX {quote(name)} IF NOT EXISTS FOR (n:{quote(label, 'entity label')}) "
                      f"ON n.{quote(slot)} OPTIONS {{indexConfig: {{`vector.dimensions`: {int(dim)}, "
                      "`vector.similarity_function`: 'cosine'}}")


def _vector_index_name(label: str, slot: str) -> str:
    return validate_identifier(f"vlkge_{slot}_{label}"[:120], "index name")
