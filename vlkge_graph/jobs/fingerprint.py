"""A graph's fingerprint: counts plus order-independent digests of its entities and facts.

Change detection compares the fingerprint the server computes now (``vlkge.fingerprint``, an aggregation
function of the project's plugin: Cypher has no hash function) with the fingerprint of a run's snapshot,
computed here from its Parquet files. Equal fingerprints mean the scope's graph is what the run was trained
on, without exporting anything. Both sides digest the same canonical rows:
- an entity: ``[key, text, images]`` with ``text`` and ``images`` normalised as the exporter does, plus its
  name (``[key, text, images, name]``) when the run's recipe encodes names (``features.name``): then a rename
  changes the entity's features, otherwise it changes nothing the run learned from;
- a fact: ``[head key, relationship type, tail key]``, each distinct fact once.
A row's digest is the first 8 bytes of the SHA-256 of its canonical encoding (``encode``; mirrored by
``org.vlkge.graph.Digest``); a fingerprint sums the digests modulo 2^64, so row order does not matter.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from vlkge_graph.content_hash import image_refs
from vlkge_graph.graph.connection import Graph
from vlkge_graph.graph.export import fact_match, fact_params
from vlkge_graph.graph_filter import GraphFilter
from vlkge_graph.identifiers import quote

MASK = (1 << 64) - 1
FUNCTION = "vlkge.fingerprint"


@dataclass(frozen=True)
class Fingerprint:
    """Entity and fact counts and digests (16 hex digits each)."""

    entities: int
    facts: int
    entity_digest: str
    fact_digest: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_server(cls, row: dict[str, Any]) -> Fingerprint:
        return cls(int(row["entities"]), int(row["facts"]), row["entityDigest"], row["factDigest"])


def encode(value: Any, out: bytearray) -> None:
    """The canonical encoding: ``N`` null, ``S<len>:<utf-8>`` string, ``I<n>:`` integer, ``L<n>:<items>`` list."""
    if value is None:
        out += b"N"
    elif isinstance(value, str):
        data = value.encode("utf-8", "replace")  # Java's getBytes(UTF_8) also writes '?' for a lone surrogate
        out += b"S%d:" % len(data)
        out += data
    elif isinstance(value, int) and not isinstance(value, bool):
        out += b"I%d:" % value
    elif isinstance(value, list | tuple):
        out += b"L%d:" % len(value)
        for item in value:
            encode(item, out)
    else:
        raise TypeError(f"cannot digest a {type(value).__name__}")


def digest(value: Any) -> int:
    """The 64-bit digest of a canonical value (see ``encode``)."""
    out = bytearray()
    encode(value, out)
    return int.from_bytes(hashlib.sha256(out).digest()[:8], "big")


def name_of(value: object) -> str | None:
    """An entity's name as the ``name`` feature reads it: a non-blank string, else None."""
    return value if isinstance(value, str) and value.strip() else None


def tables_fingerprint(entities: pd.DataFrame, triples: pd.DataFrame, types: dict[str, str], *,
                       names: bool = False) -> Fingerprint:
    """The fingerprint of exported tables: ``entities`` with ``id``, ``text``, ``images`` (and ``name`` with
    ``names``); ``triples`` with ``head``, ``relation``, ``tail``; ``types`` maps a relation name to its
    relationship type."""
    entity_sum = 0
    name_cells = entities["name"] if names else [None] * len(entities)
    for key, text, images, name in zip(entities["id"], entities["text"], entities["images"], name_cells,
                                       strict=True):
        row = [key, text if isinstance(text, str) else None, image_refs(images)]
        entity_sum += digest([*row, name_of(name)] if names else row)
    facts = triples[["head", "relation", "tail"]].drop_duplicates()
    fact_sum = 0
    for head, relation, tail in zip(facts["head"], facts["relation"], facts["tail"], strict=True):
        fact_sum += digest([head, types.get(relation, relation), tail])
    return Fingerprint(len(entities), len(facts), f"{entity_sum & MASK:016x}", f"{fact_sum & MASK:016x}")


def server_fingerprint(graph: Graph, flt: GraphFilter, *, names: bool = False) -> Fingerprint:
    """The fingerprint of what ``flt`` selects now, computed by the server (one row per entity label)."""
    entities = facts = entity_sum = fact_sum = 0
    for i, label in enumerate(flt.entity_labels):
        row = graph.query(fingerprint_query(flt, label, names=names), earlier=flt.entity_labels[:i],
                          **fact_params(flt))[0]["fp"]
        entities += row["entities"]
        facts += row["facts"]
        entity_sum += int(row["entityDigest"], 16)
        fact_sum += int(row["factDigest"], 16)
    return Fingerprint(entities, facts, f"{entity_sum & MASK:016x}", f"{fact_sum & MASK:016x}")


def fingerprint_query(flt: GraphFilter, label: str, *, names: bool = False) -> str:
    """One label's entities (those not counted under an earlier entity label) and their distinct facts."""
    key, name = quote(flt.key), quote(flt.name_property)
    mods = flt.modalities_by_label.get(label, flt.modalities)
    name_column = (f", CASE WHEN h.{name} IS :: STRING NOT NULL AND trim(h.{name}) <> '' THEN h.{name} END"
                   if names else "")
    return (f"MATCH (h:{quote(label)}) WHERE NOT any(l IN labels(h) WHERE l IN $earlier) "
            f"{fact_match(flt)} "
            f"WITH h, collect(DISTINCT CASE WHEN r IS NOT NULL THEN [type(r), toString(t.{key})] END) AS facts "
            f"RETURN {FUNCTION}([toString(h.{key}), {text_expression('h', mods.text)}, "
            f"{images_expression('h', mods.image)}{name_column}], facts) AS fp")


def text_expression(node: str, properties: list[str]) -> str:
    """Cypher for the exporter's text: the non-blank string properties joined by newlines, else null."""
    values = "[" + ", ".join(f"{node}.{quote(p)}" for p in properties) + "]"
    return (f"reduce(s = null, x IN {values} | CASE WHEN x IS :: STRING NOT NULL AND trim(x) <> '' "
            "THEN CASE WHEN s IS NULL THEN x ELSE s + '\\n' + x END ELSE s END)")


def images_expression(node: str, properties: list[str]) -> str:
    """Cypher for the exporter's image list: non-empty strings, and the non-empty strings of list properties."""
    values = "[" + ", ".join(f"{node}.{quote(p)}" for p in properties) + "]"
    return (f"reduce(a = [], x IN {values} | a + CASE WHEN x IS :: STRING NOT NULL AND x <> '' THEN [x] "
            "WHEN x IS :: LIST<ANY> NOT NULL THEN [y IN x WHERE y IS :: STRING NOT NULL AND y <> ''] "
            "ELSE [] END)")


def plugin_available(graph: Graph) -> bool:
    """Whether the server has ``vlkge.fingerprint`` (the project's plugin jar, built and installed)."""
    return bool(graph.query("SHOW FUNCTIONS YIELD name WHERE name = $name RETURN name", name=FUNCTION))
