"""Writing a TableSet into Neo4j: batched ``UNWIND`` writes in managed transactions.

Idempotent by construction: nodes are merged on (dataset label, key) under a uniqueness constraint
and relationships on (head, type, tail), so loading twice changes nothing; only facts that touch a
node the load itself created, which cannot exist yet, skip the merge's lookup. Nodes that already
exist keep their properties; differing values are counted and reported, never overwritten.
Relationship batches run in ``WRITERS`` concurrent transactions (deadlocks between them are retried).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
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
#: Concurrent write transactions for relationships: Neo4j then works on more than one core.
WRITERS = 2


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


def load_tables(graph: Graph, tables: TableSet, label: str, key: str = "id", batch_size: int = DEFAULT_BATCH,
                workers: int = WRITERS, progress: bool = True) -> LoadSummary:
    """Merge all entities and triples of ``tables`` into the graph under the dataset ``label``."""
    tables.validate()
    validate_identifier(label, "dataset label")
    validate_identifier(key, "key property")
    type_of = _relation_types(tables)
    ensure_key_constraint(graph, label, key)
    summary = LoadSummary(label=label)
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(f"loading {tables.name}", total=len(tables.entities) + len(tables.triples))
        node_ids: dict[str, str] = {}
        new_nodes: set[str] = set()  # created by this load, so without relationships before it
        for type_label, group in tables.entities.groupby("label", sort=True):
            for rows in _batches(_node_rows(group), batch_size):
                ids, all_new = _merge_nodes(graph, label, key, str(type_label), rows, summary)
                node_ids.update(ids)
                if all_new:
                    new_nodes.update(ids)
                bar.advance(task, len(rows))
            summary.nodes_by_label[str(type_label)] = len(group)
        summary.relationships_created += _write_relationships(graph, tables.triples, type_of, node_ids, new_nodes,
                                                              batch_size, workers, lambda n: bar.advance(task, n))
        for rel_type, n in tables.triples["relation"].map(type_of).value_counts().sort_index().items():
            summary.relationships_by_type[str(rel_type)] = int(n)
    if summary.conflicts:
        log.warning("%d existing %s nodes hold values that differ from the source; they were kept "
                    "unchanged (vlkge-graph never rewrites existing properties)", summary.conflicts, label)
    return summary


def _merge_nodes(graph: Graph, label: str, key: str, type_label: str, rows: list[dict[str, Any]],
                 summary: LoadSummary) -> tuple[dict[str, str], bool]:
    """Merge one batch of nodes; return key -> elementId for the relationship writes, and whether
    every node of the batch was created by it.

    New nodes get all properties. An existing node keeps its own, and only when the batch met existing
    nodes is a second (read) query run to count those whose values differ: a fresh load pays nothing.
    """
    ds, k = quote(label, "dataset label"), quote(key, "key property")
    extra = f", n:{quote(type_label, 'entity label')}" if type_label != label else ""
    write = (f"UNWIND $rows AS row MERGE (n:{ds} {{{k}: row.id}}) ON CREATE SET n += row.props{extra} "
             "RETURN collect([row.id, elementId(n)]) AS ids")
    created, ids = graph.write(_created_and_ids, write, rows)
    summary.nodes_created += created
    if created < len(rows):
        check = (f"UNWIND $rows AS row MATCH (n:{ds} {{{k}: row.id}}) "
                 "RETURN count(CASE WHEN any(p IN keys(row.props) WHERE n[p] <> row.props[p]) THEN 1 END) AS n")
        summary.conflicts += graph.query(check, rows=rows)[0]["n"]
    return dict(ids), created == len(rows)


def _write_relationships(graph: Graph, triples: pd.DataFrame, type_of: dict[str, str], node_ids: dict[str, str],
                         new_nodes: set[str], batch_size: int, workers: int, advance: Callable[[int], None]) -> int:
    """Write all facts in head order, with one query plan for every type (``$(row.type)``).

    A fact touching a node this load created cannot exist yet, so it is written with ``CREATE``;
    ``MERGE``, which first looks for the pair, is kept for facts between nodes that existed before
    (a reload, or the re-run of a load that died midway). Facts are deduplicated first.
    """
    distinct = triples.drop_duplicates(["head", "relation", "tail"]).sort_values("head", kind="stable")
    rows: dict[str, list[dict[str, Any]]] = {"CREATE": [], "MERGE": []}
    for h, relation, t, split in zip(distinct["head"].astype(str), distinct["relation"],
                                     distinct["tail"].astype(str), distinct["split"], strict=True):
        verb = "CREATE" if h in new_nodes or t in new_nodes else "MERGE"
        rows[verb].append({"h": node_ids[h], "t": node_ids[t], "type": type_of[relation], "s": split})
    jobs = []
    for verb, todo in rows.items():
        on_create = "ON CREATE " if verb == "MERGE" else ""
        cypher = ("UNWIND $rows AS row MATCH (h) WHERE elementId(h) = row.h MATCH (t) WHERE elementId(t) = row.t "
                  f"{verb} (h)-[r:$(row.type)]->(t) {on_create}SET r.split = row.s")
        jobs += [(cypher, batch) for batch in _batches(todo, batch_size)]
    created = 0
    for count, size in graph.write_each(_created, jobs, workers):
        created += count
        advance(size)
    return created


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


def _created_and_ids(tx: ManagedTransaction, cypher: str,
                     rows: list[dict[str, Any]]) -> tuple[int, list[list[str]]]:
    """Run one node batch; return (nodes created, [key, elementId] pairs)."""
    result = tx.run(cypher, rows=rows)
    ids = result.single(strict=True)["ids"]
    return result.consume().counters.nodes_created, ids


def _created(tx: ManagedTransaction, cypher: str, rows: list[dict[str, Any]]) -> tuple[int, int]:
    """Run one relationship batch; return (relationships created, rows)."""
    return tx.run(cypher, rows=rows).consume().counters.relationships_created, len(rows)


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
