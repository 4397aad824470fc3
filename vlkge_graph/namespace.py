"""The names the project writes into Neo4j, all in its own namespace (docs/graph-model.md).

Relationship types start with ``VLKGE_``, labels with ``Vlkge`` and properties on users' nodes with
``vlkge_``, so a user's own names (``HAS_RELATION``, ``Run``) never collide with ours: the export
leaves out exactly the ``VLKGE_`` types and nothing else.
"""

from __future__ import annotations

#: Everything the project writes starts with this, in any case; users' names may not (identifiers.project_owned).
PROJECT_PREFIX = "vlkge"
TYPE_PREFIX = "VLKGE_"
LABEL_PREFIX = "Vlkge"
PROPERTY_PREFIX = "vlkge_"

CANDIDATE_TYPE = "VLKGE_CANDIDATE"
REJECTED_TYPE = "VLKGE_REJECTED"
#: ``(:VlkgeRun)-[:VLKGE_HAS_RELATION]->(:VlkgeRelation)``: a run's relation parameters.
RELATION_PARAMS_TYPE = "VLKGE_HAS_RELATION"
#: The same relationship as versions before the namespacing wrote it; ``graph.migrations`` renames it.
LEGACY_RELATION_PARAMS_TYPE = "HAS_RELATION"
RUN_LABEL = "VlkgeRun"
RELATION_LABEL = "VlkgeRelation"
#: ``(:VlkgeCounter {name, value})``: the counters the project allocates numbers from (generation numbers).
COUNTER_LABEL = "VlkgeCounter"
