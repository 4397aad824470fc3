"""Incremental publish: a generation that differs in 1% of its top-k lists writes only those lists (issue 11).

Starts a fresh local Neo4j (heap 2 GB, page cache 1 GB), loads WN18RR, publishes a whole generation with
``publish`` (the top-k of a random DistMult for --relations relations, both directions), then changes
--share of its top-k lists (new answers and scores, as a refresh's predict makes them) and publishes that
change with ``publish_changes``, the refresh's one-transaction publish. Prints what each wrote and how long
it took, and checks the visible generation afterwards holds exactly the changed table.
Goal: the incremental publish writes at most 5% of what the full publish writes.
Usage: python benchmarks/bench_incremental.py [--share 0.01] [--relations 2] [--k 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile

import numpy as np
import pandas as pd
import torch
from common import dataset_or_skip  # benchmarks/common.py
from rich.console import Console
from rich.table import Table

from vlkge_graph.config import Config, LocalServerConfig, Neo4jConfig
from vlkge_graph.graph.connection import connect
from vlkge_graph.graph.load import load_tables
from vlkge_graph.graph.publish import RelationParams, RunRecord, publish
from vlkge_graph.graph.publish_changes import publish_changes
from vlkge_graph.graph.server import LocalServer
from vlkge_graph.jobs.refresh import LIST_KEY
from vlkge_graph.models import build_model
from vlkge_graph.prediction import predict_links
from vlkge_graph.training.data import TrainingData

LABEL = "Bench"
DIM = 32


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--share", type=float, default=0.01, help="share of the top-k lists that change")
    parser.add_argument("--relations", type=int, default=2, help="WN18RR relations with candidates")
    parser.add_argument("--k", type=int, default=5)
    args = parser.parse_args()
    console = Console(width=160)
    tables = dataset_or_skip("wn18rr", console)
    if tables is None:
        return
    data = TrainingData.from_tables(tables)
    torch.manual_seed(0)
    model = build_model("distmult", data.num_entities, data.num_relations, DIM)
    relations = list(data.relation_ids)[:args.relations]
    full = predict_links(model, data, [LABEL] * data.num_entities, relations=relations,
                         directions=["head", "tail"], k=args.k, device="cpu")
    full["type"] = full["relation"].map(tables.relation_types())
    changed, lists, fresh = _change(full, data.entity_ids, args.share, args.k)
    entities = pd.DataFrame({"id": list(data.entity_ids), "label": LABEL})
    vectors = model.entity_vectors().detach().numpy()
    params = [RelationParams(r, tables.relation_types()[r], [1.0] * DIM) for r in data.relation_ids]
    with tempfile.TemporaryDirectory() as home:
        server = LocalServer(LocalServerConfig(bolt_port=0, http_port=0, heap="2g", pagecache="1g"), home=home)
        state = server.start()
        try:
            with connect(Config(neo4j=Neo4jConfig(uri=state.uri)), start_local=False) as graph:
                load_tables(graph, tables, LABEL, progress=False)
                run = RunRecord(run_id=f"{LABEL}-full", scope=LABEL, backbone="distmult", dim=DIM,
                                entity_labels=[LABEL])
                whole = publish(graph, run, entities=entities, embeddings=vectors, relations=params,
                                candidates=full, progress=False)
                part = publish_changes(graph, run_id=f"{LABEL}-refresh", parent=run.run_id, scope=LABEL,
                                       entity_key="id", entity_labels=[LABEL], entities=entities.head(0),
                                       embeddings=vectors[:0], lists=lists, candidates=fresh, stats={})
                visible = graph.query("MATCH (r:VlkgeRun {active: true, scope: $s}) "
                                      "MATCH (:Bench)-[c:VLKGE_CANDIDATE {generation: r.generation}]->() "
                                      "RETURN count(c) AS n", s=LABEL)[0]["n"]
        finally:
            server.stop()
    total_lists = len(full.assign(anchor=np.where(full["direction"] == "tail", full["head"], full["tail"]))[
        list(LIST_KEY)].drop_duplicates())
    table = Table(title=f"WN18RR, {len(relations)} relations, both directions, top-{args.k}: a whole generation, "
                        f"then {args.share:.0%} of its lists changed")
    for col in ("publish", "top-k lists", "candidates written", "candidates deleted", "seconds"):
        table.add_column(col, justify="left" if col == "publish" else "right")
    table.add_row("whole generation (publish)", f"{total_lists:,}", f"{whole.candidates:,}",
                  f"{whole.removed_previous:,}", f"{whole.seconds:.1f}")
    table.add_row("the change (publish_changes, one transaction)", f"{part.lists:,}", f"{part.candidates:,}",
                  f"{part.removed_candidates:,}", f"{part.seconds:.1f}")
    table.add_row("share of the whole", f"{part.lists / total_lists:.2%}", f"{part.candidates / whole.candidates:.2%}",
                  "", f"{part.seconds / whole.seconds:.1%}")
    console.print(table)
    ok = visible == len(changed)
    console.print(f"visible candidates after the change: {visible:,} ({'=' if ok else '!='} the changed table's "
                  f"{len(changed):,}); writes: {part.candidates / whole.candidates:.2%} of the whole "
                  "(goal: at most 5%)")
    console.print(f"hardware: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                  f"load average {os.getloadavg()[0]:.1f}")


def _change(full: pd.DataFrame, entity_ids: list[str], share: float,
            k: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(the table after the change, the changed lists, their new entries): ``share`` of the lists get k new
    answers drawn at random, with new scores, as a refresh's predict would rank them."""
    rng = np.random.default_rng(0)
    frame = full.assign(anchor=np.where(full["direction"] == "tail", full["head"], full["tail"]))
    keys = frame[list(LIST_KEY)].drop_duplicates()
    lists = keys.sample(frac=share, random_state=0).reset_index(drop=True)
    rows = []
    for anchor, relation, direction in lists.itertuples(index=False):
        others = rng.choice(len(entity_ids), size=k, replace=False)
        scores = np.sort(rng.normal(size=k))[::-1]
        for rank, (other, score) in enumerate(zip(others, scores, strict=True), start=1):
            head, tail = (anchor, entity_ids[other]) if direction == "tail" else (entity_ids[other], anchor)
            rows.append((head, tail, relation, float(score), 0.5, rank, direction))
    fresh = pd.DataFrame(rows, columns=["head", "tail", "relation", "score", "probability", "rank", "direction"])
    fresh["type"] = fresh["relation"].map(dict(zip(full["relation"], full["type"], strict=False)))
    kept = frame[~pd.MultiIndex.from_frame(frame[list(LIST_KEY)]).isin(pd.MultiIndex.from_frame(lists))]
    return pd.concat([kept.drop(columns="anchor"), fresh], ignore_index=True), lists, fresh


if __name__ == "__main__":
    main()
