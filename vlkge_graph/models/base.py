"""The one base class every scoring function (backbone) derives from.

A backbone owns the relation parameters and the formula; entities come in as representation
tensors, so the same backbone scores structural, fused or inductive entity vectors alike. Complex
backbones read entity vectors as ``[real | imaginary]`` halves.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import torch
from torch import Tensor, nn

#: Upper bound on the elements of one broadcast intermediate in the generic candidate scorer.
BLOCK_ELEMENTS = 1 << 24


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

    @abstractmethod
    def score(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        """Scores of broadcastable entity/relation vectors; the last dimension is reduced."""

    def score_tails(self, h: Tensor, r: Tensor, tails: Tensor) -> Tensor:
        """``[B, N]`` scores of queries ``(h[b], r[b], ?)`` against candidate vectors ``tails [N, w]``."""
        return blockwise(lambda c: self.score(h[:, None], r[:, None], c[None]), tails, h.shape[0])

    def score_heads(self, heads: Tensor, r: Tensor, t: Tensor) -> Tensor:
        """``[B, N]`` scores of queries ``(?, r[b], t[b])`` against candidate vectors ``heads [N, w]``."""
        return blockwise(lambda c: self.score(c[None], r[:, None], t[:, None]), heads, t.shape[0])

    def extra_repr(self) -> str:
        return f"num_relations={self.num_relations}, dim={self.dim}"


def blockwise(fn: Callable[[Tensor], Tensor], candidates: Tensor, batch: int) -> Tensor:
    """Apply ``fn`` to candidate blocks small enough that ``batch x block x width`` stays bounded."""
    width = max(1, candidates.shape[-1])
    block = max(1, BLOCK_ELEMENTS // max(1, batch * width))
    if candidates.shape[0] == 0:
        return candidates.new_zeros(batch, 0)
    return torch.cat([fn(candidates[i:i + block]) for i in range(0, candidates.shape[0], block)], dim=1)


def split_complex(x: Tensor) -> tuple[Tensor, Tensor]:
    """The real and imaginary halves of ``[real | imaginary]`` vectors."""
    re, im = x.chunk(2, dim=-1)
    return re, im
