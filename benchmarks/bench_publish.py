"""Publish's candidate writes next to Neo4j's own ceiling for transactional relationship writes.

Every row starts a fresh local server (heap 2 GB, page cache 1 GB, the project's schema applied), loads
WN18RR and writes the same candidate relationships (the top-10 of a random DistMult model, as in
bench_graph.py) in --rounds rounds of --candidates each, with publish's batches and writers. Only what a
relationship carries differs:
1. publish (``WRITE_CANDIDATES``): seven properties (the run's integer ``generation`` among them), maintained by
   the two candidate indexes;
2. publish as it was before generation numbers: the 20-character run-id string instead, indexed;
3. publish's seven properties without the candidate indexes;
4. the leanest the graph model allows (relation, score and the generation, the (relation, score) index);
5. one property (score), no candidate index;
6. bare relationships, no property, no candidate index: the floor cost of a relationship here (the ceiling);
7. and 8. rows 1 and 4 on a server whose nodes never become dense (``db.relationship_grouping_threshold``):
   hub nodes, which the top-k of every query share, then keep one relationship chain.
Server CPU is the Neo4j process's CPU time over the round (Linux /proc), in cores. At the end, each publish row's
rate as a share of the bare ceiling measured in the same run, round by round.
With --paired, rows 1, 2 and 6 instead take turns on ONE server (both publish statements' indexes present),
round after round, so each share compares rounds measured minutes apart at most: on a shared, loaded machine
the separate servers of the table see different loads, and their shares say more about the load than the rows.
Usage: python benchmarks/bench_publish.py [--candidates 300000] [--rounds 3] [--workers 2] [--rows 1,2,6]
       python benchmarks/bench_publish.py --paired [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from common import dataset_or_skip  # benchmarks/common.py
from rich.console import Console
from rich.table import Table

from vlkge_graph.config import Config, LocalServerConfig, Neo4jConfig
from vlkge_graph.etl.tables import TableSet
from vlkge_graph.graph.connection import WRITERS, Graph, connect
from vlkge_graph.graph.load import load_tables, node_element_ids
from vlkge_graph.graph.publish import BATCH, CANDIDATE_TYPE, WRITE_CANDIDATES, candidate_batches
from vlkge_graph.graph.schema import apply_schema
from vlkge_graph.graph.server import LocalServer
from vlkge_graph.models import build_model
from vlkge_graph.prediction import predict_links
from vlkge_graph.training.data import TrainingData

LABEL = "Bench"
MATCH_ENDS = ("UNWIND range(0, size($heads) - 1) AS i "
              "MATCH (h) WHERE elementId(h) = $heads[i] MATCH (t) WHERE elementId(t) = $tails[i] ")
LEAN = (MATCH_ENDS + f"CREATE (h)-[:{CANDIDATE_TYPE} {{relation: $relation, score: $scores[i], "
        "generation: $generation}]->(t) RETURN count(*) AS n")
BOTH_INDEXES = ("vlkge_candidate_relation_score", "vlkge_candidate_generation")
#: Publish's statement as it was before generation numbers (the run-id string on every candidate), and its index.
RUN_ID_CANDIDATES = WRITE_CANDIDATES.replace("generation: $generation", "run_id: $run_id")
RUN_ID_INDEX = ("vlkge_candidate_run", "CREATE INDEX vlkge_candidate_run IF NOT EXISTS "
                f"FOR ()-[c:{CANDIDATE_TYPE}]-() ON (c.run_id)")
#: Dense-node grouping off: no relationship groups and degree counts for nodes with many relationships.
UNGROUPED = {"db.relationship_grouping_threshold": 1_000_000}
#: (row, Cypher, candidate indexes kept, extra server settings); publish's own statement first.
VARIANTS: list[tuple[str, str, tuple[str, ...], dict[str, str | int | float | bool]]] = [
    ("publish: 7 properties (integer generation), 2 candidate indexes", WRITE_CANDIDATES, BOTH_INDEXES, {}),
    ("publish before generation numbers: run-id string, 2 indexes", RUN_ID_CANDIDATES,
     (BOTH_INDEXES[0], RUN_ID_INDEX[0]), {}),
    ("publish's 7 properties, no candidate index", WRITE_CANDIDATES, (), {}),
    ("relation, score, generation; (relation, score) index", LEAN, BOTH_INDEXES[:1], {}),
    ("score only, no candidate index",
     MATCH_ENDS + f"CREATE (h)-[:{CANDIDATE_TYPE} {{score: $scores[i]}}]->(t) RETURN count(*) AS n", (), {}),
    ("bare relationship, no candidate index",
     MATCH_ENDS + f"CREATE (h)-[:{CANDIDATE_TYPE}]->(t) RETURN count(*) AS n", (), {}),
    ("publish, dense-node grouping off", WRITE_CANDIDATES, BOTH_INDEXES, UNGROUPED),
    ("relation, score, generation; index; grouping off", LEAN, BOTH_INDEXES[:1], UNGROUPED),
]
BARE = 6  #: the row number of the ceiling: bare relationships
PUBLISH_ROWS = (1, 2)  #: the rows that write what publish writes (publish now, and before generation numbers)
PAIRED = (*PUBLISH_ROWS, BARE)  #: the rows --paired measures in turns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", type=int, default=300_000, help="relationships written per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=WRITERS, help="concurrent write transactions")
    parser.add_argument("--rows", default=",".join(str(i) for i in range(1, len(VARIANTS) + 1)),
                        help="which rows to run, by number (default: all)")
    parser.add_argument("--paired", action="store_true",
                        help=f"rows {', '.join(map(str, PAIRED))} in turns on one server (see above)")
    args = parser.parse_args()
    rows = [int(r) for r in args.rows.split(",")]
    if not set(rows) <= set(range(1, len(VARIANTS) + 1)):
        parser.error(f"--rows: rows are numbered 1 to {len(VARIANTS)}, got {args.rows}")
    console = Console(width=200)
    tables = dataset_or_skip("wn18rr", console)
    if tables is None:
        return
    candidates = _candidates(tables, args.candidates)
    if args.paired:
        _print_paired(console, _paired(tables, candidates, args.rounds, args.workers), args)
        return
    table = Table(title=f"{args.candidates:,} candidate relationships per round, {args.workers} writers, "
                        f"batches of {BATCH:,} (relationships/s, server CPU in cores)")
    table.add_column("what each relationship carries")
    for r in range(args.rounds):
        table.add_column(f"round {r + 1}", justify="right")
    rates: dict[int, list[float]] = {}
    for row in rows:
        name, cypher, indexes, settings = VARIANTS[row - 1]
        console.print(f"[dim]{name}...[/dim]")
        measured = _rounds(tables, candidates, cypher, indexes, settings, args.rounds, args.workers)
        rates[row] = [rate for rate, _ in measured]
        table.add_row(f"{row}. {name}", *(f"{rate:,.0f}/s ({cores:.2f})" for rate, cores in measured))
    console.print(table)
    if BARE in rates:
        for row in (r for r in PUBLISH_ROWS if r in rates):
            shares = " / ".join(f"{r / b:.0%}" for r, b in zip(rates[row], rates[BARE], strict=True))
            console.print(f"row {row} as a share of the bare ceiling (row {BARE}), rounds 1..{args.rounds}: {shares}")
    console.print(f"load average at the end: {os.getloadavg()[0]:.1f}")


def _candidates(tables: TableSet, n: int) -> pd.DataFrame:
    """The first ``n`` top-10 candidates of a random DistMult (d=128) over WN18RR's first relations."""
    data = TrainingData.from_tables(tables)
    torch.manual_seed(0)
    model = build_model("distmult", data.num_entities, data.num_relations, 128)
    relations = list(data.relation_ids)
    picked: list[pd.DataFrame] = []
    while sum(map(len, picked)) < n and relations:
        picked.append(predict_links(model, data, [LABEL] * data.num_entities, relations=[relations.pop(0)],
                                    directions=["head", "tail"], k=10, device="cpu"))
    type_of = tables.relation_types()
    return pd.concat(picked, ignore_index=True).head(n).assign(type=lambda f: f["relation"].map(type_of))


