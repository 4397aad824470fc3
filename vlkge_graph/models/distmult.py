"""DistMult (Yang et al. 2015): a diagonal bilinear form, symmetric in head and tail."""

from __future__ import annotations

from torch import Tensor

from vlkge_graph.models.base import Backbone


class DistMult(Backbone):
    """``sum(h * r * t)``: the queries are ``h * r`` and ``r * t``, compared by a dot product."""

    def score(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        return (h * r * t).sum(dim=-1)

    def tail_query(self, h: Tensor, r: Tensor) -> Tensor:
        return h * r

    def head_query(self, r: Tensor, t: Tensor) -> Tensor:
        return r * t

    def compare(self, queries: Tensor, candidates: Tensor) -> Tensor:
        return queries @ candidates.mT
