"""New entities embedded from their features alone (issue 12): one table for the inductive benchmarks.

1. WN18RR-ind (BLP's inductive split, ../shared/datasets/wn18rr-ind): a training recipe (default
   training/wn18rr-ind-complex.yaml, frozen MiniLM of each synset's "name: gloss" and of its name alone)
   under BLP's protocol (evaluation.protocol inductive), next to BLP's published test MRR (BLP-TransE .285,
   BLP-ComplEx .261, BLP-DistMult .248, BE-BOW .180; these fine-tune BERT or train word embeddings, on a GPU).
2. WN9-IMG, 10% of the entities held out (benchmarks/wn9img_vl_value.py's split and fast protocol):
   the MRR of queries whose answer is a held-out entity, for the paper's VL model and with the
   features-only path trained (structure dropout).
3. WN9-IMG transductive (official split), the same two models: the gain on new entities must not cost
   the transductive quality.
Usage: python benchmarks/inductive.py [--recipe training/wn18rr-ind-complex.yaml] [--epochs N]
       [--set model.backbone=transe ...] [--skip wn18rr|wn9] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import replace
from pathlib import Path

import torch
import yaml
from rich.console import Console
from rich.table import Table
from wn9img_vl_value import inductive_split, recipe

from vlkge_graph.errors import SourceMissingError
from vlkge_graph.etl.readers import read_dataset
from vlkge_graph.strict import read_yaml
from vlkge_graph.training.api import fit, model_features
from vlkge_graph.training.recipe import Recipe, parse_recipe

ROOT = Path(__file__).resolve().parents[1]
#: Test MRR on the WN18RR inductive split as ../shared/datasets/README.md quotes the BLP README (H@k: not
#: quoted there).
PUBLISHED = [("BLP-TransE (fine-tuned BERT)", .285, None, None, None),
             ("BLP-ComplEx (fine-tuned BERT)", .261, None, None, None),
             ("BLP-DistMult (fine-tuned BERT)", .248, None, None, None),
             ("BE-BOW (GloVe bag of words)", .180, None, None, None)]
#: WN9-IMG variants (model, training overrides): wn9img_vl_value.py's VL model as it is, and the same with
#: the features-only path trained (training/wn9img-ind-complex.yaml).
WN9_VARIANTS = {"VL-ComplEx (paper's fusion)": ({}, {}),
                "VL-ComplEx + structure dropout 0.5": ({"structure_dropout": 0.5}, {"candidates": "seen"})}

Row = tuple[str, str, str, str, str, str, str, str]


def hardware() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU {platform.machine()}, {torch.get_num_threads()} threads, load {os.getloadavg()[0]:.1f}"


def fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def run(spec: Recipe, tables, what: str) -> tuple[dict, dict, float]:
    """Fit ``spec`` on ``tables``; the test split's overall metrics and groups, and the seconds taken."""
    features = model_features(tables, spec, torch.device("cpu"), progress=False)
    start = time.perf_counter()
    trained, _ = fit(spec, tables=tables, features=features, progress=False, console=Console(stderr=True))
    result = trained.evaluate("test")
    data = result.to_dict(trained.groups(result))
    Console(stderr=True).print(f"{what}: test MRR {data['overall']['mrr']:.4f}")
    return data["overall"], data.get("groups", {}), time.perf_counter() - start


def with_overrides(recipe_path: str, overrides: list[str]) -> Recipe:
    """The recipe file with ``section.key=value`` overrides (values read as YAML), validated as a whole."""
    data = read_yaml(Path(recipe_path))
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item!r}: expected KEY=VALUE, e.g. model.structure_dropout=0.25")
        *sections, last = key.split(".")
        node = data
        for section in sections:
            node = node.setdefault(section, {})
        node[last] = yaml.safe_load(value)
    spec = parse_recipe(data, recipe_path)
    return spec if spec.name else replace(spec, name=Path(recipe_path).stem)


def wn18rr_rows(recipe_path: str, epochs: int | None, overrides: list[str]) -> list[Row]:
    spec = with_overrides(recipe_path, overrides)
    if epochs:
        spec = replace(spec, training=replace(spec.training, epochs=epochs))
    try:
        tables = read_dataset(spec.dataset)
    except SourceMissingError as exc:
        return [("WN18RR-ind", f"skipped: {exc}", "", "", "", "", "", "")]
    overall, groups, seconds = run(spec, tables, "WN18RR-ind")
    changed = f", {' '.join(overrides)}" if overrides else ""
    rows: list[Row] = [("WN18RR-ind test", f"this project: {spec.name}{changed} ({spec.training.epochs} epochs)",
                        fmt(overall["mrr"]), fmt(overall["hits@1"]), fmt(overall["hits@3"]),
                        fmt(overall["hits@10"]), f"{seconds:.0f}", hardware())]
    for ends, metrics in groups.get("unseen ends", {}).items():
        rows.append(("WN18RR-ind test", f"  of which {ends} unseen end(s): {metrics['count']} queries",
                     fmt(metrics["mrr"]), fmt(metrics["hits@1"]), fmt(metrics["hits@3"]),
                     fmt(metrics["hits@10"]), "", ""))
    rows += [("WN18RR-ind test", f"published: {name}", fmt(m), fmt(h1), fmt(h3), fmt(h10), "", "BLP README (GPU)")
             for name, m, h1, h3, h10 in PUBLISHED]
    return rows


def wn9_rows(epochs: int, dim: int) -> list[Row]:
    try:
        tables = read_dataset("wn9-img")
    except SourceMissingError as exc:
        return [("WN9-IMG", f"skipped: {exc}", "", "", "", "", "", "")]
    inductive, _ = inductive_split(tables, 0.10, seed=42)
    rows: list[Row] = []
    for setting, data in (("WN9-IMG inductive, held-out answers", inductive),
                          ("WN9-IMG transductive test", tables)):
        for name, (model, training) in WN9_VARIANTS.items():
            base = recipe(True, dim, epochs)
            base["model"].update(model)
            base["training"].update(training)
            base["evaluation"] = {"protocol": "inductive"}
            spec = parse_recipe(base, "benchmarks/inductive.py")
            overall, groups, seconds = run(spec, data, f"{setting}, {name}")
            metrics = groups["answer"].get("unseen", overall) if "inductive" in setting else overall
            rows.append((setting, f"{name}, d={dim}, {epochs} epochs", fmt(metrics["mrr"], 4),
                         fmt(metrics["hits@1"]), fmt(metrics["hits@3"]), fmt(metrics["hits@10"]),
                         f"{seconds:.0f}", hardware()))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default=str(ROOT / "training" / "wn18rr-ind-complex.yaml"))
    parser.add_argument("--epochs", type=int, default=None, help="override the WN18RR-ind recipe's epochs")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a WN18RR-ind recipe key, e.g. --set model.structure=false (repeatable)")
    parser.add_argument("--wn9-epochs", type=int, default=30)
    parser.add_argument("--wn9-dim", type=int, default=64)
    parser.add_argument("--skip", choices=["wn18rr", "wn9"], action="append", default=[])
    parser.add_argument("--threads", type=int, default=2,
                        help="torch threads (1 on a CPU shared with other work: spinning threads cost more)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows: list[Row] = []
    if "wn18rr" not in args.skip:
        rows += wn18rr_rows(args.recipe, args.epochs, args.overrides)
    if "wn9" not in args.skip:
        rows += wn9_rows(args.wn9_epochs, args.wn9_dim)
    table = Table(title="Entities embedded from their features alone (filtered, both directions)")
    for column in ("benchmark", "model", "MRR", "H@1", "H@3", "H@10", "seconds", "hardware"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
