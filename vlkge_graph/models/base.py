"""The one base class every scoring function (backbone) derives from.

A backbone owns the relation parameters and the formula; entities come in as representation
tensors, so the same backbone scores structural, fused or inductive entity vectors alike. Complex
backbones read entity vectors as ``[real | imaginary]`` halves.

Every backbone also factors its score as ``compare(query, candidate)``: a query folds the known
entity and the relation into one vector (``tail_query(h, r)`` for ``(h, r, ?)``, ``head_query(r, t)``
for ``(?, r, t)``), so scoring many candidates is one matrix product or one distance computation
instead of re-scoring whole triples. 1-vs-all scoring and negative sampling share this one path.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx, once_differentiable

from vlkge_graph.core import BLOCK_ELEMENTS


class Backbone(nn.Module, ABC):
    """Scores ``(h, r, t)``; higher means more plausible.

    ``dim`` is the size of the real part of an entity vector. Entity vectors are ``entity_width``
    wide (``2 * dim`` for complex backbones, stored as ``[real | imaginary]``).
    """

    #: Whether entity vectors carry an imaginary half.
    is_complex: bool = False

    def __init__(self, num_relations: int, dim: int, relation_width: int | None = None,
                 init_std: float = 0.1) -> None:
        super().__init__()
        self.num_relations = num_relations
        self.dim = dim
        self.init_std = init_std
        width = relation_width if relation_width is not None else self.entity_width
        self.relations = nn.Embedding(num_relations, width)
        self.reset_parameters()

    @property
    def entity_width(self) -> int:
        return 2 * self.dim if self.is_complex else self.dim

    def reset_parameters(self) -> None:
        nn.init.normal_(self.relations.weight, std=self.init_std)

    def relation(self, r: Tensor) -> Tensor:
        """Relation vectors for relation ids ``r`` (the form ``score`` expects)."""
        return self.relations(r)

    def published_params(self) -> tuple[dict[str, Any], Tensor]:
        """What the plugin needs to score like this backbone: its run-level options (stored on the run
        node) and one parameter row per relation (stored on its relation node). The plugin's class for this
        backbone reads exactly these (held together by the shared test vectors, models/test_vectors.py)."""
        return {}, self.relations.weight.detach()

    @abstractmethod
    def score(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        """Scores of broadcastable entity/relation vectors; the last dimension is reduced."""

    @abstractmethod
    def tail_query(self, h: Tensor, r: Tensor) -> Tensor:
        """Query vectors of ``(h, r, ?)``: ``compare(tail_query(h, r), t) == score(h, r, t)``."""

    @abstractmethod
    def head_query(self, r: Tensor, t: Tensor) -> Tensor:
        """Query vectors of ``(?, r, t)``: ``compare(head_query(r, t), h) == score(h, r, t)``."""

    @abstractmethod
    def compare(self, queries: Tensor, candidates: Tensor) -> Tensor:
        """``[..., m, n]`` scores of every query ``[..., m, w]`` against every candidate ``[..., n, w]``
        (leading dimensions are batch dimensions, e.g. one group of candidates per chunk of queries)."""

    def score_tails(self, h: Tensor, r: Tensor, tails: Tensor) -> Tensor:
        """``[B, N]`` scores of queries ``(h[b], r[b], ?)`` against candidate vectors ``tails [N, w]``."""
        return self.compare(self.tail_query(h, r), tails)

    def score_heads(self, heads: Tensor, r: Tensor, t: Tensor) -> Tensor:
        """``[B, N]`` scores of queries ``(?, r[b], t[b])`` against candidate vectors ``heads [N, w]``."""
        return self.compare(self.head_query(r, t), heads)

    def extra_repr(self) -> str:
        return f"num_relations={self.num_relations}, dim={self.dim}"


def blockwise(fn: Callable[[Tensor], Tensor], candidates: Tensor, rows: int) -> Tensor:
    """``fn`` over candidate blocks (dim -2) small enough that ``rows x block x width`` stays bounded,
    concatenated along the last dimension (``rows``: query rows one candidate is compared with)."""
    width = max(1, candidates.shape[-1])
    block = max(1, BLOCK_ELEMENTS // max(1, rows * width))
    count = candidates.shape[-2]
    return torch.cat([fn(candidates[..., i:i + block, :]) for i in range(0, max(count, 1), block)], dim=-1)


def split_complex(x: Tensor) -> tuple[Tensor, Tensor]:
    """The real and imaginary halves of ``[real | imaginary]`` vectors."""
    re, im = x.chunk(2, dim=-1)
    return re, im


class _PairwiseL1(torch.autograd.Function):
    """``cdist(x, y, p=1)`` with a cheaper backward: ``sign(x - y) * grad`` over one difference tensor,
    computed in place, about 2x faster than ``cdist``'s own backward on a training step's pairs."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, y: Tensor) -> Tensor:
        ctx.save_for_backward(x, y)
        return torch.cdist(x, y, p=1)

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad: Tensor) -> tuple[Tensor, Tensor]:
        x, y = ctx.saved_tensors  # type: ignore[attr-defined]
        per_pair = (x.unsqueeze(-2) - y.unsqueeze(-3)).sign_().mul_(grad.unsqueeze(-1))  # [..., m, n, w]
        grad_x = per_pair.sum(-2).sum_to_size(x.shape)
        # One query row (m == 1, the usual training case): no reduction, just a view.
        grad_y = per_pair.squeeze(-3) if x.shape[-2] == 1 else per_pair.sum(-3)
        return grad_x, grad_y.neg_().sum_to_size(y.shape)


def pairwise_l1(x: Tensor, y: Tensor) -> Tensor:
    """``[..., m, n]`` L1 distances between rows of ``x [..., m, w]`` and ``y [..., n, w]``, as
    ``torch.cdist(x, y, p=1)``. One query row per batch (``m == 1``: a training batch, each positive
    against its negatives) takes a backward through one materialised difference tensor, 2.4x faster
    there; otherwise ``cdist``'s own backward is as fast or faster (measured: even at ``m == 2``, and
    1.3x faster at ``m == 32``) and materialises nothing."""
    if x.shape[-2] == 1 and torch.is_grad_enabled() and (x.requires_grad or y.requires_grad):
        return _PairwiseL1.apply(x, y)
    return torch.cdist(x, y, p=1)
