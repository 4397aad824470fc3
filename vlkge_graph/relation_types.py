"""Neo4j relationship types for any dataset relation name, derived without hand-written mappings.

Relation names come in every shape (``_hypernym``, Freebase paths, Wikidata ``P31``, URIs); a type must
be a safe identifier. Each name gets one that is readable (the name upper-cased, other characters turned
into ``_``), deterministic (the same name always gets the same type, whatever else the dataset holds,
unless another name derives the same type) and unique (two different names never share one). The full
name is kept beside the type (the relation table, the graph's ``VlkgeRelationName`` nodes), so nothing is
lost when a type has to be shortened.

Rules (README, "Relation names and relationship types"):

- a sanitised name longer than ``DERIVED_TYPE_LIMIT`` keeps its first and last words around ``_`` and
  an 8-character hash of the full name (the limit is the project's, for readability: Neo4j allows
  16,383 characters);
- a name with nothing left after sanitising becomes ``R_`` + that hash;
- names that derive the same type all get their hash appended, except one that already is that type;
- an explicit mapping (``relations.mapping``) always wins, and derived types avoid the mapped ones.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping

from vlkge_graph.errors import ConfigError

#: Longest relationship type the project derives (a project rule for readable types; Neo4j's own limit
#: is ``identifiers.NAME_LIMIT``). All but two of FB15k-237's 237 Freebase paths fit as they are.
DERIVED_TYPE_LIMIT = 128
_TAG = 8  # hex characters of the name's SHA-256 that keep a shortened or colliding type unique
_SCHEME = re.compile(r"^<?[A-Za-z][A-Za-z0-9+.-]*://(?:www\.)?")  # http://www. of a URI carries no meaning


def relation_type_for(relation: str) -> str:
    """The type a relation name derives on its own (``_hypernym`` -> ``HYPERNYM``, ``isCreatedBy`` ->
    ``IS_CREATED_BY``, ``http://schema.org/knows`` -> ``SCHEMA_ORG_KNOWS``, ``P31`` -> ``P31``)."""
    text = unicodedata.normalize("NFKD", _SCHEME.sub("", relation)).encode("ascii", "ignore").decode()
    split_camel = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text)  # isCreatedBy -> is_Created_By
    cleaned = re.sub(r"[^A-Za-z0-9]+", "_", split_camel).strip("_").upper()
    if not cleaned:
        return f"R_{name_tag(relation)}"
    if cleaned[0].isdigit():
        cleaned = "R_" + cleaned
    return _shorten(cleaned, relation) if len(cleaned) > DERIVED_TYPE_LIMIT else cleaned


def relation_types(names: Iterable[str], mapping: Mapping[str, str] | None = None) -> dict[str, str]:
    """Relation name -> relationship type for all ``names``: ``mapping`` first, derived types otherwise.

    Raises ConfigError only when the mapping itself gives two names one type (or, against odds of 1 in
    4 billion, two hashes collide): two names never silently share a type.
    """
    mapping = mapping or {}
    names = list(dict.fromkeys(names))
    derived = {name: relation_type_for(name) for name in names if name not in mapping}
    mapped = {mapping[name] for name in names if name in mapping}
    counts = Counter(derived.values())
    out = {}
    for name in names:
        if name in mapping:
            out[name] = mapping[name]
            continue
        rel_type = derived[name]
        if (counts[rel_type] > 1 and name != rel_type) or rel_type in mapped:
            rel_type = _with_tag(rel_type, name)
        out[name] = rel_type
    owners: dict[str, str] = {}
    for name, rel_type in out.items():
        if rel_type in owners:
            raise ConfigError(f"relations {owners[rel_type]!r} and {name!r} would both become relationship type "
                              f"{rel_type!r}; give them distinct types in relations.mapping")
        owners[rel_type] = name
    return out


def name_tag(relation: str) -> str:
    """The short hash that tells apart types of different names (upper-case hex, like the types)."""
    return hashlib.sha256(relation.encode("utf-8")).hexdigest()[:_TAG].upper()


def _with_tag(rel_type: str, relation: str) -> str:
    if len(rel_type) + 1 + _TAG > DERIVED_TYPE_LIMIT:
        return _shorten(rel_type, relation)
    return f"{rel_type}_{name_tag(relation)}"


def _shorten(cleaned: str, relation: str) -> str:
    """``FIRST_WORDS_<TAG>_LAST_WORDS`` within the limit: the start and the (most specific) end survive."""
    room = DERIVED_TYPE_LIMIT - _TAG - 2
    head, tail = cleaned[:room // 2], cleaned[len(cleaned) - (room - room // 2):]
    head = head[:head.rfind("_")] if head.rfind("_") > 0 else head  # cut at a word boundary
    tail = tail[tail.find("_") + 1:] if 0 <= tail.find("_") < len(tail) - 1 else tail
    return f"{head}_{name_tag(relation)}_{tail}"
