"""``vlkge.predict`` for one node over a WN18RR-sized graph (40,943 entities, dim 256) vs the same ranking in Cypher.

Starts a fresh local Neo4j with the built plugin (scripts/build-plugin.sh first) in a temporary home,
writes random entity vectors into the embedding slot ``vlkge_embedding_a`` under a unique label plus one
DistMult and one TransE run whose ``embedding_property`` names that slot (docs/graph-model.md), makes one of
them the active run, then times repeated ``vlkge.predict`` calls without a runId (the run is the active one
covering the query node; a random query node each call) and prints median and 95th percentile next to the
same top-k computed by pure Cypher over the embedding properties. Also timed: the first call on a label
(every embedding is read from the store into the candidate block), and the first call after one entity's
embedding changed (only that node is read again, the block is patched). Goal: median < 50 ms.

Usage: python benchmarks/bench_procedures.py [--entities 40943] [--dim 256] [--repeat 50] [--cypher-repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid

import numpy as np
from neo4j import GraphDatabase
from rich.console import Console
from rich.table import Table

from vlkge_graph.config import LocalServerConfig
from vlkge_graph.graph.server import PROJECT_PLUGIN_DIR, LocalServer

RELATION = "HYPERNYM"  # as a sync publishes it: the relation is named by its relationship type
REL_TYPE = "HYPERNYM"
SLOT = "vlkge_embedding_a"
GAMMA = 12.0
COLD = "vlkge.predict, first call on the label (reads every embedding)"
PATCH = "vlkge.predict, first call after one embedding changed"
WARM = "vlkge.predict"

PREDICT = ("MATCH (n:{label} {{key: $key}}) CALL vlkge.predict(n, $relation, {{k: $k, targetLabel: $target}}) "
           "YIELD node, score RETURN node.key AS key, score")
# The same rankings in pure Cypher, reading the same properties (relation vector from the run's relation).
CYPHER_DISTMULT = """
MATCH (:VlkgeRun {{run_id: $run}})-[:VLKGE_HAS_RELATION]->(rel:VlkgeRelation {{relation: $relation}})
MATCH (n:{label} {{key: $key}})
WITH n, [i IN range(0, size(rel.vector) - 1) | n.{slot}[i] * rel.vector[i]] AS q
MATCH (t:{label}) WHERE t <> n
WITH t, reduce(s = 0.0, i IN range(0, size(q) - 1) | s + q[i] * t.{slot}[i]) AS score
RETURN t.key AS key, score ORDER BY score DESC LIMIT $k
"""
CYPHER_TRANSE = """
MATCH (:VlkgeRun {{run_id: $run}})-[:VLKGE_HAS_RELATION]->(rel:VlkgeRelation {{relation: $relation}})
MATCH (n:{label} {{key: $key}})
WITH n, rel, sqrt(reduce(s = 0.0, x IN n.{slot} | s + x * x)) AS hn,
     sqrt(reduce(s = 0.0, x IN rel.vector | s + x * x)) AS rn