def _paired(tables: TableSet, candidates: pd.DataFrame, rounds: int,
            workers: int) -> dict[int, list[tuple[float, float]]]:
    """Rows PAIRED in turns on one server, the order rotated each round; (rate, cores) per row and round."""
    indexes = tuple({name for row in PAIRED for name in VARIANTS[row - 1][2]})
    measured: dict[int, list[tuple[float, float]]] = {row: [] for row in PAIRED}
    with _server(tables, candidates, indexes, {}) as (graph, frame, pid):
        for r in range(rounds):
            for i in range(len(PAIRED)):
                row = PAIRED[(r + i) % len(PAIRED)]
                measured[row].append(_round(graph, VARIANTS[row - 1][1], frame, r * len(PAIRED) + i, workers, pid))
    return measured


def _print_paired(console: Console, measured: dict[int, list[tuple[float, float]]], args: argparse.Namespace) -> None:
    table = Table(title=f"In turns on one server: {args.candidates:,} candidate relationships per round, "
                        f"{args.workers} writers, batches of {BATCH:,} (relationships/s, server CPU in cores)")
    table.add_column("what each relationship carries")
    for r in range(args.rounds):
        table.add_column(f"round {r + 1}", justify="right")
    table.add_column("median share of the bare ceiling", justify="right")
    table.add_column("per server core: median (share)", justify="right")  # steadier when the CPU is shared
    bare = measured[BARE]
    for row, cells in measured.items():
        shares = [rate / b for (rate, _), (b, _) in zip(cells, bare, strict=True)]
        per_core = [rate / cores for rate, cores in cells]
        core_shares = [x / (b / cores) for x, (b, cores) in zip(per_core, bare, strict=True)]
        table.add_row(f"{row}. {VARIANTS[row - 1][0]}", *(f"{rate:,.0f}/s ({cores:.2f})" for rate, cores in cells),
                      f"{statistics.median(shares):.0%} ({' / '.join(f'{x:.0%}' for x in shares)})",
                      f"{statistics.median(per_core):,.0f}/s ({statistics.median(core_shares):.0%})")
    console.print(table)
    console.print(f"load average at the end: {os.getloadavg()[0]:.1f}")


