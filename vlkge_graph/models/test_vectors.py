"""Shared score test vectors: inputs and expected scores of every backbone, for the Java plugin's tests.

The ``vlkge.*`` procedures (``cypher/procedures``) re-implement the four scoring functions in Java. This
module writes one JSON file of seeded random inputs and the scores the real Python backbones give them;
the JUnit tests check the Java scorer against it, and ``tests/test_score_vectors.py`` checks the committed
file still matches the Python backbones, so the two sides stay in step. Regenerate after a formula change:

    python -m vlkge_graph.models.test_vectors [--output PATH] [--check]

Vectors are stored as the graph stores them (docs/graph-model.md): entity vectors ``dim`` wide, or
``[real | imaginary]`` ``2 * dim`` wide for ComplEx/RotatE; relation vectors are the backbone's
parameters (RotatE: ``dim`` phases in radians). Each case also has an ``inverse_relation`` (a reciprocal
run's ``inverse_vector``) and the head-query scores a reciprocal ``KGEModel`` gives with it. Inputs are
float32 values (what the graph holds after a publish); scores are computed in float64 by the backbones.
``calibration`` holds probabilities ``sigmoid(a * score + b)`` (evaluation/calibration.py) of fixed scores
under a few Platt coefficients, which the plugin's relation nodes apply.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

from vlkge_graph.etl.sources import PROJECT_ROOT
from vlkge_graph.models import BACKBONES, Backbone, KGEModel, build_model

#: Where the JUnit tests read the vectors from.
DEFAULT_PATH = PROJECT_ROOT / "cypher" / "procedures" / "src" / "test" / "resources" / "score_vectors.json"
SEED = 20_240_917
#: Java must reproduce every expected score within this absolute tolerance.
TOLERANCE = 1e-4
FORMAT_VERSION = 3
#: (a, b) Platt coefficients whose probabilities of :data:`CALIBRATION_SCORES` both languages must agree on.
CALIBRATION_CASES = [(1.0, 0.0), (0.8, -2.5), (1.7, -9.25), (0.0, -6.2), (0.05, 3.0)]
CALIBRATION_SCORES = [-40.0, -7.5, -1.0, 0.0, 0.3333, 2.5, 5.933, 12.0, 60.0]

#: (name, backbone, options): every variant the plugin must score (TransE p=1/2 x normalize, RotatE p=1/2).
CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("transe_p1_normalized", "transe", {"p": 1, "gamma": 12.0, "normalize": True}),
    ("transe_p1_raw", "transe", {"p": 1, "gamma": 12.0, "normalize": False}),
    ("transe_p2_normalized", "transe", {"p": 2, "gamma": 9.5, "normalize": True}),
    ("transe_p2_raw", "transe", {"p": 2, "gamma": 9.5, "normalize": False}),
    ("distmult", "distmult", {}),
    ("complex", "complex", {}),
    ("rotate_p1", "rotate", {"p": 1, "gamma": 12.0}),
    ("rotate_p2", "rotate", {"p": 2, "gamma": 6.0}),
]


def build_backbone(backbone: str, dim: int, relation_vector: torch.Tensor, options: dict[str, Any]) -> Backbone:
    """A float64 backbone with one relation whose parameter is ``relation_vector`` (as the graph stores it)."""
    model = BACKBONES[backbone](1, dim, **options).double()
    with torch.no_grad():
        model.relations.weight.copy_(relation_vector.to(torch.float64)[None])
    return model


def build_reciprocal(case: dict[str, Any], entity: torch.Tensor) -> KGEModel:
    """A float64 reciprocal KGEModel with one entity (``entity``) and one relation whose forward and inverse
    parameters are the case's ``relation`` and ``inverse_relation``."""
    dim = case["dim"]
    model = build_model(case["backbone"], 1, 1, dim, reciprocal=True, backbone_options=case["options"]).double()
    with torch.no_grad():
        model.entities.structure.weight.copy_(entity[None, :dim])
        if model.entities.imaginary is not None:
            model.entities.imaginary.weight.copy_(entity[None, dim:])
        model.backbone.relations.weight.copy_(
            torch.tensor([case["relation"], case["inverse_relation"]], dtype=torch.float64))
    return model.eval()


