"""Validation and quoting of Cypher identifiers (labels, relationship types, property names).

Values always travel as query parameters; identifiers cannot, so they pass through here first.
We accept a conservative alphabet and still backtick-quote, so a name can never break out of a query.
"""

from __future__ import annotations

import re

from vlkge_graph.errors import ConfigError
from vlkge_graph.namespace import PROJECT_PREFIX

#: Neo4j's limit on a label, relationship type or property name: 16,383 characters, the GQL identifier
#: limit the block store format enforces (Neo4j 5.25+); the older record formats allow 65,534.
NAME_LIMIT = 16_383

_SAFE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def validate_identifier(name: object, what: str = "identifier") -> str:
    """Return ``name`` if it is a safe Cypher identifier, else raise naming it and its role."""
    if not isinstance(name, str) or not _SAFE.match(name) or len(name) > NAME_LIMIT:
        shown = repr(name) if not isinstance(name, str) or len(name) <= 200 else repr(name[:200]) + "..."
        raise ConfigError(
            f"unsafe {what} {shown}: use letters, digits and underscores only, "
            f"starting with a letter or underscore (at most {NAME_LIMIT:,} characters, Neo4j's limit)"
        )
    return name


def quote(name: object, what: str = "identifier") -> str:
    """Validate ``name`` and return it backtick-quoted for use inside a Cypher statement."""
    return f"`{validate_identifier(name, what)}`"


def project_owned(name: str) -> bool:
    """Whether ``name`` lies in the project's own namespace (``PROJECT_PREFIX``, any case): users' data may
    not, or it would pass for the project's (a fact typed ``VLKGE_CANDIDATE`` is a predicted link to every
    query and never exported as a fact)."""
    return name.lower().startswith(PROJECT_PREFIX)
