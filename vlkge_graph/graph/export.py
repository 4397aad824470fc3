"""Exporting a (filtered) graph from Neo4j into the standard table set, page by page.

Nodes are read in pages ordered by their key (an index-backed range scan under the key constraint),
each page in its own managed read transaction, so the driver retries a page that fails (for example
while the server restarts) and the graph is never held in one driver result. The project's own
relationships (candidates, rejections, run bookkeeping: every ``VLKGE_`` type, and only those) are
never exported as facts.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd
from neo4j import ManagedTransaction
from neo4j.exceptions import ClientError, DatabaseError, ServiceUnavailable, SessionExpired, TransientError

from vlkge_graph.errors import ConfigError, VlkgeError
from vlkge_graph.etl.tables import SPLITS, TableSet
from vlkge_graph.graph.connection import Graph
from vlkge_graph.graph.relation_names import relation_names
from vlkge_graph.graph_filter import GraphFilter
from vlkge_graph.identifiers import quote
from vlkge_graph.namespace import REJECTED_TYPE, TYPE_PREFIX

log = logging.getLogger(__name__)

PAGE = 10_000
#: The tail of a fact is an entity node with a key. Written with a label list and a dynamic property so
#: that the planner cannot answer it from the key index: with ``t:Label AND t.key IS NOT NULL`` it may
#: (and on a fresh server did) scan every entity for every head, thousands of times slower.
TAIL_IS_ENTITY = "any(label IN labels(t) WHERE label IN $entity_labels) AND t[$key] IS NOT NULL"


def export_rejections(graph: Graph, flt: GraphFilter, relations: pd.DataFrame | None = None) -> pd.DataFrame:
    """Curated ``VLKGE_REJECTED`` pairs as (head, relation, tail): never proposed again, hard negatives.

    A rejection is matched to its relation by relationship type, named as in ``relations`` (the exported
    relation table), so it follows the relation whatever the name was when it was rejected."""
    key = quote(flt.key)
    rows = []
    for label in flt.entity_labels:
        rows += graph.query(f"MATCH (h:{quote(label)})-[x:{REJECTED_TYPE}]->(t) WHERE x.type IS NOT NULL "
                            f"RETURN toString(h.{key}) AS head, x.type AS relation, toString(t.{key}) AS tail")
    frame = pd.DataFrame(rows, columns=["head", "relation", "tail"])
    if relations is not None:
        names = dict(zip(relations["type"], relations["relation"], strict=True))
        frame["relation"] = frame["relation"].map(lambda t: names.get(t, t))
    return frame


def export_tables(graph: Graph, flt: GraphFilter, name: str, page: int = PAGE, check: bool = True) -> TableSet:
    """Read entities and facts selected by ``flt`` into a TableSet (with splits assigned); ``check=False``
    when the caller has just run ``check_filter``."""
    try:
        if check:
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
    types = sorted(triples["relation"].unique())  # facts come out by type; turn types into dataset names
    names = relation_names(graph, flt.entity_labels, types)
    relations = pd.DataFrame({"relation": [names.get(t, t) for t in types], "type": types})
    _refuse_shared_names(relations)
    triples["relation"] = triples["relation"].map(dict(zip(relations["type"], relations["relation"], strict=True)))
    triples["split"] = _assign_splits(triples, flt)
    return TableSet(name, entities, relations.sort_values("relation", ignore_index=True), triples).validate()


def _refuse_shared_names(relations: pd.DataFrame) -> None:
    """A recorded name that is also another exported type (``knows`` -> KNOWS_1A2B3C4D beside the user's
    own ``knows`` facts) would merge two relations: refuse rather than mix them."""
    shared = relations[relations["relation"].duplicated(keep=False)]
    if len(shared):
        types = ", ".join(repr(t) for t in shared["type"])
        raise ConfigError(f"graph.relationship_types: relationship types {types} all stand for relation "
                          f"{shared['relation'].iloc[0]!r}; export them separately (graph.relationship_types)")


def check_filter(graph: Graph, flt: GraphFilter, source: str = "") -> None:
    """Fail early, before anything runs, when the configuration does not match the graph; messages name
    the key (``sync.graph.key``), after ``source``, the configuration file, when given."""
    def key(name: str) -> str:
        return f"{source}: sync.graph.{name}" if source else f"sync.graph.{name}"

    for label in flt.entity_labels:
        if not graph.query(f"MATCH (n:{quote(label)}) RETURN 1 AS x LIMIT 1"):
            raise ConfigError(f"{key('entity_labels')}: no node has the label {label!r} in database "
                              f"{graph.database!r}")
        missing = graph.query(f"MATCH (n:{quote(label)}) WHERE n.{quote(flt.key)} IS NULL "
                              "RETURN elementId(n) AS node LIMIT 3")
        if missing:
            raise ConfigError(f"{key('key')}: {label} nodes lack the key property {flt.key!r} "
                              f"(e.g. node {missing[0]['node']}); set a key on every entity node")
    for rel_type in flt.relationship_types:
        if not graph.query(f"MATCH ()-[r:{quote(rel_type)}]->() RETURN 1 AS x LIMIT 1"):
            raise ConfigError(f"{key('relationship_types')}: no relationship of type {rel_type!r} exists")
    _check_where(graph, flt, key("where"))
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


#: The columns of a page of facts (besides ``last``).
FACT_COLUMNS = ("head", "relation", "tail", "split")


def fact_match(flt: GraphFilter) -> str:
    """``OPTIONAL MATCH`` of the facts ``(h)-[r]->(t)`` of a head entity ``h`` that ``flt`` selects; it takes
    the parameters of :func:`fact_params`. The one definition of "a fact" (export, change detection): every
    relationship type between entities except the project's own (``VLKGE_*``)."""
    types = "|".join(quote(t) for t in flt.relationship_types)
    rel = f"[r:{types}]" if types else "[r]"
    where = f" AND ({flt.where})" if flt.where else ""
    return f"OPTIONAL MATCH (h)-{rel}->(t) WHERE {TAIL_IS_ENTITY} AND NOT type(r) STARTS WITH $own{where}"


