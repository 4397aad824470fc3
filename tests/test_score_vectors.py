"""The committed score test vectors (checked by the Java plugin's JUnit tests) match the Python backbones."""

from __future__ import annotations

import json

import pytest
import torch

from vlkge_graph.models import BACKBONES
from vlkge_graph.models.test_vectors import (
    CASES,
    DEFAULT_PATH,
    build_backbone,
    calibration_cases,
    expected_scores,
    generate,
)


@pytest.fixture(scope="module")
def document() -> dict:
    assert DEFAULT_PATH.is_file(), f"{DEFAULT_PATH} is missing: run python -m vlkge_graph.models.test_vectors"
    return json.loads(DEFAULT_PATH.read_text())


def test_vectors_cover_every_backbone_and_variant(document: dict) -> None:
    names = [case["name"] for case in document["cases"]]
    assert names == [name for name, _, _ in CASES]
    assert {case["backbone"] for case in document["cases"]} == set(BACKBONES)
    transe = {(c["p"], c["normalize"]) for c in document["cases"] if c["backbone"] == "transe"}
    assert transe == {(1, True), (1, False), (2, True), (2, False)}
    assert {c["p"] for c in document["cases"] if c["backbone"] == "rotate"} == {1, 2}
    for case in document["cases"]:  # every variant has a reciprocal head query too
        assert len(case["inverse_relation"]) == len(case["relation"])
        assert len(case["reciprocal_head_scores"]) == len(case["heads"])


@pytest.mark.parametrize(("name", "backbone", "options"), CASES)
def test_published_options_are_what_the_plugin_reads(name: str, backbone: str, options: dict) -> None:
    """The plugin builds each case's backbone from ``options`` as it would from a run node, so what publish
    writes on the run node (``published_params``) must be exactly those options."""
    published, relations = BACKBONES[backbone](3, 8, **options).published_params()
    assert published == options, name
    assert relations.shape[0] == 3


@pytest.mark.parametrize("name", [name for name, _, _ in CASES])
def test_committed_scores_match_python_backbones(document: dict, name: str) -> None:
    case = next(c for c in document["cases"] if c["name"] == name)
    width = 2 * case["dim"] if BACKBONES[case["backbone"]].is_complex else case["dim"]
    assert all(len(v) == width for v in case["heads"] + case["tails"])
    fresh = expected_scores(case)
    for key, values in fresh.items():
        assert case[key] == pytest.approx(values, abs=document["tolerance"] / 10), (
            f"{name}.{key} drifted from the Python backbone: regenerate with "
            "python -m vlkge_graph.models.test_vectors and rerun the plugin's JUnit tests")


@pytest.mark.parametrize("name", [name for name, _, _ in CASES])
def test_reciprocal_head_query_is_the_tail_query_with_the_inverse_relation(document: dict, name: str) -> None:
    """What the plugin computes for a reciprocal run's head query: score(t, inverse_vector, h) for every h."""
    case = next(c for c in document["cases"] if c["name"] == name)
    heads = torch.tensor(case["heads"], dtype=torch.float64)
    tail = torch.tensor(case["tails"][0], dtype=torch.float64)
    inverse = build_backbone(case["backbone"], case["dim"], torch.tensor(case["inverse_relation"]), case["options"])
    with torch.no_grad():
        r = inverse.relation(torch.zeros(1, dtype=torch.long))
        scores = inverse.score(tail, r[0], heads).tolist()
    assert case["reciprocal_head_scores"] == pytest.approx(scores, abs=1e-9)
    assert case["reciprocal_head_scores"] != pytest.approx(case["head_scores"], abs=1e-3)  # not the forward one


def test_generator_is_deterministic() -> None:
    assert generate(seed=7, dim=4, count=2) == generate(seed=7, dim=4, count=2)


def test_committed_calibrated_probabilities_match_python(document: dict) -> None:
    """The plugin's relation nodes apply these coefficients: its JUnit test checks the same probabilities."""
    from vlkge_graph.evaluation.calibration import platt

    assert document["calibration"] == calibration_cases()
    for case in document["calibration"]:
        scores = torch.tensor(case["scores"], dtype=torch.float64)
        assert platt(scores, case["a"], case["b"]).tolist() == pytest.approx(case["probabilities"], abs=1e-15)
        assert all(0.0 <= p <= 1.0 for p in case["probabilities"])
