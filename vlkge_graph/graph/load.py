"""Writing a TableSet into Neo4j: batched ``UNWIND ... MERGE`` in managed transactions.

Idempotent by construction: nodes are merged on (dataset label, key) under a uniqueness constraint
and relationships on (head, type, tail), so loading twice changes nothing. Nodes that already exist
keep their properties; differing values are counted and reported, never overwritten.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from neo4j import ManagedTransaction
from rich.progress import Progress

from vlkge_graph.errors import DataError
from vlkge_graph.etl.tables import TableSet
from vlkge_graph.graph.connection import Graph
from vlkge_graph.identifiers import quote, validate_identifier

log = logging.getLogger(__name__)

DEFAULT_BATCH = 10_000


@dataclass
class LoadSummary:
    label: str = ""
    nodes_created: int = 0
    relationships_created: int = 0
    conflicts: int = 0  # existing nodes whose stored values differ from the source (kept as they are)
    nodes_by_label: dict[str, int] = field(default_factory=dict)
    relationships_by_type: dict[str, int] = field(default_factory=dict)


def ensure_key_constraint(graph: Graph, label: str, key: str) -> None:
    """A uniqueness constraint on (label, key): the MERGE index and the guard against duplicates."""
    name = validate_identifier(f"vlkge_key_{label}_{key}"[:120], "constraint name")
    graph.execute(f"CREATE CONSTRAINT {quote(name)} IF NOT EXISTS "
                  f"FOR (n:{quote(label, 'label')}) REQUIRE n.{quote(key, 'key property')} IS UNIQUE")


def node_element_ids(graph: Graph, label: str, key: str) -> dict[str, str]:
    """Key (as a string) -> elementId of every ``label`` node, in one round trip.

    Batched writes then seek nodes by id, cheaper than an index lookup per row; valid while the nodes
    exist (elementIds of deleted nodes may be reused later, so never keep the map across runs).
    """
    rows = graph.query(f"MATCH (n:{quote(label, 'label')}) WHERE n.{quote(key, 'key property')} IS NOT NULL "
                       f"RETURN collect([toString(n.{quote(key)}), elementId(n)]) AS pairs")
    return dict(rows[0]["pairs"]) if rows else {}


def load_tables(graph: Graph, tables: TableSet, label: str, key: str = "id",
                batch_size: int = DEFAULT_BATCH, progress: bool = True) -> LoadSummary:
    """Merge all entities and triples of ``tables`` into the graph under the dataset ``label``."""
    tables.validate()
    ds = quote(label, "dataset label")
    k = quote(key, "key property")
    type_of = _relation_types(tables)
    ensure_key_constraint(graph, label, key)
    summary = LoadSummary(label=label)
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(f"loading {tables.name}", total=len(tables.entities) + len(tables.triples))
        for type_label, group in tables.entities.groupby("label", sort=True):
            extra = f", n:{quote(type_label, 'entity label')}" if type_label != label else ""
            # New nodes get all properties; an existing node keeps its own, and differences are counted.
            cypher = (f"UNWIND $rows AS row MERGE (n:{ds} {{{k}: row.id}}) ON CREATE SET n += row.props{extra} "
                      "RETURN count(CASE WHEN any(p IN keys(row.props) WHERE n[p] <> row.props[p]) "
                      "THEN 1 END) AS conflicts")
            for rows in _batches(_node_rows(group), batch_size):
                created, conflicts = graph.write(_run_counts, cypher, rows)
                summary.nodes_created += created
                summary.conflicts += conflicts
                bar.advance(task, len(rows))
            summary.nodes_by_label[str(type_label)] = len(group)
        node_ids = node_element_ids(graph, label, key)
        for relation, group in tables.triples.groupby("relation", sort=True):
            rel_type = type_of[relation]
            cypher = ("UNWIND $rows AS row MATCH (h) WHERE elementId(h) = row.h MATCH (t) WHERE elementId(t) = row.t "
                      f"MERGE (h)-[r:{quote(rel_type, 'relationship type')}]->(t) ON CREATE SET r.split = row.s")
            rows = [{"h": node_ids[h], "t": node_ids[t], "s": s} for h, t, s in
                    zip(group["head"].astype(str), group["tail"].astype(str), group["split"], strict=True)]
            for batch in _batches(rows, batch_size):
                created, _ = graph.write(_run_counts, cypher, batch)
                summary.relationships_created += created
                bar.advance(task, len(batch))
            summary.relationships_by_type[rel_type] = summary.relationships_by_type.get(rel_type, 0) + len(group)
    if summary.conflicts:
        log.warning("%d existing %s nodes hold values that differ from the source; they were kept "
                    "unchanged (vlkge-graph never rewrites existing properties)", summary.conflicts, label)
    return summary


def load_recipe(graph: Graph, recipe: str, *, image_root: str | None = None, label: str | None = None,
                batch_size: int = DEFAULT_BATCH, progress: bool = True) -> tuple[TableSet, LoadSummary]:
    """Read a dataset recipe (name in etl/ or path) and merge it into the graph."""
    from vlkge_graph.etl.readers import read_dataset
    from vlkge_graph.etl.recipe import load_recipe as parse_recipe

    spec = parse_recipe(recipe)
    tables = read_dataset(spec, image_root=image_root)
    summary = load_tables(graph, tables, label or spec.graph.label, spec.graph.key,
                          batch_size=batch_size, progress=progress)
    return tables, summary


def _relation_types(tables: TableSet) -> dict[str, str]:
    """Relation name -> relationship type; two relations sharing a type would merge facts, so refuse."""
    mapping = dict(zip(tables.relations["relation"], tables.relations["type"], strict=True))
    seen: dict[str, str] = {}
    for relation, rel_type in mapping.items():
        validate_identifier(rel_type, f"relationship type of relation {relation!r}")
        if rel_type in seen:
            raise DataError(f"{tables.name}: relations {seen[rel_type]!r} and {relation!r} both map to "
                            f"relationship type {rel_type!r}; give them distinct types")
        seen[rel_type] = relation
    return mapping


def _run_counts(tx: ManagedTransaction, cypher: str, rows: list[dict[str, Any]]) -> tuple[int, int]:
    """Run one batch; return (nodes or relationships created, conflicts reported by the query)."""
    result = tx.run(cypher, rows=rows)
    record = result.single()
    counters = result.consume().counters
    return counters.nodes_created + counters.relationships_created, int(record["conflicts"]) if record else 0


def _node_rows(entities: pd.DataFrame) -> list[dict[str, Any]]:
    """One parameter row per entity: its id and its non-null properties as Neo4j values."""
    columns = [c for c in entities.columns if c not in ("id", "label")]
    for column in columns:
        validate_identifier(column, "property name")
    rows = []
    for record in entities[["id", *columns]].itertuples(index=False, name=None):
        props = {c: _neo4j_value(v) for c, v in zip(columns, record[1:], strict=True)}
        rows.append({"id": str(record[0]), "props": {c: v for c, v in props.items() if v is not None}})
    return rows


def _neo4j_value(value: Any) -> Any:
    """Plain Python values Neo4j can store; None (dropped) for missing values and empty lists."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item") and not hasattr(value, "__len__"):  # numpy scalar
        return _neo4j_value(value.item())
    if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        items = [_neo4j_value(v) for v in (value.tolist() if hasattr(value, "tolist") else value)]
        items = [v for v in items if v is not None]
        return items or None
    if value is pd.NA:
        return None
    return value


def _batches(rows: Sequence[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield list(rows[start:start + size])
