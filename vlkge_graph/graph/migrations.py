"""Upgrades of what earlier versions of the project wrote into Neo4j; each is idempotent and batched.

Run by ``apply_schema`` (so by ``vlkge-graph init`` and by every publish). Only the project's own nodes and
relationships are touched: a user's relationship of the same old name between user nodes never matches.
"""

from __future__ import annotations

import logging

from vlkge_graph.graph.connection import Graph
from vlkge_graph.namespace import LEGACY_RELATION_PARAMS_TYPE, RELATION_LABEL, RELATION_PARAMS_TYPE, RUN_LABEL

log = logging.getLogger(__name__)

BATCH = 10_000
#: One batch of ``(:VlkgeRun)-[:HAS_RELATION]->(:VlkgeRelation)`` renamed to ``VLKGE_HAS_RELATION``.
RENAME_RELATION_PARAMS = (
    f"MATCH (r:{RUN_LABEL})-[old:{LEGACY_RELATION_PARAMS_TYPE}]->(x:{RELATION_LABEL}) WITH r, old, x LIMIT $n "
    f"CREATE (r)-[new:{RELATION_PARAMS_TYPE}]->(x) SET new = properties(old) DELETE old RETURN count(*) AS n")


def migrate(graph: Graph, batch_size: int = BATCH) -> dict[str, int]:
    """Apply every migration; return how many items each one changed (all zero once migrated)."""
    renamed = 0
    while True:
        count = graph.execute(RENAME_RELATION_PARAMS, n=batch_size)[0]["n"]
        renamed += count
        if count < batch_size:
            break
    if renamed:
        log.info("renamed %d relation-parameter relationships %s -> %s (the project's own, between %s and %s)",
                 renamed, LEGACY_RELATION_PARAMS_TYPE, RELATION_PARAMS_TYPE, RUN_LABEL, RELATION_LABEL)
    return {"relation_params_renamed": renamed}
