"""Change detection on WN18RR: the "nothing changed" check against what a full export costs.

Starts a fresh local Neo4j (with the project's plugin when it is built), loads WN18RR without 1% of its
entities (seeded; with their glosses and facts), exports it as a sync would into a run directory, then
times (each row: the first call, then the median of --repeat further calls):
1. the server's fingerprint (``vlkge.fingerprint``) and the snapshot's (computed once, then cached);
2. ``detect_changes`` when nothing changed (goal: at most 2 s), and a full export for comparison;
3. ``detect_changes`` after the held-out 1% were added with their facts (as a user's ETL would), and
   after 100 texts were edited with SET: fingerprint, export and comparison;
4. the same checks right after a server restart (nothing in the page cache, no compiled query plans).
Usage: python benchmarks/bench_changes.py [--repeat 5] [--share 0.01]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from common import dataset_or_skip  # benchmarks/common.py
from rich.console import Console
from rich.table import Table

from vlkge_graph.config import Config, LocalServerConfig, Neo4jConfig, SyncConfig
from vlkge_graph.etl.tables import TableSet
from vlkge_graph.graph.connection import Graph, connect
from vlkge_graph.graph.export import export_tables
from vlkge_graph.graph.load import load_tables
from vlkge_graph.graph.schema import apply_schema
from vlkge_graph.graph.server import LocalServer
from vlkge_graph.graph_filter import GraphFilter, Modalities
from vlkge_graph.jobs.changes import FINGERPRINT_FILE, cache_snapshot_fingerprint, detect_changes
from vlkge_graph.jobs.fingerprint import plugin_available, server_fingerprint
from vlkge_graph.jobs.sync import RunState
from vlkge_graph.snapshot import write_snapshot


def split_off(tables: TableSet, share: float, seed: int = 0) -> tuple[TableSet, TableSet]:
    """(the graph without ``share`` of its entities and their facts, the held-out entities with those facts
    and the existing entities at their other ends)."""
    rng = np.random.default_rng(seed)
    held = set(rng.choice(tables.entities["id"].to_numpy(), int(len(tables.entities) * share), replace=False))
    touches = tables.triples["head"].isin(held) | tables.triples["tail"].isin(held)
    kept = TableSet(tables.name, tables.entities[~tables.entities["id"].isin(held)].reset_index(drop=True),
                    tables.relations, tables.triples[~touches].reset_index(drop=True))
    facts = tables.triples[touches].reset_index(drop=True)
    ends = held | set(facts["head"]) | set(facts["tail"])  # the loader merges the existing ends unchanged
    added = TableSet(tables.name, tables.entities[tables.entities["id"].isin(ends)].reset_index(drop=True),
                     tables.relations, facts)
    return kept, added


def timed(work: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """(first call's seconds, median of ``repeat`` further calls, the last result)."""
    start = time.perf_counter()
    result = work()
    first = time.perf_counter() - start
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return first, statistics.median(times) if times else float("nan"), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--share", type=float, default=0.01, help="share of entities added after the sync")
    args = parser.parse_args()
    console = Console(width=160)
    tables = dataset_or_skip("wn18rr", console)
    if tables is None:
        return
    base, added = split_off(tables, args.share)
    rows: list[tuple[str, str, str, str]] = []

    def row(what: str, first: float, median: float, result: str) -> None:
        rows.append((what, f"{first:.2f}", f"{median:.2f}", result))
        console.print(f"{what}: first {first:.2f} s, median {median:.2f} s: {result}")

    with tempfile.TemporaryDirectory() as tmp:
        server = LocalServer(LocalServerConfig(bolt_port=0, http_port=0, heap="2g", pagecache="1g"),
                             home=Path(tmp) / "home")
        uri = server.start().uri
        try:
            label = f"Bench{uuid.uuid4().hex[:8]}"
            flt = GraphFilter(entity_labels=[label], modalities=Modalities(text=["text"], image=[]))
            sync = SyncConfig(graph=flt, runs_dir=str(Path(tmp) / "runs"))
            run_dir = Path(sync.runs_dir) / f"{label}-bench"
            with connect(Config(neo4j=Neo4jConfig(uri=uri)), start_local=False) as graph:
                if not plugin_available(graph):
                    console.print("[yellow]the server has no vlkge.fingerprint (build the plugin with "
                                  "scripts/build-plugin.sh): every check below is an export and a comparison")
                apply_schema(graph)
                load_tables(graph, base, label, progress=False)
                exported = export_tables(graph, flt, label)
                write_snapshot(exported, run_dir / "snapshot", source={"filter": _filter_source(flt)})
                RunState(run_id=run_dir.name, scope=sync.scope_name).save(run_dir)  # its run.json, as a sync's
                console.print(f"synced: {len(exported.entities):,} entities, {len(exported.triples):,} facts; "
                              f"held out {len(tables.entities) - len(base.entities):,} entities with "
                              f"{len(added.triples):,} facts")
                def recompute() -> None:
                    (run_dir / FINGERPRINT_FILE).unlink(missing_ok=True)
                    cache_snapshot_fingerprint(run_dir)

                first, median, _ = timed(recompute, args.repeat)
                row("the snapshot's fingerprint, in Python (once per run, after its sync)", first, median,
                    f"{len(exported.entities):,} entities, {len(exported.triples):,} facts")
                measure(graph, sync, flt, run_dir, label, args.repeat, row, fresh="fresh server after the load")
                load_tables(graph, added, label, progress=False)
                first, median, changes = timed(lambda: detect_changes(graph, sync, run_dir=run_dir), args.repeat)
                row(f"detect_changes, {args.share:.0%} entities added with their facts", first, median,
                    _describe(changes))
                edited = graph.execute(f"MATCH (n:`{label}`) WHERE n.text IS NOT NULL WITH n LIMIT 100 "
                                       "SET n.text = n.text + ' (edited)' RETURN count(n) AS n")[0]["n"]
                first, median, changes = timed(lambda: detect_changes(graph, sync, run_dir=run_dir), args.repeat)
                row(f"detect_changes, and {edited} texts edited with SET", first, median, _describe(changes))
                graph.execute(f"MATCH (n:`{label}`) WHERE n.text ENDS WITH ' (edited)' "
                              "SET n.text = substring(n.text, 0, size(n.text) - 9)")
                graph.execute(f"MATCH (n:`{label}`) WHERE NOT n.id IN $ids DETACH DELETE n",
                              ids=base.entities["id"].tolist())
            server.stop()
            server.start()
            with connect(Config(neo4j=Neo4jConfig(uri=server.state().uri)), start_local=False) as graph:
                measure(graph, sync, flt, run_dir, label, args.repeat, row, fresh="after a server restart")
        finally:
            server.stop()
    table = Table(title=f"Change detection on WN18RR (load average {os.getloadavg()[0]:.1f})")
    for column in ("what", "first s", "median s", "result"):
        table.add_column(column)
    for r in rows:
        table.add_row(*r)
    console.print(table)


def measure(graph: Graph, sync: SyncConfig, flt: GraphFilter, run_dir: Path, label: str, repeat: int,
            row: Callable[[str, float, float, str], None], fresh: str) -> None:
    """The "nothing changed" rows; the first is what a scheduler sees first on this server."""
    first, median, changes = timed(lambda: detect_changes(graph, sync, run_dir=run_dir), repeat)
    row(f"detect_changes, nothing changed ({fresh})", first, median, _describe(changes))
    if plugin_available(graph):
        first, median, fp = timed(lambda: server_fingerprint(graph, flt), repeat)
        row(f"  of which the server's fingerprint ({fresh})", first, median,
            f"{fp.entities:,} entities, {fp.facts:,} facts")
    first, median, changes = timed(lambda: detect_changes(graph, sync, run_dir=run_dir, use_plugin=False), repeat)
    row(f"detect_changes without the plugin: export + compare ({fresh})", first, median, _describe(changes))
    first, median, tables = timed(lambda: export_tables(graph, flt, label), repeat)
    row(f"full export, for comparison ({fresh})", first, median,
        f"{len(tables.entities):,} entities, {len(tables.triples):,} facts")


def _describe(changes: Any) -> str:
    if not changes.changed:
        return f"unchanged ({changes.method})"
    counts = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in changes.counts().items() if v)
    return f"{counts} ({changes.method})"


def _filter_source(flt: GraphFilter) -> dict[str, Any]:
    import json
    from dataclasses import asdict

    return json.loads(json.dumps(asdict(flt)))


if __name__ == "__main__":
    main()
