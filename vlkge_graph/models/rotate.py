"""RotatE (Sun et al. 2019): a relation rotates the head onto the tail in the complex plane."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from vlkge_graph.models.base import Backbone, blockwise, split_complex


class RotatE(Backbone):
    """``gamma - || h o e^{i theta_r} - t ||`` with one learned phase per dimension.

    ``p = 1`` sums the moduli of the complex differences (Sun et al. and their code); ``p = 2`` is the
    Euclidean norm of the whole complex vector (PyKEEN). ``relation()`` returns ``[cos | sin]``.
    """

    is_complex = True

    def __init__(self, num_relations: int, dim: int, p: int = 1, gamma: float = 12.0,
                 init_std: float = 0.1) -> None:
        if p not in (1, 2):
            raise ValueError(f"RotatE norm p must be 1 or 2, got {p}")
        self.p = p
        self.gamma = gamma
        super().__init__(num_relations, dim, relation_width=dim, init_std=init_std)

    def reset_parameters(self) -> None:
        nn.init.uniform_(self.relations.weight, -math.pi, math.pi)

    def published_params(self) -> tuple[dict[str, Any], Tensor]:
        options, phases = super().published_params()  # the plugin stores phases and rotates itself
        return {**options, "gamma": float(self.gamma), "p": int(self.p)}, phases

    def relation(self, r: Tensor) -> Tensor:
        phase = self.relations(r)
        return torch.cat([torch.cos(phase), torch.sin(phase)], dim=-1)

    def _distance(self, x: Tensor, t: Tensor) -> Tensor:
        if self.p == 2:
            return torch.linalg.vector_norm(x - t, dim=-1)
        (xr, xi), (tr, ti) = split_complex(x), split_complex(t)
        # The clamp keeps sqrt's gradient finite where a difference vanishes (changes values < 1e-9).
        return ((xr - tr) ** 2 + (xi - ti) ** 2).clamp_min(1e-18).sqrt().sum(dim=-1)

    @staticmethod
    def _rotate(x: Tensor, rot: Tensor, conjugate: bool = False) -> Tensor:
        (xr, xi), (c, s) = split_complex(x), split_complex(rot)
        if conjugate:
            s = -s
        return torch.cat([xr * c - xi * s, xr * s + xi * c], dim=-1)

    def score(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        return self.gamma - self._distance(self._rotate(h, r), t)

    def tail_query(self, h: Tensor, r: Tensor) -> Tensor:
        return self._rotate(h, r)

    def head_query(self, r: Tensor, t: Tensor) -> Tensor:
        # |h o r - t| = |h - t o conj(r)| because every rotation has modulus one.
        return self._rotate(t, r, conjugate=True)

    def compare(self, queries: Tensor, candidates: Tensor) -> Tensor:
        if self.p == 2:
            return self.gamma - torch.cdist(queries, candidates)
        rows = queries.numel() // max(1, queries.shape[-1])
        return blockwise(lambda c: self.gamma - self._distance(queries.unsqueeze(-2), c.unsqueeze(-3)),
                         candidates, rows)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, p={self.p}, gamma={self.gamma}"
