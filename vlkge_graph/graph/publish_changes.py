"""Publishing a refresh: only the top-k lists and embeddings a change touched, switched in one transaction.

A full publish writes a new generation beside the visible one and switches with one small transaction.
A refresh continues the active run's generation instead: in ONE write transaction it creates its run
node (a copy of the parent's, same generation and embedding slot) with the parent's relation parameters,
deletes the touched lists' candidates, creates their new ones, writes the new and edited entities'
embeddings into the slot, and makes itself the active run. Readers see the parent's state or the refresh's,
never a mix; a refresh killed at any point leaves the parent's state as it was. Its size is proportional to
the change, so it fits one transaction; what the parent leaves behind (its relation nodes) is removed after.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from neo4j import ManagedTransaction, Transaction
from neo4j.exceptions import Neo4jError

from vlkge_graph.errors import ConfigError, DataError, VlkgeError
from vlkge_graph.graph.connection import Graph, column_batches
from vlkge_graph.graph.load import node_element_ids
from vlkge_graph.graph.lock import hold_lock
from vlkge_graph.graph.publish import (
    BATCH,
    WRITE_CANDIDATES,
    candidate_batches,
    lock_names,
    remove_inactive,
    write_embeddings,
)
from vlkge_graph.graph.schema import apply_schema
from vlkge_graph.namespace import CANDIDATE_TYPE, RELATION_LABEL, RELATION_PARAMS_TYPE, RUN_LABEL

#: Neo4j's answers to a transaction larger than it may hold: one transaction's limit (``db.memory.transaction.max``)
#: or all transactions' (``dbms.memory.transaction.total.max``, 70% of the heap by default).
TOO_LARGE = frozenset({"Neo.ClientError.General.TransactionOutOfMemoryError",
                       "Neo.TransientError.General.MemoryPoolOutOfMemoryError"})


class TransactionTooLarge(VlkgeError):
    """The change did not fit one transaction on this server; it was rolled back, nothing was written."""


@dataclass
class ChangeSummary:
    run_id: str
    parent: str
    generation: int
    lists: int
    candidates: int
    removed_candidates: int
    embeddings: int
    seconds: float


def publish_changes(graph: Graph, *, run_id: str, parent: str, scope: str, entity_key: str,
                    entity_labels: list[str], entities: pd.DataFrame, embeddings: np.ndarray,
                    lists: pd.DataFrame, candidates: pd.DataFrame, stats: dict[str, Any],
                    lock_wait_s: float = 0, lock_lease_s: float = 120) -> ChangeSummary:
    """Make ``run_id`` (a refresh of ``parent``) the active run of ``scope``. ``lists``: the touched top-k
    lists (anchor, relation, direction); ``candidates``: their new entries (PUBLISH_COLUMNS);
    ``entities`` (id, label) with ``embeddings``: the new and edited entities' vectors."""
    started = time.perf_counter()
    if len(entities) != len(embeddings) or not np.isfinite(embeddings).all():
        raise DataError("refresh: the embeddings to write do not match the entities, or are not finite")
    apply_schema(graph)
    with hold_lock(graph, lock_names(scope, entity_labels), lease_s=lock_lease_s, wait_s=lock_wait_s) as lease:
        active = graph.query(f"MATCH (r:{RUN_LABEL} {{scope: $scope, active: true}}) RETURN r.run_id AS run_id, "
                             "r.generation AS generation, r.embedding_property AS slot", scope=scope)
        if not active or active[0]["run_id"] != parent:
            now = active[0]["run_id"] if active else None
            if now == run_id:
                return ChangeSummary(run_id, parent, active[0]["generation"], 0, 0, 0, 0, 0.0)
            raise ConfigError(f"refresh {run_id}: scope {scope!r} no longer has {parent!r} as its active run "
                              f"(now {now!r}); nothing was written: run the refresh again")
        generation, slot = active[0]["generation"], active[0]["slot"]
        ids = {k: v for label in entity_labels for k, v in node_element_ids(graph, label, entity_key).items()}
        anchors = lists.assign(node=lists["anchor"].map(ids)).dropna(subset=["node"])  # removed nodes: gone
        frame = candidates.assign(head=candidates["head"].map(ids), tail=candidates["tail"].map(ids))
        if frame["head"].isna().any() or frame["tail"].isna().any() or entities["id"].map(ids).isna().any():
            raise DataError(f"refresh {run_id}: entities changed again while it ran; nothing was written: "
                            "run the refresh again")
        vectors = {"ids": entities["id"].map(ids).tolist(), "vectors": embeddings.astype(float).tolist()}
        try:
            removed = graph.write_or_fail(_switch, run_id, parent, generation, slot, anchors, frame, vectors, stats,
                                          fail=TOO_LARGE)
        except Neo4jError as exc:
            if exc.code not in TOO_LARGE:
                raise
            raise TransactionTooLarge(f"refresh {run_id}: {len(frame):,} candidates in {len(anchors):,} lists do not "
                                      f"fit one transaction on this server ({exc.code}); it was rolled back") from exc
        remove_inactive(graph, lease, scope, keep=run_id, slots=[], labels=entity_labels, batch_size=BATCH)
    return ChangeSummary(run_id, parent, generation, len(lists), len(candidates), removed, len(entities),
                         time.perf_counter() - started)


def _switch(tx: ManagedTransaction | Transaction, run_id: str, parent: str, generation: int, slot: str,
            anchors: pd.DataFrame, frame: pd.DataFrame, vectors: dict[str, list[Any]],
            stats: dict[str, Any]) -> int:
    """The one transaction of a refresh (see the module docstring); returns the candidates deleted."""
    # the copy gets its own run_id in the same map (run_id is unique, checked as the property is set)
    tx.run(f"MATCH (p:{RUN_LABEL} {{run_id: $parent}}) CREATE (r:{RUN_LABEL}) "
           "SET r = p{.*, run_id: $run_id, parent: $parent, kind: 'refresh', timings: $timings, "
           "jaccard_at_k: $jaccard, created_at: datetime(), published_at: datetime(), status: 'published', "
           "active: true}, p.active = false, p.status = 'superseded' "
           f"WITH p, r MATCH (p)-[:{RELATION_PARAMS_TYPE}]->(x:{RELATION_LABEL}) "
           f"CREATE (r)-[:{RELATION_PARAMS_TYPE}]->(y:{RELATION_LABEL}) SET y = properties(x), y.run_id = $run_id",
           parent=parent, run_id=run_id, timings=json.dumps(stats.get("timings", {})),
           jaccard=stats.get("jaccard_at_k"))
    removed = 0
    for direction, group in anchors.groupby("direction"):
        pattern = (f"(a)-[c:{CANDIDATE_TYPE}]->()" if direction == "tail" else f"()-[c:{CANDIDATE_TYPE}]->(a)")
        columns = {"nodes": group["node"].tolist(), "relations": group["relation"].tolist()}
        for batch in column_batches(columns, BATCH):
            record = tx.run(f"UNWIND range(0, size($nodes) - 1) AS i MATCH (a) WHERE elementId(a) = $nodes[i] "
                            f"MATCH {pattern} WHERE c.generation = $generation AND c.relation = $relations[i] "
                            "AND c.direction = $direction DELETE c RETURN count(c) AS n",
                            generation=generation, direction=direction, **batch).single()
            removed += record["n"] if record else 0
    for params in candidate_batches(frame, BATCH, generation):
        tx.run(WRITE_CANDIDATES, **params).consume()
    for batch in column_batches(vectors, BATCH):
        tx.run(write_embeddings(slot), run_id=run_id, **batch).consume()
    return removed
