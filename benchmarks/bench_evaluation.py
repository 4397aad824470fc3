"""Full filtered evaluation of the WN18RR test set: vlkge-graph's evaluator vs PyKEEN 1.11.1.

Both rank the same random DistMult embeddings (dim 128) over all 40,943 entities, heads and tails,
filtering train + valid + test; the table shows seconds, test triples/s, speedup and whether MRRs agree.

    python benchmarks/bench_evaluation.py [--dim 128] [--device cpu|cuda] [--pykeen-batch 256 ...]
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from vlkge_graph.evaluation import FilterIndex, rank_queries

DATASET = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "wn18rr"


def load_wn18rr(folder: Path) -> tuple[dict[str, torch.Tensor], int, int]:
    """Id-mapped train/valid/test tensors (entities and relations numbered in sorted order)."""
    rows = {s: [ln.split("\t") for ln in (folder / f"{s}.txt").read_text().splitlines() if ln.strip()]
            for s in ("train", "valid", "test")}
    entities = sorted({x for split in rows.values() for h, _, t in split for x in (h, t)})
    relations = sorted({r for split in rows.values() for _, r, _ in split})
    e_id = {e: i for i, e in enumerate(entities)}
    r_id = {r: i for i, r in enumerate(relations)}
    splits = {s: torch.tensor([[e_id[h], r_id[r], e_id[t]] for h, r, t in v]) for s, v in rows.items()}
    return splits, len(entities), len(relations)


def distmult_scorer(entities: torch.Tensor, relations: torch.Tensor):
    """score_fn of DistMult: <h, r, t> for every entity as the replaced head or tail."""

    def score(queries: torch.Tensor, direction: str) -> torch.Tensor:
        h, r, t = queries.unbind(1)
        given = entities[h] if direction == "tail" else entities[t]
        return (given * relations[r]) @ entities.T

    return score


def run_ours(splits, num_entities, num_relations, ent, rel, device) -> tuple[float, float]:
    start = time.perf_counter()
    index = FilterIndex.from_triples(list(splits.values()), num_entities, num_relations)
    result = rank_queries(distmult_scorer(ent, rel), splits["test"], index, device=device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, result.summary()["mrr"]


def run_pykeen(splits, num_entities, num_relations, ent, rel, device, batch_size) -> tuple[float, float]:
    from pykeen.evaluation import RankBasedEvaluator
    from pykeen.models import DistMult
    from pykeen.triples import CoreTriplesFactory

    factory = CoreTriplesFactory.create(splits["train"], num_entities=num_entities,
                                        num_relations=num_relations)
    model = DistMult(triples_factory=factory, embedding_dim=ent.shape[1], random_seed=0).to(device)
    with torch.no_grad():
        model.entity_representations[0]._embeddings.weight.copy_(ent)
        model.relation_representations[0]._embeddings.weight.copy_(rel)
    evaluator = RankBasedEvaluator(filtered=True)
    start = time.perf_counter()
    results = evaluator.evaluate(model, splits["test"].to(device),
                                 additional_filter_triples=[splits["train"], splits["valid"]],
                                 batch_size=batch_size, use_tqdm=False, device=device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, results.get_metric("both.realistic.inverse_harmonic_mean_rank")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DATASET.resolve())
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--pykeen-batch", type=int, nargs="+", default=[256],
                        help="PyKEEN evaluation batch size(s); the fastest is compared")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    console = Console()
    logging.getLogger("torch_max_mem").setLevel(logging.ERROR)  # PyKEEN's "CPU is not safe" notice
    if not (args.dataset / "test.txt").exists():
        console.print(f"[yellow]skipped: WN18RR not found at {args.dataset}")
        return

    device = torch.device(args.device)
    splits, num_entities, num_relations = load_wn18rr(args.dataset)
    gen = torch.Generator().manual_seed(0)
    ent = torch.randn(num_entities, args.dim, generator=gen).to(device)
    rel = torch.randn(num_relations, args.dim, generator=gen).to(device)
    triples = len(splits["test"])
    console.print(f"WN18RR: {num_entities:,} entities, {triples:,} test triples ranked as head and tail, "
                  f"DistMult dim {args.dim}, device {device}, torch threads {torch.get_num_threads()}")

    ours = min((run_ours(splits, num_entities, num_relations, ent, rel, device)
                for _ in range(args.repeats)), key=lambda x: x[0])
    theirs = {b: min((run_pykeen(splits, num_entities, num_relations, ent, rel, device, b)
                      for _ in range(args.repeats)), key=lambda x: x[0]) for b in args.pykeen_batch}
    best = min(theirs, key=lambda b: theirs[b][0])

    table = Table(title="Filtered evaluation, WN18RR test (both directions)")
    for col in ("evaluator", "seconds", "triples/s", "speedup", "MRR (realistic)"):
        table.add_column(col, justify="left" if col == "evaluator" else "right")
    for b, (sec, mrr) in theirs.items():
        table.add_row(f"PyKEEN 1.11.1 (batch {b})", f"{sec:.2f}", f"{triples / sec:,.0f}",
                      f"{theirs[best][0] / sec:.2f}x", f"{mrr:.6f}")
    table.add_row("vlkge-graph", f"{ours[0]:.2f}", f"{triples / ours[0]:,.0f}",
                  f"{theirs[best][0] / ours[0]:.2f}x", f"{ours[1]:.6f}", style="bold")
    console.print(table)
    agree = abs(ours[1] - theirs[best][1]) <= 1e-5 * max(1e-12, abs(theirs[best][1]))
    console.print(f"MRRs agree: {agree} (|diff| = {abs(ours[1] - theirs[best][1]):.2e})")


if __name__ == "__main__":
    main()