@contextmanager
def _server(tables: TableSet, candidates: pd.DataFrame, indexes: tuple[str, ...],
            settings: dict[str, str | int | float | bool]) -> Iterator[tuple[Graph, pd.DataFrame, int]]:
    """A fresh local server with the project's schema, only ``indexes`` of the candidate indexes, and WN18RR
    loaded; yields the graph, the candidates with elementIds as head and tail, and the server's pid."""
    with tempfile.TemporaryDirectory() as home:
        server = LocalServer(LocalServerConfig(bolt_port=0, http_port=0, heap="2g", pagecache="1g", settings=settings),
                             home=home)
        state = server.start()
        try:
            with connect(Config(neo4j=Neo4jConfig(uri=state.uri)), start_local=False) as graph:
                apply_schema(graph)
                for name in BOTH_INDEXES:
                    if name not in indexes:
                        graph.execute(f"DROP INDEX {name} IF EXISTS")
                if RUN_ID_INDEX[0] in indexes:
                    graph.execute(RUN_ID_INDEX[1])
                load_tables(graph, tables, LABEL, progress=False)
                ids = node_element_ids(graph, LABEL, "id")
                yield graph, candidates.assign(head=candidates["head"].map(ids), tail=candidates["tail"].map(ids)), \
                    state.pid
        finally:
            server.stop()


def _rounds(tables: TableSet, candidates: pd.DataFrame, cypher: str, indexes: tuple[str, ...],
            settings: dict[str, str | int | float | bool], rounds: int, workers: int) -> list[tuple[float, float]]:
    with _server(tables, candidates, indexes, settings) as (graph, frame, pid):
        return [_round(graph, cypher, frame, r, workers, pid) for r in range(rounds)]


def _round(graph: Graph, cypher: str, frame: pd.DataFrame, round_no: int, workers: int,
           pid: int) -> tuple[float, float]:
    """(relationships/s, server cores) of one round; each round is a generation of its own."""
    def batches() -> Iterator[dict[str, Any]]:
        for batch in candidate_batches(frame, BATCH, round_no + 1):
            yield {**batch, "run_id": f"{LABEL}-20261201T224300-{round_no}"}  # a run id of today's length

    cpu_before, start = _cpu_seconds(pid), time.perf_counter()
    written = sum(records[0]["n"] for records in graph.execute_each(cypher, batches(), workers))
    seconds = time.perf_counter() - start
    cores = (_cpu_seconds(pid) - cpu_before) / seconds
    return written / seconds, cores


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux); NaN elsewhere."""
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return float("nan")
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
