"""The dataset relation names behind relationship types: recorded at load, read back at export.

A relationship type is what Neo4j can store; the dataset's name (a Freebase path, a URI, ``_hypernym``)
is what users and models know. A load records ``(:VlkgeRelationName {label, type, relation})`` for each
type it writes under its dataset label; the export turns types back into these names, so training,
candidates (``relation``) and the plugin (``vlkge.info``) show the dataset's own names. Facts of types
without a record (ones the project did not load) keep their type as their name.
"""

from __future__ import annotations

from collections.abc import Sequence

from vlkge_graph.errors import ConfigError, DataError
from vlkge_graph.etl.tables import TableSet
from vlkge_graph.graph.connection import Graph
from vlkge_graph.graph.schema import apply_schema
from vlkge_graph.identifiers import quote

LABEL = "VlkgeRelationName"


def record_relation_names(graph: Graph, label: str, tables: TableSet) -> None:
    """Record each (relation, type) of a load under ``label``; a relation already loaded there under
    another type, or a type that already holds another relation, is a DataError naming both."""
    apply_schema(graph)  # the uniqueness constraints on (label, type) and (label, relation)
    type_of = tables.relation_types()
    name_of = {rel_type: name for name, rel_type in type_of.items()}
    source = tables.relation_sources()
    rows = graph.query(f"MATCH (m:{LABEL} {{label: $label}}) WHERE m.type IN $types OR m.relation IN $names "
                       "RETURN m.type AS type, m.relation AS relation ORDER BY m.relation",
                       label=label, types=list(name_of), names=list(type_of))
    for row in rows:
        old_type, old_name = row["type"], row["relation"]
        if old_name in type_of and type_of[old_name] != old_type:
            raise DataError(f"{source[old_name]}: relation {old_name!r} was loaded into {label} as relationship "
                            f"type {old_type!r}; this load would make it {type_of[old_name]!r}. Load it as "
                            f"before (relations.mapping: {{{old_name!r}: {old_type}}}) or under another label")
        if old_type in name_of and name_of[old_type] != old_name:
            new_name = name_of[old_type]
            raise DataError(f"{source[new_name]}: relationship type {old_type!r} already holds relation "
                            f"{old_name!r} in {label}; relation {new_name!r} cannot share it. Give it another "
                            "type in relations.mapping or load under another label")
    graph.execute(f"UNWIND $rows AS row MERGE (m:{LABEL} {{label: $label, type: row.type}}) "
                  "ON CREATE SET m.relation = row.relation", label=label,
                  rows=[{"relation": name, "type": rel_type} for name, rel_type in type_of.items()])


def relation_names(graph: Graph, entity_labels: Sequence[str], types: Sequence[str]) -> dict[str, str]:
    """Relationship type -> dataset relation name, for the ``types`` of facts between ``entity_labels``
    nodes. A record applies when its label is an entity label or shares nodes with one; two names for
    one type (two datasets loaded with different names into one export) are a ConfigError."""
    rows = graph.query(f"MATCH (m:{LABEL}) WHERE m.type IN $types "
                       "RETURN m.label AS label, m.type AS type, m.relation AS relation", types=list(types))
    applies = {label: label in entity_labels or _shares_nodes(graph, label, entity_labels)
               for label in {row["label"] for row in rows}}
    names: dict[str, dict[str, str]] = {}  # type -> name -> a label that recorded it
    for row in rows:
        if applies[row["label"]]:
            names.setdefault(row["type"], {}).setdefault(row["relation"], row["label"])
    for rel_type, found in names.items():
        if len(found) > 1:
            shown = "; ".join(f"{name!r} in {label}" for name, label in sorted(found.items()))
            raise ConfigError(f"graph.entity_labels: relationship type {rel_type!r} stands for different relations "
                              f"({shown}); export those datasets separately, or reload one with its own type "
                              "(relations.mapping)")
    return {rel_type: next(iter(found)) for rel_type, found in names.items()}


def _shares_nodes(graph: Graph, label: str, entity_labels: Sequence[str]) -> bool:
    return bool(graph.query(f"MATCH (n:{quote(label, 'label')}) WHERE any(x IN labels(n) WHERE x IN $labels) "
                            "RETURN 1 AS x LIMIT 1", labels=list(entity_labels)))
