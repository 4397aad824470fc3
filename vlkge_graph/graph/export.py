"""Exporting a (filtered) graph from Neo4j into the standard table set, page by page.

Nodes are read in pages ordered by their key (an index-backed range scan under the key constraint),
each page in its own managed read transaction, so the driver retries a page that fails (for example
while the server restarts) and the graph is never held in one driver result. The project's own
relationships (candidates, rejections, run bookkeeping) are never exported as facts.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd
from neo4j import ManagedTransaction
from neo4j.exceptions import ServiceUnavailable, SessionExpired, TransientError

from vlkge_graph.errors import ConfigError, VlkgeError
from vlkge_graph.etl.tables import SPLITS, TableSet
from vlkge_graph.graph.connection import Graph
from vlkge_graph.graph.graph_filter import GraphFilter
from vlkge_graph.identifiers import quote

log = logging.getLogger(__name__)

#: Relationship types the project writes; never facts.
PROJECT_TYPES = ("VLKGE_CANDIDATE", "VLKGE_REJECTED", "HAS_RELATION")
PAGE = 10_000
#: The tail of a fact is an entity node with a key. Written with a label list and a dynamic property so
#: that the planner cannot answer it from the key index: with ``t:Label AND t.key IS NOT NULL`` it may
#: (and on a fresh server did) scan every entity for every head, thousands of times slower.
TAIL_IS_ENTITY = "any(label IN labels(t) WHERE label IN $entity_labels) AND t[$key] IS NOT NULL"


def export_rejections(graph: Graph, flt: GraphFilter) -> pd.DataFrame:
    """Curated ``VLKGE_REJECTED`` pairs as (head, relation, tail): never proposed again, hard negatives."""
    key = quote(flt.key)
    rows = []
    for label in flt.entity_labels:
        rows += graph.query(f"MATCH (h:{quote(label)})-[x:VLKGE_REJECTED]->(t) WHERE x.type IS NOT NULL "
                            f"RETURN toString(h.{key}) AS head, x.type AS relation, toString(t.{key}) AS tail")
    return pd.DataFrame(rows, columns=["head", "relation", "tail"])


def export_tables(graph: Graph, flt: GraphFilter, name: str, page: int = PAGE) -> TableSet:
    """Read entities and facts selected by ``flt`` into a TableSet (with splits assigned)."""
    try:
        check_filter(graph, flt)
        with ThreadPoolExecutor(1, thread_name_prefix="vlkge-export") as pool:
            facts = pool.submit(_fact_columns, graph, flt, page)  # the server reads both at once
            entities = pd.DataFrame(list(_entity_rows(graph, flt, page)),
                                    columns=["id", "label", "name", "text", "images", "type_label"], dtype=object)
            triples = pd.DataFrame(facts.result(), dtype=object)
    except (ServiceUnavailable, SessionExpired, TransientError) as exc:
        raise VlkgeError(f"Neo4j at {graph.uri} failed during the export and the driver's retries ran out: "
                         f"{exc}. Nothing was written; run the export again once the server is back.") from exc
    dup = entities["id"].duplicated()
    if dup.any():
        raise VlkgeError(f"key property {flt.key!r} is not unique across {flt.entity_labels}: "
                         f"{entities['id'][dup].head(5).tolist()}")
    triples = triples.drop_duplicates(["head", "relation", "tail"]).reset_index(drop=True)
    triples["split"] = _assign_splits(triples, flt)
    relations = pd.DataFrame({"relation": sorted(triples["relation"].unique())})
    relations["type"] = relations["relation"]
    return TableSet(name, entities, relations, triples).validate()


def check_filter(graph: Graph, flt: GraphFilter) -> None:
    """Fail early when the configuration does not match the graph."""
    for label in flt.entity_labels:
        if not graph.query(f"MATCH (n:{quote(label)}) RETURN 1 AS x LIMIT 1"):
            raise ConfigError(f"graph.entity_labels: no node has the label {label!r} in database "
                              f"{graph.database!r}")
        missing = graph.query(f"MATCH (n:{quote(label)}) WHERE n.{quote(flt.key)} IS NULL "
                              "RETURN elementId(n) AS node LIMIT 3")
        if missing:
            raise ConfigError(f"graph.key: {label} nodes lack the key property {flt.key!r} "
                              f"(e.g. node {missing[0]['node']}); set a key on every entity node")
    for rel_type in flt.relationship_types:
        if not graph.query(f"MATCH ()-[r:{quote(rel_type)}]->() RETURN 1 AS x LIMIT 1"):
            raise ConfigError(f"graph.relationship_types: no relationship of type {rel_type!r} exists")
    by_label = {**{label: flt.modalities for label in flt.entity_labels}, **flt.modalities_by_label}
    for label, mods in by_label.items():
        for prop in [*mods.text, *mods.image]:
            if not graph.query(f"MATCH (n:{quote(label)}) WHERE n.{quote(prop)} IS NOT NULL RETURN 1 AS x LIMIT 1"):
                log.warning("no %s node has the modality property %r: that modality will be missing", label, prop)


def _entity_rows(graph: Graph, flt: GraphFilter, page: int) -> Iterator[tuple[Any, ...]]:
    seen: set[str] = set()
    key = quote(flt.key)
    for label in flt.entity_labels:
        mods = flt.modalities_by_label.get(label, flt.modalities)
        texts = "[" + ", ".join(f"n.{quote(p)}" for p in mods.text) + "]"
        images = "[" + ", ".join(f"n.{quote(p)}" for p in mods.image) + "]"

        def query(after: str, label: str = label, texts: str = texts, images: str = images) -> str:
            return (f"MATCH (n:{quote(label)}) {after} WITH n ORDER BY n.{key} LIMIT $page "
                    f"RETURN collect([toString(n.{key}), n.{quote(flt.name_property)}, {texts}, {images}, "
                    "[l IN labels(n) WHERE NOT l IN $entity_labels][0]]) AS rows, "
                    f"collect(n.{key})[-1] AS last")
        for record in _pages(graph, query, f"n.{key}", page, entity_labels=flt.entity_labels):
            for node_id, name, node_texts, node_images, type_label in record["rows"]:
                if node_id in seen:  # a node with two entity labels
                    continue
                seen.add(node_id)
                text = _text(node_texts)
                yield node_id, label, name, text, _image_list(node_images), type_label or label


def _fact_columns(graph: Graph, flt: GraphFilter, page: int) -> dict[str, list[Any]]:
    """All facts as four columns; each page comes back as four server-collected lists, which decode
    and turn into a frame far faster than one small list per fact."""
    key, split = quote(flt.key), quote(flt.split_property)
    # collect() skips nulls: every column skips exactly the rows without a fact, so they stay aligned.
    exprs = {"head": f"toString(h.{key})", "relation": "type(r)", "tail": f"toString(t.{key})",
             "split": f"coalesce(toString(r.{split}), '')"}
    collected = ", ".join(f"collect(CASE WHEN r IS NOT NULL THEN {e} END) AS {c}" for c, e in exprs.items())
    columns: dict[str, list[Any]] = {c: [] for c in exprs}
    for label in flt.entity_labels:
        def query(after: str, label: str = label) -> str:
            return (f"MATCH (h:{quote(label)}) {after} WITH h ORDER BY h.{key} LIMIT $page "
                    f"WITH collect(h) AS heads, collect(h.{key})[-1] AS last UNWIND heads AS h "
                    f"{fact_match(flt)} RETURN last, {collected}")
        for record in _pages(graph, query, f"h.{key}", page, **fact_params(flt)):
            for name, values in columns.items():
                values.extend(record[name])
    return columns


def fact_match(flt: GraphFilter) -> str:
    """``OPTIONAL MATCH`` of the facts ``(h)-[r]->(t)`` of a head entity ``h`` that ``flt`` selects; it takes
    the parameters of :func:`fact_params`. The one definition of "a fact" (export, change detection)."""
    types = "|".join(quote(t) for t in flt.relationship_types)
    rel = f"[r:{types}]" if types else "[r]"
    where = f" AND ({flt.where})" if flt.where else ""
    return (f"OPTIONAL MATCH (h)-{rel}->(t) WHERE {TAIL_IS_ENTITY} "
            f"AND NOT type(r) IN $own AND NOT type(r) STARTS WITH 'VLKGE_'{where}")


def fact_params(flt: GraphFilter) -> dict[str, Any]:
    return {"own": list(PROJECT_TYPES), "entity_labels": list(flt.entity_labels), "key": flt.key}


def _pages(graph: Graph, query: Callable[[str], str], key_expr: str, page: int,
           **params: Any) -> Iterator[dict[str, Any]]:
    """Key-ordered pages, each read in its own managed (retried) transaction.

    ``query(where)`` builds a page query returning one record: the page, collected on the server (one
    record per page decodes far faster than one per row), and ``last`` (the page's last key).
    ``where`` is empty for the first page, then a range predicate past the last key, so keys of any
    orderable type (strings, numbers) page correctly.
    """
    after: Any = None
    while True:
        where = "" if after is None else f"WHERE {key_expr} > $after"
        record = graph.read(_fetch, query(where), {"after": after, "page": page, **params})
        if record is None or record["last"] is None:
            return
        yield record
        after = record["last"]


def _fetch(tx: ManagedTransaction, cypher: str, params: dict[str, Any]) -> dict[str, Any] | None:
    record = tx.run(cypher, params).single()
    return dict(record.items()) if record else None


def _text(values: list[Any]) -> str | None:
    """The node's text properties joined, blank ones skipped; None when it has none."""
    if len(values) == 1:  # the common case, without building a generator per node
        value = values[0]
        return value if isinstance(value, str) and value.strip() else None
    return "\n".join(t for t in values if isinstance(t, str) and t.strip()) or None


def _image_list(values: list[Any]) -> list[str]:
    out: list[str] = []
    for value in values:
        if isinstance(value, str) and value:
            out.append(value)
        elif isinstance(value, list):
            out.extend(v for v in value if isinstance(v, str) and v)
    return out


def _assign_splits(triples: pd.DataFrame, flt: GraphFilter) -> pd.Series:
    """Keep a valid split property; draw the others deterministically from a hash of the fact."""
    given = triples["split"].where(triples["split"].isin(SPLITS))
    todo = given.isna()
    if todo.any():
        keys = (triples.loc[todo, "head"] + "\x1f" + triples.loc[todo, "relation"] + "\x1f" + triples.loc[todo, "tail"])
        u = keys.map(lambda k: int.from_bytes(hashlib.blake2b(f"{flt.seed}:{k}".encode(), digest_size=8).digest(),
                                              "big") / 2**64)
        train, valid = flt.split_ratios["train"], flt.split_ratios["valid"]
        given.loc[todo] = ["train" if x < train else "valid" if x < train + valid else "test" for x in u]
    return given.astype(str)