def expected_scores(case: dict[str, Any]) -> dict[str, list[float]]:
    """Triple scores, one head against every tail, and every head against one tail, from the backbone; and
    every head against one tail from a reciprocal KGEModel (the head query scored with the inverse relation)."""
    heads = torch.tensor(case["heads"], dtype=torch.float64)
    tails = torch.tensor(case["tails"], dtype=torch.float64)
    model = build_backbone(case["backbone"], case["dim"], torch.tensor(case["relation"]), case["options"])
    reciprocal = build_reciprocal(case, tails[0])
    with torch.no_grad():
        r = model.relation(torch.zeros(1, dtype=torch.long))
        head_query = torch.zeros(1, 3, dtype=torch.long)  # (?, relation 0, entity 0 = tails[0])
        return {
            "scores": model.score(heads, r, tails).tolist(),
            "tail_scores": model.score_tails(heads[:1], r, tails)[0].tolist(),
            "head_scores": model.score_heads(heads, r, tails[:1])[0].tolist(),
            "reciprocal_head_scores": reciprocal.score_queries(head_query, "head", heads)[0].tolist(),
        }


def _float32_list(x: torch.Tensor) -> list[Any]:
    return x.to(torch.float32).to(torch.float64).tolist()


def generate(seed: int = SEED, dim: int = 16, count: int = 6) -> dict[str, Any]:
    """The whole test-vector document (deterministic for a given seed and torch version)."""
    gen = torch.Generator().manual_seed(seed)
    inverse_gen = torch.Generator().manual_seed(seed + 1)  # its own stream: the other inputs stay as they were
    cases = []
    for name, backbone, options in CASES:
        cls = BACKBONES[backbone]
        width = 2 * dim if cls.is_complex else dim
        heads = torch.randn(count, width, generator=gen)
        tails = torch.randn(count, width, generator=gen)
        if backbone == "transe":
            heads[-1] = 0.0  # L2 normalisation of a zero vector: F.normalize's eps path
        if backbone == "rotate":
            relation = (torch.rand(dim, generator=gen) * 2 - 1) * torch.pi
            inverse = (torch.rand(dim, generator=inverse_gen) * 2 - 1) * torch.pi
        else:
            relation = torch.randn(width, generator=gen) * 0.5
            inverse = torch.randn(width, generator=inverse_gen) * 0.5
        case: dict[str, Any] = {
            "name": name, "backbone": backbone, "dim": dim, "options": options,
            "gamma": options.get("gamma", 0.0), "p": options.get("p", 2),
            "normalize": options.get("normalize", False),
            "relation": _float32_list(relation), "inverse_relation": _float32_list(inverse),
            "heads": _float32_list(heads), "tails": _float32_list(tails),
        }
        case.update(expected_scores(case))
        cases.append(case)
    return {
        "format": FORMAT_VERSION,
        "generator": "python -m vlkge_graph.models.test_vectors",
        "seed": seed,
        "tolerance": TOLERANCE,
        "description": ("scores[i] = score(heads[i], relation, tails[i]); tail_scores[j] = score(heads[0], "
                        "relation, tails[j]); head_scores[j] = score(heads[j], relation, tails[0]); "
                        "reciprocal_head_scores[j] = a reciprocal KGEModel's head query (?, relation, tails[0]) "
                        "for heads[j] = score(tails[0], inverse_relation, heads[j])"),
        "cases": cases,
        "calibration": calibration_cases(),
    }


def calibration_cases() -> list[dict[str, Any]]:
    """Probabilities of fixed scores under fixed Platt coefficients (float64), as publish computes them."""
    from vlkge_graph.evaluation.calibration import platt

    scores = torch.tensor(CALIBRATION_SCORES, dtype=torch.float64)
    return [{"a": a, "b": b, "scores": CALIBRATION_SCORES, "probabilities": platt(scores, a, b).tolist()}
            for a, b in CALIBRATION_CASES]


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the shared backbone score test vectors (JSON).")
    parser.add_argument("--output", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if the file's expected scores no longer match the backbones")
    args = parser.parse_args(argv)
    if args.check:
        document = json.loads(args.output.read_text())
        worst = max(abs(a - b) for case in document["cases"] for key, values in expected_scores(case).items()
                    for a, b in zip(values, case[key], strict=True))
        print(f"{args.output}: largest difference {worst:.3g} (tolerance {document['tolerance']})")
        return 0 if worst <= document["tolerance"] else 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(dumps(generate(args.seed)))
    print(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
