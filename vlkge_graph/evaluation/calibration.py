"""Calibrated probabilities: Platt scaling per relation and direction, fitted on held-out facts.

A backbone score is not a probability, and neither is its sigmoid or a softmax over entities. Following
Tabacof & Costabello, "Probability Calibration for Knowledge Graph Embedding Models" (ICLR 2020), as
AmpliGraph's ``calibrate`` / ``predict_proba`` do, a trained model gets ``p = sigmoid(a * score + b)`` per
(relation, direction), fitted by weighted logistic regression on the validation split: each validation
query ``(h, r, ?)`` / ``(?, r, t)`` contributes its true answer as a positive and its filtered corruptions
(every candidate of the evaluation protocol that is not a known true answer) as negatives, all of them or a
uniform sample weighted to count as all of them. So the base rate is the empirical one (true answers per
candidate pair of a query) and ``p`` estimates the chance that a pair scored this high is a true missing
fact. The test split, built the same way, measures it (expected calibration error, Brier score,
reliability table). Scores come from the evaluation's own scoring loop (:func:`ranking.score_blocks`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from vlkge_graph.core import DIRECTIONS
from vlkge_graph.evaluation.index import CandidatePools, FilterIndex
from vlkge_graph.evaluation.ranking import ScoredBlock, ScoreFn, score_blocks

#: A relation and direction with fewer validation positives than this uses the direction's pooled fit.
MIN_POSITIVES = 20
#: Negatives kept per query when a split's query x candidate pairs exceed :data:`ALL_PAIRS`.
SAMPLE = 256
ALL_PAIRS = 2**22  # about 4 million pairs, 140 MB of scored pairs
#: Equal-width probability bins of the reliability table and the expected calibration error.
BINS = 15
SEED = 0


def platt(scores: Tensor, a: float | Tensor, b: float | Tensor) -> Tensor:
    """The calibrated probability ``sigmoid(a * score + b)`` (float64), as the plugin computes it."""
    return torch.sigmoid(a * scores.double() + b)


@dataclass(frozen=True)
class PlattFit:
    """One (relation, direction)'s coefficients; ``positives``: its validation positives; ``pooled``:
    whether the coefficients are the direction's fit over all relations (too few positives of its own)."""

    a: float
    b: float
    positives: int
    pooled: bool


@dataclass(frozen=True)
class Calibration:
    """Platt coefficients per relation name and direction (``tail``: query (h, r, ?), ``head``: (?, r, t))."""

    relations: dict[str, dict[str, PlattFit]]
    base_rate: float
    method: str = "platt"
    fitted_on: str = "valid"

    def probability(self, scores: Tensor, relation: str, direction: str) -> Tensor:
        """Calibrated probabilities of ``scores`` of ``relation``'s ``direction`` queries."""
        fit = self.relations[relation][direction]
        return platt(scores, fit.a, fit.b)

    def coefficients(self, relation: str) -> list[float]:
        """``[tail_a, tail_b, head_a, head_b]``: what a relation node stores (docs/graph-model.md)."""
        tail, head = self.relations[relation]["tail"], self.relations[relation]["head"]
        return [tail.a, tail.b, head.a, head.b]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``train/calibration.json`` without its ``test`` section)."""
        return {"method": self.method, "fitted_on": self.fitted_on, "base_rate": self.base_rate,
                "relations": {name: {d: asdict(fit) for d, fit in fits.items()}
                              for name, fits in self.relations.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        relations = {name: {d: PlattFit(**fit) for d, fit in fits.items()} for name, fits in data["relations"].items()}
        return cls(relations, float(data["base_rate"]), data.get("method", "platt"), data.get("fitted_on", "valid"))


def probability(calibration: Calibration | None, scores: Tensor, relation: str, direction: str) -> Tensor:
    """The one meaning of a pair's probability: calibrated, or ``sigmoid(score)`` for a run without
    calibration (no validation facts, or trained before calibration existed)."""
    if calibration is None:
        return torch.sigmoid(scores.double())
    return calibration.probability(scores, relation, direction)


@dataclass(frozen=True)
class ScoredPairs:
    """(query, candidate) pairs of a split: score, whether it is the query's true answer, weight, group."""

    scores: Tensor  # float64
    labels: Tensor  # bool: the true answer of its query
    weights: Tensor  # float64: 1, or (filtered corruptions / sampled ones) for sampled negatives
    relations: Tensor  # long relation id
    directions: Tensor  # long index into DIRECTIONS

    def select(self, mask: Tensor) -> ScoredPairs:
        return ScoredPairs(*(x[mask] for x in (self.scores, self.labels, self.weights, self.relations,
                                               self.directions)))


