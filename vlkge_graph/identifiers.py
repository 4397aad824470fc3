"""Validation and quoting of Cypher identifiers (labels, relationship types, property names).

Values always travel as query parameters; identifiers cannot, so they pass through here first.
We accept a conservative alphabet and still backtick-quote, so a name can never break out of a query.
"""

from __future__ import annotations

import re

from vlkge_graph.errors import ConfigError

_SAFE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def validate_identifier(name: object, what: str = "identifier") -> str:
    """Return ``name`` if it is a safe Cypher identifier, else raise naming it and its role."""
    if not isinstance(name, str) or not _SAFE.match(name):
        raise ConfigError(
            f"unsafe {what} {name!r}: use letters, digits and underscores only, "
            "starting with a letter or underscore (at most 128 characters)"
        )
    return name


def quote(name: object, what: str = "identifier") -> str:
    """Validate ``name`` and return it backtick-quoted for use inside a Cypher statement."""
    return f"`{validate_identifier(name, what)}`"


def relation_type_for(relation: str) -> str:
    """Derive a Neo4j relationship type from a relation name (``_hypernym`` -> ``HYPERNYM``,
    ``isCreatedByArtist`` -> ``IS_CREATED_BY_ARTIST``).

    Raises if nothing safe remains, so an odd relation name is reported instead of silently mangled.
    """
    split_camel = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", relation)  # isCreatedBy -> is_Created_By
    cleaned = re.sub(r"[^A-Za-z0-9]+", "_", split_camel).strip("_").upper()
    if cleaned and cleaned[0].isdigit():
        cleaned = "R_" + cleaned
    return validate_identifier(cleaned, f"relationship type derived from relation {relation!r}")
