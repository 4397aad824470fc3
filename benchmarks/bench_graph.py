"""The graph round trip on WN18RR: export triples/s, candidate generation time, publish relationships/s.

Starts a fresh local Neo4j in a temporary home, loads WN18RR, then times
1. export (Neo4j -> table set), goal >= 100,000 triples/s;
2. candidate generation with a DistMult model of dimension 128 (random weights: the cost does not depend
   on training) for all entities, all relations, both directions, k = 10 (or --relations N of them);
3. publish of --publish-candidates candidate relationships plus every entity embedding, goal >= 50,000
   relationships/s, with the project's schema applied (its candidate indexes are updated on every write).
Usage: python benchmarks/bench_graph.py [--relations 11] [--publish-candidates 500000] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid

import torch
from common import dataset_or_skip  # benchmarks/common.py
from rich.console import Console
from rich.table import Table

from vlkge_graph.config import Config, LocalServerConfig, Neo4jConfig
from vlkge_graph.graph.connection import WRITERS, connect
from vlkge_graph.graph.export import export_tables
from vlkge_graph.graph.load import load_tables
from vlkge_graph.graph.publish import RelationParams, RunRecord, publish
from vlkge_graph.graph.schema import apply_schema
from vlkge_graph.graph.server import LocalServer
from vlkge_graph.graph_filter import GraphFilter, Modalities
from vlkge_graph.models import build_model
from vlkge_graph.prediction import predict_links
from vlkge_graph.training.data import TrainingData


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--relations", type=int, default=11, help="how many of the 11 relations to predict")
    parser.add_argument("--publish-candidates", type=int, default=500_000)
    parser.add_argument("--workers", type=int, default=WRITERS, help="concurrent candidate write transactions")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    console = Console(width=150)
    tables = dataset_or_skip("wn18rr", console)
    if tables is None:
        return
    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as home:
        server = LocalServer(LocalServerConfig(bolt_port=0, http_port=0, heap="2g", pagecache="1g"), home=home)
        uri = server.start().uri
        try:
            with connect(Config(neo4j=Neo4jConfig(uri=uri)), start_local=False) as graph:
                apply_schema(graph)  # as `vlkge-graph init` does: the candidate indexes cost write time
                label = f"Bench{uuid.uuid4().hex[:8]}"
                load_tables(graph, tables, label, progress=False)
                flt = GraphFilter(entity_labels=[label], modalities=Modalities(text=["text"], image=[]))
                for attempt in ("export (cold server)", "export (warm, 1)", "export (warm, 2)", "export (warm, 3)"):
                    start = time.perf_counter()
                    exported = export_tables(graph, flt, "wn18rr")
                    seconds = time.perf_counter() - start
                    rows.append((attempt, f"{len(exported.triples):,} triples, {len(exported.entities):,} entities",
                                 f"{seconds:.2f}", f"{len(exported.triples) / seconds:,.0f} triples/s"))

                data = TrainingData.from_tables(exported)
                torch.manual_seed(0)
                model = build_model("distmult", data.num_entities, data.num_relations, 128)
                relations = list(data.relation_ids)[:args.relations]
                start = time.perf_counter()
                candidates = predict_links(model, data, exported.entities["type_label"].tolist(), relations=relations,
                                           directions=["head", "tail"], k=10, device=args.device)
                seconds = time.perf_counter() - start
                queries = data.num_entities * len(relations) * 2
                rows.append(("candidate generation", f"{queries:,} queries x {data.num_entities:,} entities, k=10, "
                             f"{len(relations)} relations, {args.device}", f"{seconds:.1f}",
                             f"{queries / seconds:,.0f} queries/s -> {len(candidates):,} candidates"))

                type_of = exported.relation_types()
                sample = candidates.head(args.publish_candidates).assign(type=lambda f: f["relation"].map(type_of))
                with torch.no_grad():
                    embeddings = model.entity_vectors().numpy()
                rel_vectors = model.backbone.relations.weight.detach().numpy()
                relations = [RelationParams(r, type_of[r], rel_vectors[i]) for i, r in enumerate(data.relation_ids)]
                # Twice, as a scheduled sync does: the first publish is also the server's first candidate
                # write (its JVM still compiling that path), the second replaces the first generation.
                for attempt in ("first publish", "second publish"):
                    run = RunRecord(run_id=f"{label}-{attempt.split()[0]}", scope=label, backbone="distmult",
                                    dim=128, entity_labels=[label])
                    summary = publish(graph, run, entities=exported.entities[["id", "label"]],
                                      embeddings=embeddings, relations=relations, candidates=sample,
                                      workers=args.workers, progress=False)
                    rows.append((f"{attempt} (all phases)", f"{len(sample):,} candidates + {len(embeddings):,} "
                                 "embeddings (dim 128) + vector index", f"{summary.seconds:.1f}",
                                 f"{len(sample) / summary.seconds:,.0f} candidates/s overall"))
                    cand_s, emb_s = summary.phases["candidates"], summary.phases["embeddings"]
                    rows.append((f"  candidate relationships ({args.workers} writers)", f"{len(sample):,}",
                                 f"{cand_s:.1f}", f"{len(sample) / cand_s:,.0f} relationships/s"))
                    rows.append(("  embeddings", f"{len(embeddings):,} nodes", f"{emb_s:.1f}",
                                 f"{len(embeddings) / emb_s:,.0f} nodes/s"))
                    removed, removed_s = summary.removed_previous, summary.phases["remove_previous"]
                    if removed:
                        rows.append(("  previous generation removed", f"{removed:,} candidates",
                                     f"{removed_s:.1f}", f"{removed / removed_s:,.0f} relationships/s"))
        finally:
            server.stop()
    table = Table(title=f"WN18RR graph round trip (torch threads {torch.get_num_threads()}, "
                        f"load average {os.getloadavg()[0]:.1f})")
    for column in ("stage", "work", "seconds", "rate"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)


if __name__ == "__main__":
    main()
