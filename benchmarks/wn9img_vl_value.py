"""Value of the vision-language part on WN9-IMG (issue 3, item 3): VL vs structure-only, same backbone.

1. Transductive: the official split; structure-only ComplEx vs VL-ComplEx with MiniLM features of the
   WordNet glosses (average fusion).
2. Inductive: 10% of the entities (seeded) are held out with all their triples, which appear only in
   test; the model never sees them in training. Structure-only cannot embed them (no structural
   vector); VL embeds them from their gloss. The MRR of ranking the held-out entities is compared.
A fast protocol for 2 CPU cores (1-vs-all cross-entropy, d = 64, 30 epochs), not the paper's 200-epoch
one (training/wn9img-*.yaml). Prints a table; writes the run directories under --output.
Usage: python benchmarks/wn9img_vl_value.py [--epochs 30] [--dim 64] [--output /tmp/wn9img-vl]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch
from common import dataset_or_skip  # benchmarks/common.py
from rich.console import Console
from rich.table import Table

from vlkge_graph.etl.tables import TableSet
from vlkge_graph.snapshot import write_snapshot
from vlkge_graph.training.api import train
from vlkge_graph.training.recipe import parse_recipe


def inductive_split(tables: TableSet, share: float, seed: int) -> tuple[TableSet, set[str]]:
    """Hold out ``share`` of the entities: every triple touching one of them moves to test, and only those."""
    rng = np.random.default_rng(seed)
    ids = tables.entities["id"].to_numpy()
    held = set(rng.choice(ids, size=int(len(ids) * share), replace=False))
    triples = tables.triples.copy()
    touches = triples["head"].isin(held) | triples["tail"].isin(held)
    both = triples["head"].isin(held) & triples["tail"].isin(held)
    triples = triples[~both]  # a triple between two held-out entities has no anchor the model knows
    touches = touches[~both]
    triples.loc[touches, "split"] = "test"
    triples.loc[~touches & (triples["split"] == "test"), "split"] = "train"
    return TableSet(f"{tables.name}-inductive", tables.entities, tables.relations, triples.reset_index(drop=True)), held


def recipe(features: bool, dim: int, epochs: int) -> dict:
    return {"dataset": "unused", "features": {"text": "minilm"} if features else {},
            "model": {"backbone": "complex", "dim": dim, "fusion": "average", "reciprocal": True,
                      "imaginary": "gated" if features else "table"},
            "training": {"mode": "1vsall", "loss": "cross_entropy", "optimizer": "adam", "lr": 0.01,
                         "regularizer": "n3", "regularization_weight": 0.005, "batch_size": 256,
                         "epochs": epochs, "eval_every": 5, "patience": 0, "seed": 42}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--output", default="/tmp/wn9img-vl")
    args = parser.parse_args()
    console = Console()
    tables = dataset_or_skip("wn9-img", console)
    if tables is None:
        return
    out = Path(args.output)
    inductive, held = inductive_split(tables, 0.10, seed=42)
    rows = []
    for setting, data in (("transductive (official split)", tables), ("inductive (10% entities held out)", inductive)):
        snapshot = out / data.name.replace("/", "_") / "snapshot"
        write_snapshot(data, snapshot, source={"benchmark": "wn9img_vl_value"})
        for features in (False, True):
            name = "VL-ComplEx (MiniLM glosses)" if features else "ComplEx (structure only)"
            spec = parse_recipe(recipe(features, args.dim, args.epochs), "wn9img_vl_value")
            start = time.perf_counter()
            metrics = train(spec, dataset=str(snapshot), output=out / data.name / ("vl" if features else "structure"),
                            resume=False, progress=False, console=Console(stderr=True, quiet=True))
            test = metrics["test"]["overall"]
            unseen = metrics["test"].get("groups", {}).get("answer", {}).get("unseen", {})
            rows.append((setting, name, f"{test['mrr']:.3f}", f"{test['hits@10']:.3f}",
                         f"{unseen['mrr']:.4f}" if unseen else "—", str(unseen.get("count", "—")),
                         f"{time.perf_counter() - start:.0f}"))
    table = Table(title=f"WN9-IMG: value of the text modality (ComplEx d={args.dim}, {args.epochs} epochs, CPU, "
                        f"load average {os.getloadavg()[0]:.1f})")
    for column in ("setting", "model", "test MRR", "H@10", "MRR, held-out answers", "held-out queries", "seconds"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(f"{len(held)} held-out entities; test triples in the inductive split: "
                  f"{int((inductive.triples['split'] == 'test').sum())}")


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
