"""Platt calibration (evaluation/calibration.py) on synthetic scores with a known logistic relation."""

from __future__ import annotations

import math

import pytest
import torch

from vlkge_graph.evaluation.calibration import (
    ScoredPairs,
    calibrate,
    calibration_metrics,
    fit_platt,
    platt,
    reliability,
    scored_pairs,
)
from vlkge_graph.evaluation.index import FilterIndex


def logistic_pairs(n: int, a: float, b: float, seed: int, relations: int = 1) -> ScoredPairs:
    """Scores ~ N(0, 2) whose true label frequency is sigmoid(a * score + b), in both directions."""
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randn(n, generator=gen, dtype=torch.float64) * 2
    labels = torch.rand(n, generator=gen, dtype=torch.float64) < platt(scores, a, b)
    return ScoredPairs(scores, labels, torch.ones(n, dtype=torch.float64),
                       torch.randint(relations, (n,), generator=gen), torch.randint(2, (n,), generator=gen))


def test_fit_recovers_a_known_logistic_relation() -> None:
    pairs = logistic_pairs(200_000, 1.5, -2.0, seed=1)
    a, b = fit_platt(pairs.scores, pairs.labels, pairs.weights)
    assert a == pytest.approx(1.5, abs=0.05) and b == pytest.approx(-2.0, abs=0.05)
    again = fit_platt(pairs.scores, pairs.labels, pairs.weights)
    assert again == (a, b)  # deterministic


def test_weighted_negative_sample_stands_for_all_negatives() -> None:
    """Keeping a tenth of the negatives with weight 10 estimates the same relation and base rate."""
    pairs = logistic_pairs(400_000, 1.0, -4.0, seed=2)
    keep = pairs.labels | (torch.arange(len(pairs.scores)) % 10 == 0)
    weights = torch.where(pairs.labels, 1.0, 10.0).double()
    sampled = ScoredPairs(pairs.scores[keep], pairs.labels[keep], weights[keep], pairs.relations[keep],
                          pairs.directions[keep])
    a, b = fit_platt(sampled.scores, sampled.labels, sampled.weights)
    assert a == pytest.approx(1.0, abs=0.05) and b == pytest.approx(-4.0, abs=0.1)
    _, unweighted_b = fit_platt(sampled.scores, sampled.labels, torch.ones_like(sampled.weights))
    assert unweighted_b > b + 2  # without the weights the base rate (and b) would be ~10x too high
    truth = float(pairs.labels.double().mean())
    assert calibrate(sampled, ["r"]).base_rate == pytest.approx(truth, rel=0.05)


def test_calibrated_probabilities_have_lower_ece_on_held_out_pairs() -> None:
    fitted = calibrate(logistic_pairs(100_000, 0.5, -3.0, seed=3), ["r"])
    held_out = logistic_pairs(100_000, 0.5, -3.0, seed=4)
    metrics = calibration_metrics(fitted, held_out, ["r"])
    print({k: v for k, v in metrics.items() if k != "bins"})
    assert metrics["ece"] < 0.01 < metrics["ece_uncalibrated"]
    assert metrics["brier"] < metrics["brier_uncalibrated"]
    assert sum(row["weight"] for row in metrics["bins"]) == pytest.approx(1.0)
    assert all(row["lo"] <= row["mean_predicted"] <= row["hi"] for row in metrics["bins"])


def test_few_positives_fall_back_to_the_pooled_fit_and_a_is_never_negative() -> None:
    pairs = logistic_pairs(50_000, 1.0, -1.0, seed=5, relations=2)
    rare = (pairs.relations == 1) & pairs.labels
    keep = ~rare | (torch.cumsum(rare.long(), 0) <= 10)  # relation 1 keeps 10 positives over both directions
    fitted = calibrate(pairs.select(keep), ["common", "rare"])
    for direction in ("tail", "head"):
        common, rare_fit = fitted.relations["common"][direction], fitted.relations["rare"][direction]
        assert not common.pooled and common.positives >= 20 and common.a == pytest.approx(1.0, abs=0.1)
        assert rare_fit.pooled and rare_fit.positives < 20 and rare_fit.a > 0
    inverted = logistic_pairs(20_000, -1.0, -1.0, seed=6)  # higher scores less likely true
    flat = calibrate(inverted, ["r"]).relations["r"]["tail"]
    rate = float(inverted.labels[inverted.directions == 1].double().mean())
    assert flat.a == 0.0 and flat.b == pytest.approx(math.log(rate / (1 - rate)))


def test_scored_pairs_weigh_sampled_corruptions_as_all_filtered_ones() -> None:
    """Every query's weights sum to 1 + its filtered corruptions, sampled or not; known answers never appear
    as negatives."""
    n = 400
    table = torch.randn(n, n, generator=torch.Generator().manual_seed(7))

    def score_fn(queries: torch.Tensor, direction: str) -> torch.Tensor:
        return table[queries[:, 0] if direction == "tail" else queries[:, 2]]

    valid = torch.tensor([[0, 0, 1], [0, 0, 2], [3, 0, 4]])
    known = FilterIndex.from_triples([valid, torch.tensor([[0, 0, 5]])], n, 1)
    full = scored_pairs(score_fn, valid, known)
    sampled = scored_pairs(score_fn, valid, known, sample=50)
    # (0, 0, ?) has 3 known tails, so 397 corruptions; (3, 0, ?) 399; head queries (?, 0, t) 399 each
    assert float(full.weights.sum()) == pytest.approx(float(sampled.weights.sum())) == 6 + 397 * 2 + 399 * 4
    assert int(full.labels.sum()) == int(sampled.labels.sum()) == 6
    assert len(sampled.scores) == 6 + 6 * 50
    tails = full.select((full.directions == 1) & ~full.labels)
    first = tails.scores[: 397]
    assert not torch.isin(first, table[0, [1, 2, 5]].double()).any()  # the filter holds
    ece, _ = reliability(torch.full((3,), 0.5, dtype=torch.float64), torch.tensor([True, False, True]),
                         torch.ones(3, dtype=torch.float64))
    assert ece == pytest.approx(1 / 6)
