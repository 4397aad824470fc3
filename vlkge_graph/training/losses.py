"""Losses over positive / negative scores or over all-entity score matrices, and regularisers.

Scores are "higher is more plausible" everywhere. Negative scores come as ``[B, k]`` with a bool
``valid`` mask from the sampler (masked negatives weigh nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor


def _reduce(values: Tensor, weights: Tensor, reduction: str) -> Tensor:
    total = (values * weights).sum()
    if reduction == "sum":
        return total
    if reduction == "mean":
        return total / weights.sum().clamp(min=1.0)
    raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")


def logistic(pos: Tensor, neg: Tensor, valid: Tensor | None = None, reduction: str = "mean") -> Tensor:
    """``sum log(1 + exp(-y f))`` with y = +1 for positives, -1 for negatives (VL-KGE).

    ``mean`` averages over every scored triple, positives and valid negatives alike, as the reference
    code does; ``sum`` is the paper's formula (same optimum, larger steps).
    """
    valid = torch.ones_like(neg, dtype=torch.bool) if valid is None else valid
    values = torch.cat([F.softplus(-pos).reshape(-1), F.softplus(neg).reshape(-1)])
    weights = torch.cat([torch.ones_like(pos).reshape(-1), valid.to(neg.dtype).reshape(-1)])
    return _reduce(values, weights, reduction)


def margin_ranking(pos: Tensor, neg: Tensor, valid: Tensor | None = None, margin: float = 1.0,
                   reduction: str = "mean") -> Tensor:
    """``max(0, margin - f(pos) + f(neg))`` per (positive, negative) pair."""
    valid = torch.ones_like(neg, dtype=torch.bool) if valid is None else valid
    values = F.relu(margin - pos.unsqueeze(-1) + neg)
    return _reduce(values, valid.to(neg.dtype), reduction)


def self_adversarial(pos: Tensor, neg: Tensor, valid: Tensor | None = None, temperature: float = 1.0,
                     reduction: str = "mean") -> Tensor:
    """Self-adversarial negative sampling loss (Sun et al. 2019, RotatE).

    ``-log sigmoid(f(pos)) - sum_j p_j log sigmoid(-f(neg_j))`` with ``p = softmax(temperature * f(neg))``
    over the valid negatives, detached; per positive, the two parts are averaged as in the paper's code.
    """
    valid = torch.ones_like(neg, dtype=torch.bool) if valid is None else valid
    logits = (temperature * neg.detach()).masked_fill(~valid, torch.finfo(neg.dtype).min)
    weights = torch.softmax(logits, dim=-1) * valid.to(neg.dtype)
    neg_part = -(weights * F.logsigmoid(-neg)).sum(dim=-1)
    per_positive = 0.5 * (-F.logsigmoid(pos) + neg_part)
    return _reduce(per_positive, torch.ones_like(per_positive), reduction)


def cross_entropy(scores: Tensor, targets: Tensor, label_smoothing: float = 0.0,
                  reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy over all entities (1-vs-all: ``targets`` are answer ids ``[B]``; k-vs-all:
    a ``[B, E]`` 0/1 matrix, normalised per row into a target distribution)."""
    if targets.dtype != torch.long:
        targets = targets / targets.sum(dim=-1, keepdim=True).clamp(min=1.0)
    return F.cross_entropy(scores, targets, label_smoothing=label_smoothing, reduction=reduction)


def binary_cross_entropy(scores: Tensor, targets: Tensor, label_smoothing: float = 0.0,
                         reduction: str = "mean") -> Tensor:
    """Per-entity sigmoid BCE against 0/1 ``targets [B, E]`` (k-vs-all as in ConvE / LibKGE)."""
    if label_smoothing:
        targets = targets * (1.0 - label_smoothing) + label_smoothing / targets.shape[-1]
    return F.binary_cross_entropy_with_logits(scores, targets.to(scores.dtype), reduction=reduction)


def regularization(factors: tuple[Tensor, ...], kind: str, is_complex: bool) -> Tensor:
    """Per-example penalty on the vectors of the scored triples, averaged over examples.

    ``n3``: the nuclear 3-norm of Lacroix et al. 2018, ``sum |x|^3`` with the modulus of each complex
    coordinate for complex backbones; ``l2``: ``sum x^2``.
    """
    total = factors[0].new_zeros(())
    for x in factors:
        if kind == "n3":
            if is_complex:
                re, im = x.chunk(2, dim=-1)
                x = torch.sqrt(re**2 + im**2 + 1e-12)
            total = total + x.abs().pow(3).sum(dim=-1).mean()
        elif kind == "l2":
            total = total + x.pow(2).sum(dim=-1).mean()
        else:
            raise ValueError(f"regularizer must be 'n3' or 'l2', got {kind!r}")
    return total


#: Losses of positives against sampled negatives: ``(pos [B], neg [B, k], valid [B, k], spec) -> loss``;
#: ``spec`` is the recipe's TrainingSpec (margin, temperature, reduction).
NEGATIVE_LOSSES: dict[str, Callable[[Tensor, Tensor, Tensor, Any], Tensor]] = {
    "logistic": lambda pos, neg, valid, spec: logistic(pos, neg, valid, spec.reduction),
    "margin": lambda pos, neg, valid, spec: margin_ranking(pos, neg, valid, spec.margin, spec.reduction),
    "self_adversarial": lambda pos, neg, valid, spec: self_adversarial(pos, neg, valid, spec.adversarial_temperature,
                                                                       spec.reduction),
}
#: Losses over all-entity score matrices: ``(scores [B, E], targets, spec) -> loss``; ``targets`` are answer
#: ids ``[B]`` (1-vs-all) or a 0/1 matrix ``[B, E]`` (k-vs-all).
ALL_ENTITY_LOSSES: dict[str, Callable[[Tensor, Tensor, Any], Tensor]] = {
    "cross_entropy": lambda scores, targets, spec: cross_entropy(scores, targets, spec.label_smoothing,
                                                                 spec.reduction),
    "bce": lambda scores, targets, spec: binary_cross_entropy(
        scores, F.one_hot(targets, scores.shape[-1]).to(scores.dtype) if targets.dtype == torch.long else targets,
        spec.label_smoothing, spec.reduction),
}
