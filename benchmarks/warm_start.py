"""Warm-started retrain vs cold start (issue 11): a graph after some entities' training facts were added.

A (the parent): trained without the training facts of --held seeded entities (the graph before the change;
--new-entities: without those entities at all, as when users add nodes; --parent-unchanged: with them, a control),
one parent per --parent-seeds;
B: cold start on the whole graph (the recipe's seed, and --cold-seeds for the spread);
C: warm start on the whole graph from A (training/warm_start.py), with and without A's optimiser state.
Prints the validation MRR curve summary: each run's best and when it got there, the epochs each run needs to
reach a share of the cold (recipe seed) best and the median of the cold bests, and the test MRR of the model the
run keeps. The goal: the cold best in at most a third of the epochs the cold start needed for it; with seeds, the
median of the cold bests (the bar that does not hang on one trajectory's high point). Then the warm runs against the
cold ones: means, warm minus its own parent, and a bootstrap interval of warm minus cold.
Usage: python benchmarks/warm_start.py [--epochs 30] [--recipe training/kinships-complex.yaml] [--held 5]
       python benchmarks/warm_start.py --combine a.json b.json [--warm-files c.json d.json]  (runs saved by --curves)
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import yaml
from rich.console import Console
from rich.table import Table

from vlkge_graph.etl.readers import read_dataset
from vlkge_graph.etl.tables import TableSet
from vlkge_graph.training.api import fit
from vlkge_graph.training.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[1]
SWITCH = {"on": True, "off": False}


def first_epoch(curve: list[float], level: float) -> str:
    return next((str(i + 1) for i, m in enumerate(curve) if m >= level), f"not in {len(curve)}")


def listed(text: str) -> list[str]:
    return [x for x in text.split(",") if x]


def settings_of(pairs: list[str]) -> dict[str, object]:
    """``["lr=0.03", "batch_size=128"]`` -> ``{"lr": 0.03, "batch_size": 128}`` (values read as YAML)."""
    return {key: yaml.safe_load(value) for key, value in (pair.split("=", 1) for pair in pairs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--recipe", type=Path, default=ROOT / "training" / "kinships-complex.yaml")
    parser.add_argument("--held", type=int, default=5, help="entities whose training facts are added")
    parser.add_argument("--shrink", default="1", help="warm runs' shrink factors, comma-separated (1: plain copy)")
    parser.add_argument("--optimizer-state", default="on,off",
                        help="warm runs with (on) and / or without (off) A's optimiser state, comma-separated")
    parser.add_argument("--cold-seeds", default="", help="more cold starts with these seeds, comma-separated: the "
                        "spread of the cold best (the recipe's seed is the first cold start)")
    parser.add_argument("--warm-seeds", default="", help="more warm starts (each option) with these seeds")
    parser.add_argument("--curves", type=Path, help="write every run's validation MRR per epoch here (JSON)")
    parser.add_argument("--warm-epochs", type=int, help="train the warm runs this many epochs (default: --epochs)")
    parser.add_argument("--parent-epochs", type=int, help="train A this many epochs (default: --epochs)")
    parser.add_argument("--parent-seeds", default="", help="one parent A per seed, comma-separated (default: the "
                        "recipe's seed), each warm-started from: the spread of the parent, as --cold-seeds is the "
                        "spread of the cold start")
    parser.add_argument("--new-entities", action="store_true",
                        help="the held entities are new nodes: A has no row for them (not even an untrained one) "
                        "and none of their facts, in any split")
    parser.add_argument("--parent-unchanged", action="store_true",
                        help="control: A is trained on the whole graph (a retrain with nothing changed)")
    parser.add_argument("--warm-training", action="append", default=[], metavar="KEY=VALUE",
                        help="a training setting for the warm runs only, e.g. lr=0.03 (repeatable)")
    parser.add_argument("--cold-training", action="append", default=[], metavar="KEY=VALUE",
                        help="a training setting for the cold runs only (repeatable)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: steadier on a shared machine)")
    parser.add_argument("--combine", type=Path, nargs="+", metavar="CURVES",
                        help="train nothing: pool the runs of these --curves files (e.g. one per pair of seeds) and "
                        "summarise them")
    parser.add_argument("--warm-files", type=Path, nargs="+", default=[], metavar="CURVES",
                        help="with --combine: take the warm runs from these files instead (e.g. other warm settings "
                        "against the same cold starts)")
    args = parser.parse_args()
    if args.combine:
        combine(args.combine, args.warm_files)
        return
    torch.set_num_threads(args.threads)
    recipe = load_recipe(args.recipe)
    full = read_dataset(recipe.dataset)
    held = set(np.random.default_rng(0).choice(full.entities["id"].to_numpy(), args.held, replace=False))
    t = full.triples
    touching = t["head"].isin(held) | t["tail"].isin(held)
    if args.new_entities:  # new nodes: absent from A, with every fact that touches them
        before = TableSet(full.name, full.entities[~full.entities["id"].isin(held)].reset_index(drop=True),
                          full.relations, t[~touching].reset_index(drop=True))
    else:  # known rows whose training facts are added
        added = touching & (t["split"] == "train")
        before = TableSet(full.name, full.entities, full.relations, t[~added].reset_index(drop=True))
    recipe = replace(recipe, training=replace(recipe.training, epochs=args.epochs, eval_every=1, patience=0))
    quiet = Console(quiet=True)
    curves: dict[str, list[float]] = {}
    tests: dict[str, float] = {}  # test MRR of the model each run keeps (its best validation epoch)
    seed = recipe.training.seed
    parent_seeds = [int(s) for s in listed(args.parent_seeds)] or [seed]
    with tempfile.TemporaryDirectory() as tmp:
        parents = {}  # parent name -> its train directory
        for parent_seed in parent_seeds:
            name = "A" if parent_seed == seed else f"A{parent_seed}"
            parent = replace(recipe, training=replace(recipe.training, epochs=args.parent_epochs or args.epochs,
                                                      seed=parent_seed))
            _, report_a = fit(parent, tables=full if args.parent_unchanged else before, output=Path(tmp) / name,
                              resume=False, progress=False, console=quiet)
            seeded = "" if parent_seed == seed else f", seed {parent_seed}"
            curves[f"{name} (the parent{seeded}; its own validation)"] = [h["valid_mrr"] for h in report_a["history"]]
            parents[name] = Path(tmp) / name
        cold = [("cold start", None, 1.0, True, seed),
                *((f"cold start, seed {s}", None, 1.0, True, int(s)) for s in listed(args.cold_seeds))]
        warm = [(f"warm from {a}{'' if x == '1' else f', shrink {x}'}, optimiser state {o}"
                 f"{'' if s == seed else f', seed {s}'}", source, float(x), SWITCH[o], s)
                for a, source in parents.items()
                for s in [seed, *map(int, listed(args.warm_seeds))] for x in listed(args.shrink)
                for o in listed(args.optimizer_state)]
        for name, source, shrink, carry, run_seed in [*cold, *warm]:
            settings = settings_of(args.cold_training if source is None else args.warm_training)
            if source is not None and args.warm_epochs:
                settings.setdefault("epochs", args.warm_epochs)
            run_recipe = replace(recipe, training=replace(recipe.training, seed=run_seed, **settings))
            run, report = fit(run_recipe, tables=full, output=Path(tmp) / name, resume=False, progress=False,
                              console=quiet, warm_from=source, warm_shrink=shrink, warm_optimizer=carry)
            curves[name] = [h["valid_mrr"] for h in report["history"]]
            tests[name] = run.evaluate("test").summary()["mrr"]
    if args.curves:
        args.curves.write_text(json.dumps({"valid_mrr": curves, "test_mrr": tests}, indent=1), encoding="utf-8")
    title = f"{full.name}, {args.recipe.name}, {args.held} entities' facts added, {args.epochs} epochs, validation MRR"
    summarise(curves, tests, [name for name, *_ in cold], [name for name, *_ in warm], title)


def summarise(curves: dict[str, list[float]], tests: dict[str, float], cold: list[str], warm: list[str],
              title: str) -> None:
    """Print every run's curve summary, then the warm runs against the cold ones: medians and means of the
    best validation MRR, how many warm runs are on time, warm minus its own parent, and a bootstrap interval."""
    cold_curves = [curves[name] for name in cold]
    best = max(curves["cold start"]) if "cold start" in curves else max(max(c) for c in cold_curves)
    median = statistics.median(max(c) for c in cold_curves)
    median_epoch = statistics.median(c.index(max(c)) + 1 for c in cold_curves)
    table = Table(title=title)
    for column in ("run", "epoch 1", "best (epoch)", "epochs to 95% of cold best", "to 98%", "to cold best",
                   "to median cold best", "test MRR of the kept model"):
        table.add_column(column)
    for name, curve in curves.items():
        top = max(curve)
        table.add_row(name, f"{curve[0]:.3f}", f"{top:.3f} ({curve.index(top) + 1})",
                      *(first_epoch(curve, share * best) for share in (0.95, 0.98, 1.0)), first_epoch(curve, median),
                      f"{tests[name]:.3f}" if name in tests else "")
    console = Console(width=160)
    console.print(table)
    warm_bests = [max(curves[name]) for name in warm]
    cold_bests = [max(c) for c in cold_curves]
    third = int(median_epoch / 3)
    on_time = sum(max(curves[name][:third], default=0.0) >= median for name in warm)
    def spread(values: list[float]) -> str:
        return f"{statistics.median(values):.4f} (mean {statistics.mean(values):.4f})"

    console.print(f"best valid MRR, median: warm {spread(warm_bests)}, cold {spread(cold_bests)}; {on_time} of "
                  f"{len(warm)} warm runs reach the median cold best by epoch {third}, a third of the cold runs' "
                  f"median epoch {median_epoch:g}")
    console.print(f"test MRR of the kept models, median: warm {spread([tests[n] for n in warm])}, "
                  f"cold {spread([tests[n] for n in cold])}")
    own = [max(curves[name]) - max(curves[parent]) for name in warm if (parent := parent_of(name, curves))]
    if own:
        console.print(f"warm minus its own parent (its own validation best), mean: {statistics.mean(own):+.4f}")
    rng = np.random.default_rng(0)
    draws = [rng.choice(warm_bests, len(warm_bests)).mean() - rng.choice(cold_bests, len(cold_bests)).mean()
             for _ in range(20_000)]
    low, high = np.quantile(draws, [0.025, 0.975])
    console.print(f"warm minus cold, mean best: {statistics.mean(warm_bests) - statistics.mean(cold_bests):+.4f} "
                  f"(95% bootstrap interval over runs {low:+.4f} to {high:+.4f})")
    console.print(f"goal: the cold best {best:.3f} by a third of its epoch; the median of the {len(cold_curves)} cold "
                  f"bests {median:.3f} (median epoch {median_epoch:g}) by epoch {median_epoch / 3:.1f}")


def parent_of(warm: str, curves: dict[str, list[float]]) -> str | None:
    """``warm from A4, ...`` -> the curve name of parent ``A4``."""
    parent = warm.removeprefix("warm from ").split(",")[0]
    return next((name for name in curves if name.split(" ")[0] == parent), None)


def combine(files: list[Path], warm_files: list[Path]) -> None:
    """Pool the runs of several ``--curves`` files (runs of the same name must agree): cold starts and parents
    from ``files``, warm runs from ``warm_files`` (default: ``files``), then summarise them."""
    curves: dict[str, list[float]] = {}
    tests: dict[str, float] = {}
    warm: list[str] = []
    warm_from = warm_files or files
    paths = list(dict.fromkeys([*files, *warm_files]))
    for path in paths:
        data = json.loads(path.read_text(encoding="utf-8"))
        for name, curve in data["valid_mrr"].items():
            is_warm = name.startswith("warm from")
            if is_warm and path not in warm_from:
                continue
            if name in curves and curves[name] != curve:
                raise SystemExit(f"{path}: run {name!r} differs from the one of an earlier file (other settings?)")
            curves[name] = curve
            if name in data["test_mrr"]:
                tests[name] = data["test_mrr"][name]
            if is_warm and name not in warm:
                warm.append(name)
    cold = [name for name in curves if name.startswith("cold start")]
    summarise(curves, tests, cold, warm, f"{', '.join(p.name for p in paths)}: validation MRR")


if __name__ == "__main__":
    main()
