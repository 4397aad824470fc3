"""TransE (Bordes et al. 2013): a relation translates the head onto the tail."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from vlkge_graph.models.base import Backbone, pairwise_l1


class TransE(Backbone):
    """``gamma - || h + r - t ||_p``.

    The VL-KGE reference code uses ``p = 1``, ``gamma = 12`` and L2-normalises ``h``, ``r`` and ``t``
    first (``normalize=True``); the margin only shifts scores, so it matters for logistic losses.
    """

    def __init__(self, num_relations: int, dim: int, p: int = 1, gamma: float = 12.0,
                 normalize: bool = True, init_std: float = 0.1) -> None:
        if p not in (1, 2):
            raise ValueError(f"TransE norm p must be 1 or 2, got {p}")
        self.p = p
        self.gamma = gamma
        self.normalize = normalize
        super().__init__(num_relations, dim, init_std=init_std)

    def published_params(self) -> tuple[dict[str, Any], Tensor]:
        options, relations = super().published_params()
        return {**options, "gamma": float(self.gamma), "p": int(self.p), "normalize": bool(self.normalize)}, relations

    def _norm(self, x: Tensor) -> Tensor:
        return F.normalize(x, p=2, dim=-1) if self.normalize else x

    def score(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        diff = self._norm(h) + self._norm(r) - self._norm(t)
        return self.gamma - torch.linalg.vector_norm(diff, ord=self.p, dim=-1)

    def tail_query(self, h: Tensor, r: Tensor) -> Tensor:
        return self._norm(h) + self._norm(r)

    def head_query(self, r: Tensor, t: Tensor) -> Tensor:
        return self._norm(t) - self._norm(r)

    def compare(self, queries: Tensor, candidates: Tensor) -> Tensor:
        # ||h + r - t|| = ||(h + r) - t|| = ||h - (t - r)||: one distance per (query, candidate).
        candidates = self._norm(candidates)
        if self.p == 1:
            return self.gamma - pairwise_l1(queries, candidates)
        return self.gamma - torch.cdist(queries, candidates, p=2)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, p={self.p}, gamma={self.gamma}, normalize={self.normalize}"
