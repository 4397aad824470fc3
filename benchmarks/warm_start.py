"""Warm-started retrain vs cold start (issue 11): a graph after some entities' training facts were added.

A: trained without the training facts of --held seeded entities (the graph before the change);
B: cold start on the whole graph; C: warm start on the whole graph from A (training/warm_start.py).
Prints the validation MRR curve summary: the cold run's best and when it got there, and the epochs each
run needs to reach a share of that best.
Usage: python benchmarks/warm_start.py [--epochs 30] [--recipe training/kinships-complex.yaml] [--held 5]
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from vlkge_graph.etl.readers import read_dataset
from vlkge_graph.etl.tables import TableSet
from vlkge_graph.training.api import fit
from vlkge_graph.training.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[1]


def first_epoch(curve: list[float], level: float) -> str:
    return next((str(i + 1) for i, m in enumerate(curve) if m >= level), f"not in {len(curve)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--recipe", type=Path, default=ROOT / "training" / "kinships-complex.yaml")
    parser.add_argument("--held", type=int, default=5, help="entities whose training facts are added")
    parser.add_argument("--shrink", default="1", help="warm runs' shrink factors, comma-separated (1: plain copy)")
    parser.add_argument("--cold-seeds", default="", help="more cold starts with these seeds, comma-separated: the "
                        "spread of the cold best (the recipe's seed is the first cold start)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # steadier on a shared machine
    recipe = load_recipe(args.recipe)
    full = read_dataset(recipe.dataset)
    held = set(np.random.default_rng(0).choice(full.entities["id"].to_numpy(), args.held, replace=False))
    t = full.triples
    added = (t["head"].isin(held) | t["tail"].isin(held)) & (t["split"] == "train")
    before = TableSet(full.name, full.entities, full.relations, t[~added].reset_index(drop=True))
    recipe = replace(recipe, training=replace(recipe.training, epochs=args.epochs, eval_every=1, patience=0))
    quiet = Console(quiet=True)
    curves = {}
    with tempfile.TemporaryDirectory() as tmp:
        fit(recipe, tables=before, output=Path(tmp) / "A", resume=False, progress=False, console=quiet)
        seed = recipe.training.seed
        runs = [("cold start", None, 1.0, seed),
                *((f"cold start, seed {s}", None, 1.0, int(s)) for s in args.cold_seeds.split(",") if s),
                *((f"warm start from A, shrink {x}", Path(tmp) / "A", float(x), seed) for x in args.shrink.split(","))]
        for name, warm, shrink, seed in runs:
            run_recipe = replace(recipe, training=replace(recipe.training, seed=seed))
            _, report = fit(run_recipe, tables=full, output=Path(tmp) / name, resume=False, progress=False,
                            console=quiet, warm_from=warm, warm_shrink=shrink)
            curves[name] = [h["valid_mrr"] for h in report["history"]]
    best = max(curves["cold start"])
    table = Table(title=f"{full.name}, {args.recipe.name}, {args.held} entities' facts added, {args.epochs} epochs, "
                        "validation MRR")
    for column in ("run", "epoch 1", "best (epoch)", "epochs to 95% of cold best", "to 98%", "to cold best"):
        table.add_column(column)
    for name, curve in curves.items():
        top = max(curve)
        table.add_row(name, f"{curve[0]:.3f}", f"{top:.3f} ({curve.index(top) + 1})",
                      *(first_epoch(curve, share * best) for share in (0.95, 0.98, 1.0)))
    Console(width=140).print(table)


if __name__ == "__main__":
    main()
