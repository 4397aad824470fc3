"""Applying ``cypher/schema/*.cypher`` (the constraints and indexes the project's own data needs) and the
migrations of what earlier versions wrote (``graph/migrations.py``)."""

from __future__ import annotations

from pathlib import Path

from vlkge_graph.etl.sources import PROJECT_ROOT
from vlkge_graph.graph.connection import Graph
from vlkge_graph.graph.migrations import migrate

SCHEMA_DIR = PROJECT_ROOT / "cypher" / "schema"


def schema_statements(directory: Path = SCHEMA_DIR) -> list[tuple[str, str]]:
    """(file name, statement) pairs in file order; ``//`` comment lines are dropped."""
    out = []
    for path in sorted(directory.glob("*.cypher")):
        text = "\n".join(line for line in path.read_text().splitlines() if not line.strip().startswith("//"))
        out.extend((path.name, stmt.strip()) for stmt in text.split(";") if stmt.strip())
    return out


def apply_schema(graph: Graph, directory: Path = SCHEMA_DIR) -> int:
    """Run every schema statement (each is IF NOT EXISTS), then the migrations; return how many statements ran."""
    statements = schema_statements(directory)
    for _, statement in statements:
        graph.execute(statement)  # schema changes need their own transaction each
    migrate(graph)
    return len(statements)