def scored_pairs(score_fn: ScoreFn, triples: Tensor, filter_index: FilterIndex, *,
                 candidates: CandidatePools | Sequence[CandidatePools] | None = None, filter_mode: str = "strict",
                 device: torch.device | str | None = None, sample: int | None = None,
                 seed: int = SEED) -> ScoredPairs:
    """Every query of ``triples`` in both directions: its true answer (weight 1) and its filtered corruptions
    (candidates that are no known true answer). ``sample``: keep that many corruptions per query, drawn
    uniformly (seeded), each weighted so they count as all of them; None: all of them when the split's
    pairs number at most :data:`ALL_PAIRS`, else :data:`SAMPLE`."""
    n = filter_index.num_entities
    if sample is None and len(triples) * len(DIRECTIONS) * n > ALL_PAIRS:
        sample = SAMPLE
    mode = "strict" if filter_mode == "none" else filter_mode  # corruptions must not be true answers
    with torch.inference_mode():
        parts = _pairs(score_blocks(score_fn, triples, filter_index, n, directions=DIRECTIONS, filter_mode=mode,
                                    candidates=candidates, device=device), sample, seed)
    if not parts:
        empty = torch.empty(0)
        return ScoredPairs(empty.double(), empty.bool(), empty.double(), empty.long(), empty.long())
    return ScoredPairs(*(torch.cat(c).cpu() for c in zip(*parts, strict=True)))


def _pairs(blocks: Iterator[ScoredBlock], sample: int | None, seed: int) -> list[tuple[Tensor, ...]]:
    """Per block: (scores, labels, weights, relations, directions) of its true answers and corruptions."""
    parts: list[tuple[Tensor, ...]] = []
    generator: torch.Generator | None = None
    for block in blocks:
        rows = torch.arange(len(block.targets), device=block.scores.device)
        everyone = torch.ones_like(block.scores, dtype=torch.bool)
        negative = block.allowed.clone() if block.allowed is not None else everyone
        assert block.known is not None  # the filter mode is never "none" here
        negative[block.known] = False
        negative[rows, block.targets] = False
        count = negative.sum(1)
        if sample is None or int(count.max()) <= sample:
            q, e = negative.nonzero(as_tuple=True)
            weight = torch.ones(len(q), dtype=torch.float64, device=q.device)
        else:
            if generator is None:
                generator = torch.Generator(device=block.scores.device).manual_seed(seed)
            keys = torch.rand(negative.shape, generator=generator, device=negative.device)
            keys[~negative] = 2.0  # never drawn before a corruption
            drawn = keys.topk(sample, dim=1, largest=False).indices
            keep = negative.gather(1, drawn)
            q = rows[:, None].expand_as(drawn)[keep]
            e = drawn[keep]
            weight = (count.double() / count.clamp(max=sample).clamp(min=1).double())[q]
        q = torch.cat([rows, q])
        e = torch.cat([block.targets, e])
        labels = torch.zeros(len(q), dtype=torch.bool, device=q.device)
        labels[:len(rows)] = True
        weight = torch.cat([torch.ones(len(rows), dtype=torch.float64, device=q.device), weight])
        direction = torch.full_like(q, DIRECTIONS.index(block.direction))
        parts.append((block.scores[q, e].double(), labels, weight, block.queries[q, 1], direction))
    return parts


def fit_platt(scores: Tensor, labels: Tensor, weights: Tensor, steps: int = 200) -> tuple[float, float]:
    """``(a, b)`` minimising the weighted log loss of ``sigmoid(a * score + b)``: damped Newton steps in
    float64 (two parameters: exact Hessians are cheap), a vanishing ridge keeping separable data finite."""
    x = torch.stack([scores.double(), torch.ones_like(scores, dtype=torch.float64)], dim=1)
    y, w = labels.double(), weights.double()
    total = float(w.sum())
    rate = float((w * y).sum()) / total
    theta = torch.tensor([0.0, math.log(rate / (1 - rate))], dtype=torch.float64)
    ridge = 1e-6 * total

    def loss(t: Tensor) -> float:
        z = x @ t
        return float((w * (torch.nn.functional.softplus(z) - y * z)).sum() + 0.5 * ridge * (t @ t))

    current = loss(theta)
    for _ in range(steps):
        p = torch.sigmoid(x @ theta)
        grad = x.T @ (w * (p - y)) + ridge * theta
        hess = (x * (w * p * (1 - p))[:, None]).T @ x + ridge * torch.eye(2, dtype=torch.float64)
        step = torch.linalg.solve(hess, grad)
        scale = 1.0
        while scale > 1e-8 and loss(theta - scale * step) > current:
            scale /= 2
        theta = theta - scale * step
        previous, current = current, loss(theta)
        if previous - current <= 1e-12 * max(1.0, abs(current)):
            break
    return float(theta[0]), float(theta[1])


