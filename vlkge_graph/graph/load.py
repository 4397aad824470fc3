"""Writing a TableSet into Neo4j: batched ``UNWIND`` writes in managed transactions.

Idempotent by construction: nodes are merged on (dataset label, key) under a uniqueness constraint
and relationships on (head, type, tail), so loading twice changes nothing; only facts that touch a
node the load itself created, which cannot exist yet, skip the merge's lookup. Nodes that already
exist keep their properties; differing values are counted and reported, never overwritten.
Batches run in ``WRITERS`` concurrent transactions (deadlocks between them are retried).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from neo4j import ManagedTransaction

from vlkge_graph.errors import ConfigError, DataError
from vlkge_graph.etl.recipe import Recipe
from vlkge_graph.etl.tables import TableSet
from vlkge_graph.graph.connection import WRITERS, Graph, column_batches
from vlkge_graph.graph.relation_names import record_relation_names
from vlkge_graph.identifiers import project_owned, quote, validate_identifier
from vlkge_graph.namespace import PROJECT_PREFIX
from vlkge_graph.progress import progress as tracked

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


def load_tables(graph: Graph, tables: TableSet, label: str, key: str = "id", batch_size: int = DEFAULT_BATCH,
                workers: int = WRITERS, progress: bool = True) -> LoadSummary:
    """Merge all entities and triples of ``tables`` into the graph under the dataset ``label``."""
    tables.validate()
    validate_identifier(label, "dataset label")
    validate_identifier(key, "key property")
    type_of = _relation_types(tables)
    _refuse_project_names(tables, label, key)
    ensure_key_constraint(graph, label, key)
    record_relation_names(graph, label, tables)
    summary = LoadSummary(label=label)
    with tracked(f"loading {tables.name}", len(tables.entities) + len(tables.triples), enabled=progress) as bar:
        node_ids, new_nodes = _write_nodes(graph, tables.entities, label, key, batch_size, workers, summary,
                                           bar.advance)
        summary.relationships_created += _write_relationships(graph, tables.triples, type_of, node_ids, new_nodes,
                                                              batch_size, workers, bar.advance)
        for rel_type, n in tables.triples["relation"].map(type_of).value_counts().sort_index().items():
            summary.relationships_by_type[str(rel_type)] = int(n)
    if summary.conflicts:
        log.warning("%d existing %s nodes hold values that differ from the source; they were kept "
                    "unchanged (vlkge-graph never rewrites existing properties)", summary.conflicts, label)
    return summary


def _write_nodes(graph: Graph, entities: pd.DataFrame, label: str, key: str, batch_size: int, workers: int,
                 summary: LoadSummary, advance: Callable[[int], None]) -> tuple[dict[str, str], set[str]]:
    """Merge all entities; return key -> elementId (for the relationship writes) and the keys of the
    nodes this load created (which cannot have relationships yet).

    Batches travel as columns (one list per property; plain lists pack far faster than a map per
    node). New nodes get every non-null property. An existing node keeps its own, and only a batch that
    met existing nodes pays a second (read) query counting those whose values differ.
    """
    ds, k = quote(label, "dataset label"), quote(key, "key property")
    names = [c for c in entities.columns if c not in ("id", "label")]
    props = {f"p{i}": quote(name, "property name") for i, name in enumerate(names)}
    sets = [f"n.{prop} = ${param}[i]" for param, prop in props.items()]  # a null sets nothing
    differs = " OR ".join(f"n.{prop} <> ${param}[i]" for param, prop in props.items()) or "false"
    check = (f"UNWIND range(0, size($ids) - 1) AS i MATCH (n:{ds} {{{k}: $ids[i]}}) "
             f"RETURN count(CASE WHEN {differs} THEN 1 END) AS n")
    jobs = []
    for type_label, group in entities.groupby("label", sort=True):
        on_create = sets + ([f"n:{quote(str(type_label), 'entity label')}"] if type_label != label else [])
        write = (f"UNWIND range(0, size($ids) - 1) AS i MERGE (n:{ds} {{{k}: $ids[i]}}) "
                 + (f"ON CREATE SET {', '.join(on_create)} " if on_create else "")
                 + "RETURN collect([$ids[i], elementId(n)]) AS ids")
        columns = {"ids": group["id"].astype(str).tolist(),
                   **{param: _neo4j_values(group[name]) for param, name in zip(props, names, strict=True)}}
        jobs += [(write, batch) for batch in column_batches(columns, batch_size)]
        summary.nodes_by_label[str(type_label)] = len(group)
    node_ids: dict[str, str] = {}
    new_nodes: set[str] = set()
    for created, pairs, batch in graph.write_each(_merge_batch, jobs, workers):
        ids = dict(pairs)
        node_ids.update(ids)
        summary.nodes_created += created
        if created == len(pairs):
            new_nodes.update(ids)
        else:
            summary.conflicts += graph.query(check, **batch)[0]["n"]
        advance(len(pairs))
    return node_ids, new_nodes


def _write_relationships(graph: Graph, triples: pd.DataFrame, type_of: dict[str, str], node_ids: dict[str, str],
                         new_nodes: set[str], batch_size: int, workers: int, advance: Callable[[int], None]) -> int:
    """Write all facts in head order, with one query plan for every type (``$(...)``), as columns.

    A fact touching a node this load created cannot exist yet, so it is written with ``CREATE``;
    ``MERGE``, which first looks for the pair, is kept for facts between nodes that existed before
    (a reload, or the re-run of a load that died midway). Facts are deduplicated first.
    """
    facts = triples.drop_duplicates(["head", "relation", "tail"]).sort_values("head", kind="stable")
    heads, tails = facts["head"].astype(str).tolist(), facts["tail"].astype(str).tolist()
    fresh = [h in new_nodes or t in new_nodes for h, t in zip(heads, tails, strict=True)]
    columns = {"h": [node_ids[h] for h in heads], "t": [node_ids[t] for t in tails],
               "type": facts["relation"].map(type_of).tolist(), "split": _neo4j_values(facts["split"])}
    jobs = []
    for verb, rows in (("CREATE", fresh), ("MERGE", [not f for f in fresh])):
        on_create = "ON CREATE " if verb == "MERGE" else ""
        cypher = ("UNWIND range(0, size($h) - 1) AS i MATCH (h) WHERE elementId(h) = $h[i] "
                  f"MATCH (t) WHERE elementId(t) = $t[i] {verb} (h)-[r:$($type[i])]->(t) "
                  f"{on_create}SET r.split = $split[i]")
        chosen = {name: [v for v, keep in zip(values, rows, strict=True) if keep] for name, values in columns.items()}
        jobs += [(cypher, batch) for batch in column_batches(chosen, batch_size)]
    created = 0
    for count, size in graph.write_each(_created, jobs, workers):
        created += count
        advance(size)
    return created


def load_recipe(graph: Graph, recipe: str | Recipe, *, image_root: str | None = None, label: str | None = None,
                batch_size: int = DEFAULT_BATCH, progress: bool = True,
                max_image_pixels: int | None = None) -> tuple[TableSet, LoadSummary]:
    """Read a dataset recipe (name in etl/, path, or one built in code) and merge it into the graph."""
    from vlkge_graph.etl.readers import read_dataset
    from vlkge_graph.etl.recipe import load_recipe as parse_recipe

    spec = recipe if isinstance(recipe, Recipe) else parse_recipe(recipe)
    tables = read_dataset(spec, image_root=image_root, max_image_pixels=max_image_pixels)
    summary = load_tables(graph, tables, label or spec.graph.label, spec.graph.key,
                          batch_size=batch_size, progress=progress)
    return tables, summary


def _relation_types(tables: TableSet) -> dict[str, str]:
    """Relation name -> relationship type; two relations sharing a type would merge facts, so refuse."""
    mapping = tables.relation_types()
    seen: dict[str, str] = {}
    for relation, rel_type in mapping.items():
        validate_identifier(rel_type, f"relationship type of relation {relation!r}")
        if rel_type in seen:
            raise DataError(f"{tables.name}: relations {seen[rel_type]!r} and {relation!r} both map to "
                            f"relationship type {rel_type!r}; give them distinct types")
        seen[rel_type] = relation
    return mapping


def _refuse_project_names(tables: TableSet, label: str, key: str) -> None:
    """Refuse names in the project's namespace (``Vlkge*``, ``VLKGE_*``, ``vlkge_*``): users' data under
    them would pass for the project's own (a ``VLKGE_CANDIDATE`` fact is a predicted link, never a fact)."""
    owned = f"the project's own namespace ({PROJECT_PREFIX}..., in any case)"
    sources = tables.relation_sources()
    for name, rel_type in tables.relation_types().items():
        if project_owned(rel_type):
            raise DataError(f"{sources[name]}: relation {name!r} would be relationship type {rel_type!r}, in {owned}, "
                            "where its facts would pass for predicted links or bookkeeping and never be "
                            "exported as facts; rename the relation, or map it to another type (relations.mapping)")
    names = [("dataset label", label), ("key property", key),
             *(("entity label", str(x)) for x in tables.entities["label"].unique()),
             *(("property", str(c)) for c in tables.entities.columns if c not in ("id", "label"))]
    for what, name in names:
        if project_owned(name):
            raise ConfigError(f"{tables.name}: {what} {name!r} is in {owned}; choose another name")


