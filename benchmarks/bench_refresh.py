"""Refresh vs full sync on WN18RR: new entities folded in without retraining (issue 11).

Starts a fresh local Neo4j with the project's plugin, loads WN18RR without 1% of its entities (seeded; with
their glosses and facts), runs a full sync (MiniLM glosses, VL-ComplEx, a short CPU recipe: the point is the
share of the time, not the model), then adds the held-out 1% as a user's ETL would and times:
1. the "nothing changed" check before the addition, and the change detection after it;
2. ``refresh`` end to end (export, encode through the cache, fold, predict the touched lists, publish
   them in one transaction) against the full sync's time (goal: at most 10%);
3. the candidates it writes against what the full publish wrote (goal: at most 5%).
--structure-dropout P trains the full sync's model with ``model.structure_dropout: P`` (issue 12's features-only
path), so new entities embedded from their glosses alone land among the trained ones; --transaction-max N sets
``sync.refresh_transaction_max``; --heap the server's heap (its transaction memory is 70% of it).
Usage: python benchmarks/bench_refresh.py [--share 0.01] [--epochs 2] [--k 5] [--structure-dropout 0.5]
       [--transaction-max 100000] [--heap 2g]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
import uuid
from pathlib import Path

import torch
from bench_changes import split_off  # the change benchmark's held-out split (run from benchmarks/)
from common import dataset_or_skip  # benchmarks/common.py
from rich.console import Console
from rich.table import Table

from vlkge_graph.config import Config, LocalServerConfig, Neo4jConfig, PredictConfig, SyncConfig
from vlkge_graph.graph.connection import connect
from vlkge_graph.graph.load import load_tables
from vlkge_graph.graph.server import LocalServer
from vlkge_graph.graph_filter import GraphFilter, Modalities
from vlkge_graph.jobs.changes import cache_snapshot_fingerprint, detect_changes
from vlkge_graph.jobs.refresh import refresh
from vlkge_graph.jobs.sync import sync

RECIPE = """
dataset: unused
features: {text: minilm}
model: {backbone: complex, dim: 64, imaginary: gated, reciprocal: true}
training: {mode: 1vsall, loss: cross_entropy, optimizer: adam, lr: 0.003, batch_size: 1024, epochs: EPOCHS,
           eval_every: EPOCHS, seed: 1}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--share", type=float, default=0.01)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--structure-dropout", type=float, default=0.0)
    parser.add_argument("--transaction-max", type=int, default=SyncConfig.refresh_transaction_max)
    parser.add_argument("--heap", default="2g")
    args = parser.parse_args()
    console = Console(width=160)
    tables = dataset_or_skip("wn18rr", console)
    if tables is None:
        return
    base, added = split_off(tables, args.share)
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        server = LocalServer(LocalServerConfig(bolt_port=0, http_port=0, heap=args.heap, pagecache="1g"),
                             home=Path(tmp) / "home")
        uri = server.start().uri
        try:
            label = f"Bench{uuid.uuid4().hex[:8]}"
            recipe = RECIPE.replace("EPOCHS", str(args.epochs))
            if args.structure_dropout:
                dropout = f"reciprocal: true, structure_dropout: {args.structure_dropout}}}"
                recipe = recipe.replace("reciprocal: true}", dropout)
            (Path(tmp) / "recipe.yaml").write_text(recipe)
            cfg = Config(neo4j=Neo4jConfig(uri=uri), sync=SyncConfig(
                scope=label, graph=GraphFilter(entity_labels=[label], modalities=Modalities(text=["text"], image=[])),
                recipe=str(Path(tmp) / "recipe.yaml"), predict=PredictConfig(k=args.k),
                runs_dir=str(Path(tmp) / "runs"), device="cpu", refresh_transaction_max=args.transaction_max))
            with connect(cfg, start_local=False) as graph:
                load_tables(graph, base, label, progress=False)
                start = time.perf_counter()
                full = sync(graph, cfg, console=Console(quiet=True))
                full_s = time.perf_counter() - start
                cache_snapshot_fingerprint(Path(cfg.sync.runs_dir) / full.run_id)
                written = full.stages["publish"]["candidates"]
                rows.append(("full sync (export, encode, train, evaluate, predict, publish)", f"{full_s:.1f}",
                             f"{written:,} candidates, {full.stages['export']['counts']['entities']:,} entities; "
                             + ", ".join(f"{s} {v['seconds']:.0f} s" for s, v in full.stages.items())))
                start = time.perf_counter()
                same = detect_changes(graph, cfg.sync)
                rows.append(("change check, nothing changed", f"{time.perf_counter() - start:.2f}",
                             f"changed: {same.changed} ({same.method})"))
                load_tables(graph, added, label, progress=False)
                start = time.perf_counter()
                changes = detect_changes(graph, cfg.sync)
                detect_s = time.perf_counter() - start
                rows.append((f"change detection, {args.share:.0%} entities added", f"{detect_s:.2f}",
                             f"{len(changes.new_entities):,} new entities, {len(changes.new_facts):,} new facts"))
                start = time.perf_counter()
                fresh = refresh(graph, cfg, changes, console=Console(quiet=True))
                refresh_s = time.perf_counter() - start
                predict = fresh.stages["predict"]
                rows.append(("refresh (export, encode, fold, predict, publish)", f"{refresh_s:.1f}",
                             f"{(refresh_s + detect_s) / full_s:.1%} of the full sync with the detection; "
                             + ", ".join(f"{s} {v['seconds']:.1f} s" for s, v in fresh.stages.items())))
                publish = fresh.stages["publish"]
                rows.append(("refresh publish", f"{publish['seconds']:.1f}",
                             f"{publish['mode']}" + (f" ({publish['why']})" if publish.get("why") else "")))
                rows.append(("candidates written by the refresh", "",
                             f"{predict['candidates_written']:,} in {predict['touched_lists']:,} lists "
                             f"({predict.get('ranked_again', 0):,} ranked again, {predict.get('entered', 0):,} "
                             f"entered by new entities) = "
                             f"{predict['candidates_written'] / max(written, 1):.1%} of the full publish's "
                             f"{written:,}; mean Jaccard@{args.k} of unchanged lists {predict['jaccard_at_k']:.3f}"))
                runs = Path(cfg.sync.runs_dir)
                rows.append(("run directories on disk (sync.keep_runs of them per scope)", "",
                             f"sync: {disk(runs / full.run_id)}; refresh: {disk(runs / fresh.run_id)}"))
        finally:
            server.stop()
    table = Table(title=f"Refresh vs full sync on WN18RR, {args.epochs} epochs, structure dropout "
                        f"{args.structure_dropout}, heap {args.heap} "
                        f"({platform.processor() or platform.machine()}, "
                        f"{os.cpu_count()} cores, torch threads {torch.get_num_threads()}, "
                        f"load average {os.getloadavg()[0]:.1f})")
    for column in ("what", "seconds", "result"):
        table.add_column(column)
    for r in rows:
        table.add_row(*r)
    console.print(table)


def disk(run_dir: Path) -> str:
    """A run directory's size, with its largest parts: ``"150 MB (features 63, train 42, ...)"``."""
    def size(path: Path) -> int:
        return path.stat().st_size if path.is_file() else sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    parts = sorted(((size(p), p.name) for p in run_dir.iterdir()), reverse=True)
    mb = 1 << 20
    largest = ", ".join(f"{name} {n / mb:.0f}" for n, name in parts[:4])
    return f"{sum(n for n, _ in parts) / mb:.0f} MB ({largest})"


if __name__ == "__main__":
    main()