WITH n, [i IN range(0, size(rel.vector) - 1) | n.{slot}[i] / hn + rel.vector[i] / rn] AS q
MATCH (t:{label}) WHERE t <> n
WITH q, t, sqrt(reduce(s = 0.0, x IN t.{slot} | s + x * x)) AS tn
WITH t, $gamma - reduce(s = 0.0, i IN range(0, size(q) - 1) | s + abs(q[i] - t.{slot}[i] / tn)) AS score
RETURN t.key AS key, score ORDER BY score DESC LIMIT $k
"""


def write_graph(driver, label: str, emb: np.ndarray, runs: dict[str, dict], rel: np.ndarray,
                batch: int = 1000) -> None:
    with driver.session() as session:
        session.run(f"CREATE CONSTRAINT IF NOT EXISTS FOR (n:{label}) REQUIRE n.key IS UNIQUE").consume()
        for start in range(0, len(emb), batch):
            rows = [{"key": i, "e": emb[i].tolist()} for i in range(start, min(start + batch, len(emb)))]
            session.run(f"UNWIND $rows AS row CREATE (n:{label} {{key: row.key}}) "
                        f"SET n.{SLOT} = row.e, n.vlkge_run_id = 'bench'", rows=rows).consume()
        for run_id, props in runs.items():
            session.run("CREATE (r:VlkgeRun) SET r = $props, r.run_id = $run, r.scope = $run, "
                        "r.status = 'published', r.active = false, r.embedding_property = $slot, "
                        "r.entity_labels = [$label] "
                        "CREATE (r)-[:VLKGE_HAS_RELATION]->(:VlkgeRelation {run_id: $run, relation: $relation, "
                        "type: $type, vector: $vector})", props=props, run=run_id, label=label,
                        relation=RELATION, type=REL_TYPE, vector=rel.tolist(), slot=SLOT).consume()


def numpy_topk(backbone: str, emb: np.ndarray, rel: np.ndarray, key: int, k: int) -> list[int]:
    h = emb[key].astype(np.float64)
    cand = emb.astype(np.float64)
    if backbone == "distmult":
        scores = cand @ (h * rel)
    else:
        def unit(x: np.ndarray) -> np.ndarray:
            return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
        scores = GAMMA - np.abs(unit(h) + unit(rel) - unit(cand)).sum(axis=1)
    scores[key] = -np.inf
    return [int(i) for i in np.argsort(-scores, kind="stable")[:k]]


def check(backbone: str, records: list, want: list[int]) -> None:
    got = [r["key"] for r in records]
    if got != want:
        raise SystemExit(f"{backbone}: vlkge.predict top-k {got} != numpy {want}")


def timed(session, query: str, **params) -> tuple[float, list]:
    start = time.perf_counter()
    records = list(session.run(query, **params))
    return (time.perf_counter() - start) * 1000, records


def stats(ms: list[float]) -> tuple[float, float]:
    p95 = float(np.percentile(ms, 95)) if len(ms) > 1 else ms[0]
    return statistics.median(ms), p95


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, default=40_943)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--cypher-repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    console = Console()
    if not any(PROJECT_PLUGIN_DIR.glob("vlkge-procedures*.jar")):
        console.print("the plugin jar is not built: run scripts/build-plugin.sh first")
        return 1
    rng = np.random.default_rng(args.seed)
    emb = rng.normal(0, 0.3, size=(args.entities, args.dim)).astype(np.float32)
    rel = rng.normal(0, 0.3, size=args.dim).astype(np.float32).astype(np.float64)
    label = f"Bench{uuid.uuid4().hex[:8]}"
    runs = {"bench-distmult": {"backbone": "distmult", "dim": args.dim},
            "bench-transe": {"backbone": "transe", "dim": args.dim, "gamma": GAMMA, "p": 1, "normalize": True}}
    results: list[tuple[str, str, int, float, float]] = []
    with tempfile.TemporaryDirectory() as home:
        server = LocalServer(LocalServerConfig(bolt_port=0, http_port=0, heap="2g", pagecache="1g"), home=home)
        state = server.start()
        try:
            with GraphDatabase.driver(state.uri, auth=None) as driver:
                start = time.perf_counter()
                write_graph(driver, label, emb, runs, rel)
                console.print(f"wrote {args.entities:,} nodes x dim {args.dim} in {time.perf_counter() - start:.1f} s")
                with driver.session() as session:
                    if not session.run("SHOW PROCEDURES YIELD name WHERE name = 'vlkge.predict' "
                                       "RETURN count(*) AS n").single()["n"]:
                        console.print("vlkge.predict is not registered: rebuild with scripts/build-plugin.sh")
                        return 1
                    for run_id, props in runs.items():
                        backbone = props["backbone"]
                        session.run("MATCH (r:VlkgeRun) SET r.active = (r.run_id = $run), r.published_at = "
                                    "datetime()", run=run_id).consume()  # the one active run over the label
                        target = f"{label}{backbone.capitalize()}"  # same nodes, a label no call has read yet
                        session.run(f"MATCH (n:{label}) SET n:{target}").consume()
                        keys = [int(x) for x in rng.integers(0, args.entities, size=args.repeat + 5)]
                        predict = PREDICT.format(label=label)
                        params = {"relation": RELATION, "k": args.k, "run": run_id}
                        for key in keys[1:5]:  # warm-up (JIT, query plans) on the base label
                            timed(session, predict, key=key, target=label, **params)
                        cold_ms, records = timed(session, predict, key=keys[0], target=target, **params)
                        check(backbone, records, numpy_topk(backbone, emb, rel, keys[0], args.k))
                        changed = int(keys[0] + 1) % len(emb)  # one entity gets a new embedding
                        emb[changed] = emb[keys[0]] * rel.astype(np.float32) * 10
                        session.run(f"MATCH (n:{label} {{key: $key}}) SET n.{SLOT} = $e",
                                    key=changed, e=emb[changed].tolist()).consume()
                        patch_ms, records = timed(session, predict, key=keys[0], target=target, **params)
                        check(backbone, records, numpy_topk(backbone, emb, rel, keys[0], args.k))
                        ms = [timed(session, predict, key=key, target=target, **params)[0] for key in keys[5:]]
                        results.append((backbone, COLD, 1, cold_ms, cold_ms))
                        results.append((backbone, PATCH, 1, patch_ms, patch_ms))
                        results.append((backbone, WARM, len(ms), *stats(ms)))
                        cypher = CYPHER_DISTMULT if backbone == "distmult" else CYPHER_TRANSE
                        cypher = cypher.format(label=label, slot=SLOT)
                        cms = []
                        for key in keys[: args.cypher_repeat]:
                            elapsed, records = timed(session, cypher, key=key, gamma=GAMMA, **params)
                            want = numpy_topk(backbone, emb, rel, key, args.k)
                            if [r["key"] for r in records] != want:
                                console.print(f"[yellow]{backbone}: Cypher ranking differs from numpy for {key}")
                            cms.append(elapsed)
                        results.append((backbone, "pure Cypher (same ranking)", len(cms), *stats(cms)))
        finally:
            server.stop()
    table = Table(title=f"top-{args.k} link prediction, {args.entities:,} entities x dim {args.dim}")
    for column in ("backbone", "method", "calls", "median ms", "p95 ms"):
        table.add_column(column, justify="right" if column in ("calls", "median ms", "p95 ms") else "left")
    for backbone, method, calls, median, p95 in results:
        table.add_row(backbone, method, str(calls), f"{median:,.1f}", f"{p95:,.1f}")
    console.print(table)
    ok = all(median < 50 for _, method, _, median, _ in results if method == WARM)
    console.print(json.dumps({f"{b}/{m}": {"median_ms": round(md, 2), "p95_ms": round(p, 2)}
                              for b, m, _, md, p in results}))
    console.print(f"goal (median < 50 ms): {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
