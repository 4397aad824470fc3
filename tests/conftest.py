"""Test session set-up: one real Neo4j server for the whole run.

With ``NEO4J_URI`` set (as .ci/run does), tests use that server; otherwise they start the project's
local Neo4j in a temporary home on free ports and stop it at the end. Tests isolate their data with
unique labels (``unique_label``), so they never see each other's nodes.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from vlkge_graph.config import Config, LocalServerConfig, Neo4jConfig, load_config
from vlkge_graph.graph.connection import Graph, connect
from vlkge_graph.graph.server import LocalServer


@pytest.fixture(scope="session")
def neo4j_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Config]:
    if os.environ.get("NEO4J_URI"):
        yield load_config(None)
        return
    server = LocalServer(LocalServerConfig(bolt_port=0, http_port=0, heap="768m", pagecache="256m"),
                         home=tmp_path_factory.mktemp("neo4j-home"))
    state = server.start()
    try:
        yield Config(neo4j=Neo4jConfig(uri=state.uri))
    finally:
        server.stop()


@pytest.fixture(scope="session")
def graph(neo4j_config: Config) -> Iterator[Graph]:
    with connect(neo4j_config, start_local=False) as g:
        yield g


@pytest.fixture
def unique_label() -> str:
    """A label no other test uses: the isolation unit for a test's data."""
    return f"T{uuid.uuid4().hex[:12]}"
