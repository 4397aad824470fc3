"""A refresh's one transaction on a server that cannot hold it: a real Neo4j started with a small
per-transaction memory limit (``db.memory.transaction.max``) refuses it, the driver does not retry it, the
previous generation stays as it was, and the refresh can fall back to a whole-generation publish."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pandas as pd
import pytest

from tests.test_publish import make_graph, make_run, publish_made, visible
from vlkge_graph.config import LocalServerConfig
from vlkge_graph.graph.connection import Graph
from vlkge_graph.graph.publish_changes import TransactionTooLarge, publish_changes
from vlkge_graph.graph.server import LocalServer

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]

#: Small enough that a few thousand candidates do not fit one transaction; publish's batches of 100 do.
LIMIT = "4m"


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Graph]:
    from neo4j import GraphDatabase

    server = LocalServer(LocalServerConfig(bolt_port=0, http_port=0, heap="512m", pagecache="64m",
                                           settings={"db.memory.transaction.max": LIMIT}),
                         home=tmp_path_factory.mktemp("small-neo4j"))
    state = server.start()
    driver = GraphDatabase.driver(state.uri, auth=None, notifications_min_severity="OFF")
    try:
        yield Graph(driver=driver, database="neo4j", uri=state.uri)
    finally:
        driver.close()
        server.stop()


def test_a_change_too_large_for_the_servers_transaction_memory_is_refused_untouched(small: Graph) -> None:
    label = "Big"
    make_graph(small, label, 600)
    made = make_run(label, label, "parent-run", 600, 10, seed=1)
    publish_made(small, made, batch_size=100)
    before = visible(small, label)
    _, entities, embeddings, _, candidates = made
    lists = pd.DataFrame({"anchor": entities["id"], "relation": "likes", "direction": "tail"})
    changed = candidates.assign(score=candidates["score"] + 1.0)
    started = time.perf_counter()
    with pytest.raises(TransactionTooLarge, match="6,000 candidates in 600 lists do not fit one transaction"):
        publish_changes(small, run_id="refresh-run", parent="parent-run", scope=label, entity_key="id",
                        entity_labels=[label], entities=entities.iloc[:0], embeddings=embeddings[:0], lists=lists,
                        candidates=changed, stats={})
    assert time.perf_counter() - started < 25  # refused once: the driver's retries would take 30 s and more
    assert visible(small, label) == before
    runs = small.query("MATCH (r:VlkgeRun {scope: $s}) RETURN r.run_id AS id, r.active AS active", s=label)
    assert runs == [{"id": "parent-run", "active": True}]
    locks = small.query("MATCH (l:VlkgeLock) WHERE l.holder IS NOT NULL AND l.expires_at > datetime() "
                        "RETURN count(l) AS n")
    assert locks[0]["n"] == 0  # released: the fallback publish can take them at once