def _merge_batch(tx: ManagedTransaction, cypher: str,
                 params: dict[str, list[Any]]) -> tuple[int, list[list[str]], dict[str, list[Any]]]:
    """Run one node batch; return (nodes created, [key, elementId] pairs, the batch)."""
    result = tx.run(cypher, params)
    pairs = result.single(strict=True)["ids"]
    return result.consume().counters.nodes_created, pairs, params


def _created(tx: ManagedTransaction, cypher: str, params: dict[str, list[Any]]) -> tuple[int, int]:
    """Run one relationship batch; return (relationships created, facts in the batch)."""
    return tx.run(cypher, params).consume().counters.relationships_created, len(params["h"])


def _neo4j_values(column: pd.Series) -> list[Any]:
    """A column as Neo4j values: None for missing cells and empty lists (nothing is stored)."""
    if pd.api.types.is_string_dtype(column.dtype) and not pd.api.types.is_object_dtype(column.dtype):
        return column.astype(object).where(column.notna(), None).tolist()  # no per-cell checks needed
    return [_neo4j_value(v) for v in column.tolist()]


def _neo4j_value(value: Any) -> Any:
    """Plain Python values Neo4j can store; None (dropped) for missing values and empty lists."""
    if value is None or isinstance(value, (str, int)):  # the common cells, returned first
        return value
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
