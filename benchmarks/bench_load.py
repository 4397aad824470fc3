"""Load WN18RR (40,943 nodes, 93,003 relationships) into a fresh Neo4j and print nodes/s and relationships/s.

Two fresh local servers, each in a temporary home (an empty database):
1. cold: WN18RR is the server's first work, so the JVM is still compiling its code paths;
2. running: the server first does the same kind of work, as a server in use has (warm-up: WN9-IMG,
   then WN18RR, each under its own label; the JVM compiles Neo4j's write paths over the first few
   hundred thousand writes); then, once per --workers value (concurrent write transactions), the
   database is emptied again and WN18RR is loaded into it; the last load is repeated (a no-op reload).
With --uri, only the second protocol runs, on that server, without emptying its database (WN18RR then
goes under a new label). Goal on the 2-core development machine:
>= 30,000 relationships/s, counted over the whole load (nodes included).
Usage: python benchmarks/bench_load.py [--batch-size 10000] [--uri bolt://...]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.table import Table

from vlkge_graph.config import Config, LocalServerConfig, Neo4jConfig
from vlkge_graph.errors import SourceMissingError
from vlkge_graph.etl.readers import read_dataset
from vlkge_graph.etl.tables import TableSet
from vlkge_graph.graph.connection import WRITERS, Graph, connect
from vlkge_graph.graph.load import LoadSummary, load_tables
from vlkge_graph.graph.server import LocalServer
from vlkge_graph.identifiers import quote


@contextmanager
def server_graph(uri: str | None) -> Iterator[Graph]:
    """The given server, or a fresh local one in a temporary home (stopped afterwards)."""
    with tempfile.TemporaryDirectory() as home:
        server = None
        if uri is None:
            server = LocalServer(LocalServerConfig(bolt_port=0, http_port=0, heap="2g", pagecache="1g"), home=home)
            uri = server.start().uri
        try:
            with connect(Config(neo4j=Neo4jConfig(uri=uri)), start_local=False) as graph:
                yield graph
        finally:
            if server is not None:
                server.stop()


def timed_load(graph: Graph, tables: TableSet, label: str, batch_size: int,
               workers: int = WRITERS) -> tuple[float, LoadSummary]:
    start = time.perf_counter()
    summary = load_tables(graph, tables, label, batch_size=batch_size, workers=workers, progress=False)
    return time.perf_counter() - start, summary


def empty_database(graph: Graph) -> None:
    """Delete every node and relationship and the load's key constraints: a fresh, empty database again
    (Community edition cannot create another one), on a server whose JVM has done the work before."""
    with graph.driver.session(database=graph.database) as session:
        session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()
    for row in graph.query("SHOW CONSTRAINTS YIELD name WHERE name STARTS WITH 'vlkge_key_' RETURN name"):
        graph.execute(f"DROP CONSTRAINT {quote(row['name'])} IF EXISTS")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--uri", default=None, help="use this server instead of fresh local ones")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, WRITERS],
                        help="concurrent write transactions; each value loads WN18RR under its own label")
    args = parser.parse_args()
    console = Console(width=150)
    try:
        start = time.perf_counter()
        tables = read_dataset("wn18rr")
        read_s = time.perf_counter() - start
        warmup = read_dataset("wn9-img")
    except SourceMissingError as exc:
        console.print(f"skipped: {exc}")
        return
    rows: list[tuple[str, TableSet, float, LoadSummary | None]] = [("read WN18RR files", tables, read_s, None)]
    if args.uri is None:
        with server_graph(None) as graph:
            seconds, summary = timed_load(graph, tables, f"Bench{uuid.uuid4().hex[:8]}", args.batch_size)
            rows.append(("cold server: first load", tables, seconds, summary))
    with server_graph(args.uri) as graph:
        seconds, summary = timed_load(graph, warmup, f"Warm{uuid.uuid4().hex[:8]}", args.batch_size)
        rows.append(("running server, warm-up: WN9-IMG", warmup, seconds, summary))
        seconds, summary = timed_load(graph, tables, f"Warm{uuid.uuid4().hex[:8]}", args.batch_size)
        rows.append(("running server, warm-up: WN18RR, other label", tables, seconds, summary))
        for workers in args.workers:
            if args.uri is None:
                empty_database(graph)
            label = f"Bench{uuid.uuid4().hex[:8]}"
            seconds, summary = timed_load(graph, tables, label, args.batch_size, workers)
            rows.append((f"running server, empty database: load, {workers} writer(s)", tables, seconds, summary))
        seconds, summary = timed_load(graph, tables, label, args.batch_size)
        rows.append(("running server: reload (no-op)", tables, seconds, summary))

    table = Table(title=f"WN18RR load into Neo4j (batch {args.batch_size}, load average {os.getloadavg()[0]:.1f})")
    for column in ("pass", "nodes", "relationships", "seconds", "nodes/s", "relationships/s", "created"):
        table.add_column(column, justify="right")
    for name, data, seconds, result in rows:
        nodes, rels = len(data.entities), len(data.triples)
        if result is None:
            table.add_row(name, str(nodes), str(rels), f"{seconds:.1f}", "", "", "")
            continue
        table.add_row(name, str(nodes), str(rels), f"{seconds:.2f}", f"{nodes / seconds:,.0f}",
                      f"{rels / seconds:,.0f}", f"{result.nodes_created} / {result.relationships_created}")
    console.print(table)
    console.print("relationships/s: relationships over the whole load time (nodes included).")


if __name__ == "__main__":
    main()
