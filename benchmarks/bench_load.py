"""Load WN18RR (40,943 nodes, 93,003 relationships) into a fresh Neo4j and print nodes/s and relationships/s.

Starts its own local server in a temporary home (a fresh database), unless --uri is given, in which case
it loads under a unique dataset label there. Goal on the 2-core development machine: >= 30,000
relationships/s. Usage: python benchmarks/bench_load.py [--batch-size 10000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid

from rich.console import Console
from rich.table import Table

from vlkge_graph.config import Config, LocalServerConfig, Neo4jConfig
from vlkge_graph.errors import SourceMissingError
from vlkge_graph.etl.readers import read_dataset
from vlkge_graph.graph.connection import connect
from vlkge_graph.graph.load import load_tables
from vlkge_graph.graph.server import LocalServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--uri", default=None, help="use this server instead of a fresh local one")
    args = parser.parse_args()
    console = Console()
    try:
        start = time.perf_counter()
        tables = read_dataset("wn18rr")
        read_s = time.perf_counter() - start
    except SourceMissingError as exc:
        console.print(f"skipped: {exc}")
        return
    with tempfile.TemporaryDirectory() as home:
        server = None
        if args.uri is None:
            server = LocalServer(LocalServerConfig(bolt_port=0, http_port=0, heap="2g", pagecache="1g"), home=home)
            uri = server.start().uri
        else:
            uri = args.uri
        try:
            with connect(Config(neo4j=Neo4jConfig(uri=uri)), start_local=False) as graph:
                label = f"Bench{uuid.uuid4().hex[:8]}"
                start = time.perf_counter()
                summary = load_tables(graph, tables, label, batch_size=args.batch_size, progress=False)
                first_s = time.perf_counter() - start
                start = time.perf_counter()
                again = load_tables(graph, tables, label, batch_size=args.batch_size, progress=False)
                second_s = time.perf_counter() - start
        finally:
            if server is not None:
                server.stop()
    nodes, rels = len(tables.entities), len(tables.triples)
    table = Table(title=f"WN18RR load into Neo4j (batch {args.batch_size})")
    for column in ("pass", "nodes", "relationships", "seconds", "nodes/s", "relationships/s", "created"):
        table.add_column(column, justify="right")
    table.add_row("read files", str(nodes), str(rels), f"{read_s:.1f}", "", "", "")
    table.add_row("first load", str(nodes), str(rels), f"{first_s:.1f}", f"{nodes / first_s:,.0f}",
                  f"{rels / first_s:,.0f}", f"{summary.nodes_created} / {summary.relationships_created}")
    table.add_row("reload (no-op)", str(nodes), str(rels), f"{second_s:.1f}", f"{nodes / second_s:,.0f}",
                  f"{rels / second_s:,.0f}", f"{again.nodes_created} / {again.relationships_created}")
    console.print(table)
    console.print("relationships/s here is relationships over the whole load time (nodes included).")


if __name__ == "__main__":
    main()
