"""ComplEx (Trouillon et al. 2016): DistMult in complex space, so relations can be asymmetric."""

from __future__ import annotations

import torch
from torch import Tensor

from vlkge_graph.models.base import Backbone, split_complex


class ComplEx(Backbone):
    """``Re(<h, r, conj(t)>)`` with entity and relation vectors stored as ``[real | imaginary]``.

    Both queries are real ``[re | im]`` vectors whose dot product with a candidate is the score, so a
    batch of candidates is one matrix product.
    """

    is_complex = True

    def score(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        (hr, hi), (rr, ri), (tr, ti) = split_complex(h), split_complex(r), split_complex(t)
        return (hr * rr * tr + hi * rr * ti + hr * ri * ti - hi * ri * tr).sum(dim=-1)

    def tail_query(self, h: Tensor, r: Tensor) -> Tensor:
        (hr, hi), (rr, ri) = split_complex(h), split_complex(r)
        # Re(q * conj(t)) = q_re . t_re + q_im . t_im with q = h * r.
        return torch.cat([hr * rr - hi * ri, hr * ri + hi * rr], dim=-1)

    def head_query(self, r: Tensor, t: Tensor) -> Tensor:
        (rr, ri), (tr, ti) = split_complex(r), split_complex(t)
        # Re(h * z) = h_re . z_re - h_im . z_im with z = r * conj(t).
        return torch.cat([rr * tr + ri * ti, rr * ti - ri * tr], dim=-1)

    def compare(self, queries: Tensor, candidates: Tensor) -> Tensor:
        return queries @ candidates.mT
