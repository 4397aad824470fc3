"""Upgrades of what earlier versions of the project wrote into Neo4j; each is idempotent and batched.

Run by ``apply_schema`` (so by ``vlkge-graph init`` and by every publish). Only the project's own nodes and
relationships are touched: a user's relationship of the same old name between user nodes never matches.
"""

from __future__ import annotations

import logging

from neo4j import ManagedTransaction

from vlkge_graph.graph.connection import Graph
from vlkge_graph.graph.generation import allocate_generation
from vlkge_graph.namespace import (
    CANDIDATE_TYPE,
    LEGACY_RELATION_PARAMS_TYPE,
    RELATION_LABEL,
    RELATION_PARAMS_TYPE,
    RUN_LABEL,
)

log = logging.getLogger(__name__)

BATCH = 10_000
#: One batch of ``(:VlkgeRun)-[:HAS_RELATION]->(:VlkgeRelation)`` renamed to ``VLKGE_HAS_RELATION``.
RENAME_RELATION_PARAMS = (
    f"MATCH (r:{RUN_LABEL})-[old:{LEGACY_RELATION_PARAMS_TYPE}]->(x:{RELATION_LABEL}) WITH r, old, x LIMIT $n "
    f"CREATE (r)-[new:{RELATION_PARAMS_TYPE}]->(x) SET new = properties(old) DELETE old RETURN count(*) AS n")
#: The index on candidates' ``run_id`` that versions before generation numbers made; while it exists, some
#: candidates may still carry ``run_id`` (it is dropped once every run's candidates are converted).
LEGACY_CANDIDATE_RUN_INDEX = "vlkge_candidate_run"
#: One batch of a run's candidates that still carry ``run_id``: they get the run's ``generation`` instead.
CANDIDATES_TO_GENERATION = (
    f"MATCH (r:{RUN_LABEL} {{run_id: $run}}) WHERE r.generation IS NOT NULL "
    f"MATCH ()-[c:{CANDIDATE_TYPE} {{run_id: $run}}]->() WHERE c.generation IS NULL "
    "WITH r, c LIMIT $n SET c.generation = r.generation REMOVE c.run_id RETURN count(*) AS n")


def migrate(graph: Graph, batch_size: int = BATCH) -> dict[str, int]:
    """Apply every migration; return how many items each one changed (all zero once migrated)."""
    renamed = _repeat(graph, RENAME_RELATION_PARAMS, batch_size)
    if renamed:
        log.info("renamed %d relation-parameter relationships %s -> %s (the project's own, between %s and %s)",
                 renamed, LEGACY_RELATION_PARAMS_TYPE, RELATION_PARAMS_TYPE, RUN_LABEL, RELATION_LABEL)
    numbered = _number_runs(graph)
    legacy_index = bool(graph.query("SHOW INDEXES YIELD name WHERE name = $name RETURN name",
                                    name=LEGACY_CANDIDATE_RUN_INDEX))
    # Candidates with run_id exist only where the old index does (every older publish made it), or for runs
    # numbered just now; without the index, the runs numbered now are the only ones worth a look.
    runs = [r["run_id"] for r in graph.query(f"MATCH (r:{RUN_LABEL}) RETURN r.run_id AS run_id")] \
        if legacy_index else numbered
    converted = sum(_repeat(graph, CANDIDATES_TO_GENERATION, batch_size, run=run) for run in runs)
    if legacy_index:
        graph.execute(f"DROP INDEX {LEGACY_CANDIDATE_RUN_INDEX} IF EXISTS")  # after, never before, the conversion
    if numbered or converted:
        log.info("numbered %d runs with a generation; %d candidates now carry generation instead of run_id",
                 len(numbered), converted)
    return {"relation_params_renamed": renamed, "runs_numbered": len(numbered),
            "candidates_to_generation": converted}


def _repeat(graph: Graph, cypher: str, batch_size: int, **params: object) -> int:
    """Run a batch statement (``LIMIT $n ... RETURN count(*) AS n``) until a batch comes back short."""
    total = 0
    while True:
        count = graph.execute(cypher, n=batch_size, **params)[0]["n"]
        total += count
        if count < batch_size:
            return total


def _number_runs(graph: Graph) -> list[str]:
    """Give every run without ``generation`` a fresh one (oldest first); return their run ids."""
    stale = graph.query(f"MATCH (r:{RUN_LABEL}) WHERE r.generation IS NULL AND r.run_id IS NOT NULL "
                        "RETURN r.run_id AS run_id ORDER BY r.created_at, r.run_id")
    return [r["run_id"] for r in stale if graph.write(_number_run, r["run_id"])]


def _number_run(tx: ManagedTransaction, run_id: str) -> bool:
    """The counter is locked first, so a concurrent migration sees this run numbered and leaves it."""
    generation = allocate_generation(tx)
    return tx.run(f"MATCH (r:{RUN_LABEL} {{run_id: $run}}) WHERE r.generation IS NULL "
                  "SET r.generation = $generation RETURN count(r) AS n",
                  run=run_id, generation=generation).single(strict=True)["n"] > 0