def calibrate(pairs: ScoredPairs, relation_names: Sequence[str],
              min_positives: int = MIN_POSITIVES) -> Calibration:
    """Platt coefficients per (relation, direction) from validation pairs. ``a`` is never negative: a relation
    whose own fit gives ``a < 0`` (higher scores less likely true) takes the pooled fit, and a pooled ``a < 0``
    becomes ``a = 0`` with ``b`` the direction's base rate's logit (one probability for every score)."""
    if not pairs.labels.any():
        raise ValueError("calibration needs validation facts: the split has none")
    rate = float((pairs.weights * pairs.labels).sum() / pairs.weights.sum())
    relations: dict[str, dict[str, PlattFit]] = {name: {} for name in relation_names}
    for d, direction in enumerate(DIRECTIONS):
        mine = pairs.select(pairs.directions == d)
        a, b = fit_platt(mine.scores, mine.labels, mine.weights)
        if a < 0:
            own = float((mine.weights * mine.labels).sum() / mine.weights.sum())
            a, b = 0.0, math.log(own / (1 - own))
        for r, name in enumerate(relation_names):
            group = mine.select(mine.relations == r)
            positives = int(group.labels.sum())
            fit = PlattFit(a, b, positives, True)
            if positives >= min_positives:
                ra, rb = fit_platt(group.scores, group.labels, group.weights)
                if ra >= 0:
                    fit = PlattFit(ra, rb, positives, False)
            relations[name][direction] = fit
    return Calibration(relations, rate)


def probabilities(calibration: Calibration | None, pairs: ScoredPairs, relation_names: Sequence[str]) -> Tensor:
    """Each pair's probability: calibrated, or ``sigmoid(score)`` without a calibration (uncalibrated runs)."""
    if calibration is None:
        return torch.sigmoid(pairs.scores.double())
    coef = torch.tensor([calibration.coefficients(name) for name in relation_names], dtype=torch.float64)
    coef = coef.reshape(len(relation_names), 2, 2)  # [relation, tail/head, a/b]
    side = 1 - pairs.directions  # DIRECTIONS is ("head", "tail"); coefficients are tail first
    a, b = coef[pairs.relations, side, 0], coef[pairs.relations, side, 1]
    return platt(pairs.scores, a, b)


def reliability(p: Tensor, labels: Tensor, weights: Tensor, bins: int = BINS) -> tuple[float, list[dict[str, float]]]:
    """Expected calibration error over ``bins`` equal-width bins (weighted) and the non-empty bins' rows:
    ``lo, hi, mean_predicted, observed`` (weighted share of true answers), ``weight`` (share of all weight)."""
    w, y = weights.double(), labels.double()
    total = float(w.sum())
    index = (p * bins).long().clamp(0, bins - 1)
    mass = torch.zeros(bins, dtype=torch.float64).index_add_(0, index, w)
    predicted = torch.zeros(bins, dtype=torch.float64).index_add_(0, index, w * p)
    observed = torch.zeros(bins, dtype=torch.float64).index_add_(0, index, w * y)
    rows, ece = [], 0.0
    for i in range(bins):
        if mass[i] <= 0:
            continue
        mean_p, freq = float(predicted[i] / mass[i]), float(observed[i] / mass[i])
        ece += float(mass[i]) / total * abs(mean_p - freq)
        rows.append({"lo": i / bins, "hi": (i + 1) / bins, "mean_predicted": mean_p, "observed": freq,
                     "weight": float(mass[i]) / total})
    return ece, rows


def brier(p: Tensor, labels: Tensor, weights: Tensor) -> float:
    """Weighted mean squared difference of probability and outcome."""
    w = weights.double()
    return float((w * (p - labels.double()) ** 2).sum() / w.sum())


def calibration_metrics(calibration: Calibration | None, pairs: ScoredPairs,
                        relation_names: Sequence[str]) -> dict[str, Any]:
    """ECE, Brier and the reliability table of held-out pairs; the same two numbers for ``sigmoid(score)``."""
    raw = torch.sigmoid(pairs.scores.double())
    p = probabilities(calibration, pairs, relation_names)
    ece, bins = reliability(p, pairs.labels, pairs.weights)
    ece_raw, _ = reliability(raw, pairs.labels, pairs.weights)
    return {"ece": ece, "brier": brier(p, pairs.labels, pairs.weights), "ece_uncalibrated": ece_raw,
            "brier_uncalibrated": brier(raw, pairs.labels, pairs.weights), "bins": bins}