def fact_params(flt: GraphFilter) -> dict[str, Any]:
    return {"own": TYPE_PREFIX, "entity_labels": list(flt.entity_labels), "key": flt.key}


def _fact_query(flt: GraphFilter, label: str, after: str) -> str:
    """One page of the facts whose head has ``label``; ``after`` as in ``_pages``."""
    key, split = quote(flt.key), quote(flt.split_property)
    # collect() skips nulls: every column skips exactly the rows without a fact, so they stay aligned.
    exprs = {"head": f"toString(h.{key})", "relation": "type(r)", "tail": f"toString(t.{key})",
             "split": f"coalesce(toString(r.{split}), '')"}
    collected = ", ".join(f"collect(CASE WHEN r IS NOT NULL THEN {exprs[c]} END) AS {c}" for c in FACT_COLUMNS)
    return (f"MATCH (h:{quote(label)}) {after} WITH h ORDER BY h.{key} LIMIT $page "
            f"WITH collect(h) AS heads, collect(h.{key})[-1] AS last UNWIND heads AS h "
            f"{fact_match(flt)} RETURN last, {collected}")


def _fact_columns(graph: Graph, flt: GraphFilter, page: int) -> dict[str, list[Any]]:
    """All facts as four columns; each page comes back as four server-collected lists, which decode
    and turn into a frame far faster than one small list per fact."""
    columns: dict[str, list[Any]] = {c: [] for c in FACT_COLUMNS}
    for label in flt.entity_labels:
        def query(after: str, label: str = label) -> str:
            return _fact_query(flt, label, after)
        for record in _pages(graph, query, f"h.{quote(flt.key)}", page, **fact_params(flt)):
            for name, values in columns.items():
                values.extend(record[name])
    return columns


def _check_where(graph: Graph, flt: GraphFilter, name: str) -> None:
    """Refuse a ``where`` that is not a read-only predicate over ``h``, ``r``, ``t``: the fact query it goes
    into is planned once (``EXPLAIN``: nothing runs) in a read transaction and must stay a read-only query
    with the page's columns, so a write or anything that reshapes the query is refused before any stage."""
    if not flt.where:
        return
    refused = (f"{name}: {flt.where!r} must be a read-only Cypher predicate over h, r and t "
               "(e.g. \"coalesce(r.holdout, false) = false\")")
    cypher = "EXPLAIN " + _fact_query(flt, flt.entity_labels[0], "")
    try:
        keys, query_type = graph.read(_plan, cypher, {"page": 1, "after": None, **fact_params(flt)})
    except (ClientError, DatabaseError) as exc:
        said = (exc.message or str(exc)).splitlines()[0]  # the rest quotes the whole export query
        raise ConfigError(f"{refused}; Neo4j refused it: {said}") from exc
    if query_type != "r":
        raise ConfigError(f"{refused}; Neo4j plans it as a query of type {query_type!r} (r = read-only)")
    if keys != ["last", *FACT_COLUMNS]:
        raise ConfigError(f"{refused}; it changes what the export query returns ({keys})")


def _plan(tx: ManagedTransaction, cypher: str, params: dict[str, Any]) -> tuple[list[str], str | None]:
    result = tx.run(cypher, params)
    keys = list(result.keys())
    return keys, result.consume().query_type


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
