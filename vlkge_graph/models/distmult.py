"""DistMult (Yang et al. 2015): a diagonal bilinear form, symmetric in head and tail."""

from __future__ import annotations

from torch import Tensor

from vlkge_graph.models.base import Backbone


class DistMult(Backbone):
    """``sum(h * r * t)``."""

    def score(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        return (h * r * t).sum(dim=-1)

    def score_tails(self, h: Tensor, r: Tensor, tails: Tensor) -> Tensor:
        return (h * r) @ tails.T

    def score_heads(self, heads: Tensor, r: Tensor, t: Tensor) -> Tensor:
        return (r * t) @ heads.T
