"""Generation numbers: the compact integer that ties candidate links to the run generation that wrote them.

Each ``(:VlkgeRun)`` carries ``generation``, unique across the database and allocated from one counter node,
so candidates can carry that small integer instead of the run-id string (docs/graph-model.md). Runs of a
scope may share one generation (a refresh continues its parent's); runs of two scopes never do.
"""

from __future__ import annotations

from neo4j import ManagedTransaction

from vlkge_graph.graph.connection import Graph
from vlkge_graph.namespace import COUNTER_LABEL

#: The counter's name on its ``VlkgeCounter`` node (unique by ``name``: cypher/schema/001-project-schema.cypher).
GENERATION_COUNTER = "generation"
#: Increments the counter under its write lock (SET reads and writes the locked node), so concurrent
#: allocations never return one number twice.
NEXT_GENERATION = (f"MERGE (g:{COUNTER_LABEL} {{name: $name}}) SET g.value = coalesce(g.value, 0) + 1 "
                   "RETURN g.value AS value")


def allocate_generation(tx: ManagedTransaction) -> int:
    """A fresh generation number, inside ``tx``: the counter stays locked until ``tx`` ends."""
    return int(tx.run(NEXT_GENERATION, name=GENERATION_COUNTER).single(strict=True)["value"])


def next_generation(graph: Graph) -> int:
    """A fresh generation number, allocated in its own write transaction."""
    return graph.write(allocate_generation)
