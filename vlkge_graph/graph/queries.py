"""The Cypher query library (``cypher/queries/*.cypher``): parse each file's header, run it with parameters.

A header holds ``// Purpose:``, ``// Parameters:``, optional ``// Defaults: {json}`` and ``// Mode: write``.
The same files are what users paste into Neo4j Browser; values always travel as parameters.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlkge_graph.errors import ConfigError
from vlkge_graph.etl.sources import PROJECT_ROOT
from vlkge_graph.graph.connection import Graph

QUERY_DIR = PROJECT_ROOT / "cypher" / "queries"


@dataclass(frozen=True)
class Query:
    name: str
    text: str
    purpose: str
    parameters: list[str]
    defaults: dict[str, Any] = field(default_factory=dict)
    write: bool = False


def query_names(directory: Path = QUERY_DIR) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.cypher"))


def load_query(name: str, directory: Path = QUERY_DIR) -> Query:
    path = directory / f"{name}.cypher"
    if not path.is_file():
        raise ConfigError(f"no query {name!r} in {directory}; available: {', '.join(query_names(directory))}")
    text = path.read_text(encoding="utf-8")
    header = {m[1].lower(): m[2].strip() for m in re.finditer(r"^//\s*(\w+):\s*(.*)$", text, re.MULTILINE)}
    try:
        defaults = json.loads(header.get("defaults", "{}"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: the Defaults header is not JSON: {exc}") from exc
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))
    return Query(name=name, text=body, purpose=header.get("purpose", ""),
                 parameters=sorted(set(re.findall(r"\$(\w+)", body))), defaults=defaults,
                 write=header.get("mode", "read").lower() == "write")


def parse_param(assignment: str) -> tuple[str, Any]:
    """``key=value``; the value is read as JSON when it parses (numbers, null, lists), else as a string."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise ConfigError(f"--param {assignment!r}: write it as key=value")
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw


def run_query(graph: Graph, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Run a library query; missing parameters (without defaults) are an error naming them."""
    query = load_query(name)
    values = {**query.defaults, **params}
    missing = [p for p in query.parameters if p not in values]
    if missing:
        raise ConfigError(f"query {name!r} needs parameter(s) {missing} (--param name=value)")
    unknown = sorted(set(params) - set(query.parameters))
    if unknown:
        raise ConfigError(f"query {name!r} has no parameter(s) {unknown}; it takes {query.parameters}")
    run = graph.execute if query.write else graph.query
    return run(query.text, **{k: values[k] for k in query.parameters})
