"""Fusing a structural vector with frozen modality features into one entity vector (the real part).

Every fusion receives the structural vectors with a ``seen`` mask (was the entity in the training
triples?) and, per modality, features already projected to the structural size with a ``present``
mask. A missing modality is masked out, never averaged in as zeros.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor, nn

#: Kinds of :class:`ModalityProjection`.
PROJECTIONS = ("linear", "mlp")

#: Per modality: projected features ``[B, d]`` and a bool mask ``[B]`` saying which entities have it.
Masked = tuple[Tensor, Tensor]


class ResidualAdapter(nn.Module):
    """``x + W2 relu(W1 x)`` with ``W2 = 0`` at start, so training begins from the frozen features."""

    def __init__(self, dim: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or dim
        self.down = nn.Linear(dim, hidden)
        self.up = nn.Linear(hidden, dim)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.up(torch.relu(self.down(x)))


class FeatureMLP(nn.Module):
    """``W2 gelu(W1 LayerNorm(x))``: a trained two-layer map of frozen features, for entities embedded
    from their features alone (the inductive path), where a linear map is too weak (docs/benchmarks.md)."""

    def __init__(self, feature_dim: int, dim: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or max(feature_dim, dim)
        self.net = nn.Sequential(nn.LayerNorm(feature_dim), nn.Linear(feature_dim, hidden), nn.GELU(),
                                 nn.Linear(hidden, dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ModalityProjection(nn.Module):
    """Maps one modality's features to the structural size: a bias-free linear map when the sizes
    differ (BLIP 256 -> 768), the identity otherwise; optionally followed by a residual adapter.
    ``kind="mlp"``: a :class:`FeatureMLP` instead, whatever the sizes."""

    def __init__(self, feature_dim: int, dim: int, adapter: bool = False, kind: str = "linear") -> None:
        super().__init__()
        if kind not in PROJECTIONS:
            raise ValueError(f"projection must be one of {PROJECTIONS}, got {kind!r}")
        if kind == "mlp":
            self.linear: nn.Module = FeatureMLP(feature_dim, dim)
        else:
            self.linear = nn.Linear(feature_dim, dim, bias=False) if feature_dim != dim else nn.Identity()
        self.adapter = ResidualAdapter(dim) if adapter else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.adapter(self.linear(x))


class Fusion(nn.Module, ABC):
    """Combines ``structure`` (masked by ``seen``) with the modalities into one vector per entity."""

    def __init__(self, dim: int, num_modalities: int) -> None:
        super().__init__()
        self.dim = dim
        self.num_modalities = num_modalities

    @property
    def width(self) -> int:
        """Size of the fused vector."""
        return self.dim

    @abstractmethod
    def forward(self, structure: Tensor, seen: Tensor, modalities: list[Masked]) -> Tensor: ...


class AverageFusion(Fusion):
    """``(1[seen] s + sum_m 1[has m] m) / (1 + |available m|)``.

    The structural slot always counts in the denominator (method notes): an unseen image-only
    entity becomes ``v / 2``; with every modality present this is the dense ``(s + v + t) / 3``.
    """

    def forward(self, structure: Tensor, seen: Tensor, modalities: list[Masked]) -> Tensor:
        total = structure * seen.unsqueeze(-1).to(structure.dtype)
        count = torch.ones_like(structure[..., :1])
        for values, present in modalities:
            mask = present.unsqueeze(-1).to(values.dtype)
            total = total + values * mask
            count = count + mask
        return total / count


class ConcatFusion(Fusion):
    """``[s ; v ; t]`` with a zero block for the structure of unseen entities and missing modalities."""

    @property
    def width(self) -> int:
        return self.dim * (1 + self.num_modalities)

    def forward(self, structure: Tensor, seen: Tensor, modalities: list[Masked]) -> Tensor:
        blocks = [structure * seen.unsqueeze(-1).to(structure.dtype)]
        blocks += [values * present.unsqueeze(-1).to(values.dtype) for values, present in modalities]
        return torch.cat(blocks, dim=-1)


class WeightedFusion(Fusion):
    """One learned logit per slot (structure first, then each modality); per entity a softmax over
    the slots it actually has. An entity with no slot at all gets the zero vector."""

    def __init__(self, dim: int, num_modalities: int) -> None:
        super().__init__(dim, num_modalities)
        self.logits = nn.Parameter(torch.zeros(1 + num_modalities))

    def forward(self, structure: Tensor, seen: Tensor, modalities: list[Masked]) -> Tensor:
        values = torch.stack([structure] + [v for v, _ in modalities], dim=-2)  # [..., slots, d]
        available = torch.stack([seen] + [p for _, p in modalities], dim=-1)  # [..., slots]
        logits = self.logits.to(values.dtype).expand(available.shape)
        # A finite fill (not -inf) keeps rows without any slot free of NaN in both passes.
        logits = logits.masked_fill(~available, torch.finfo(values.dtype).min)
        weights = torch.softmax(logits, dim=-1) * available.to(values.dtype)
        return (weights.unsqueeze(-1) * values).sum(dim=-2)


FUSIONS: dict[str, type[Fusion]] = {"average": AverageFusion, "concat": ConcatFusion,
                                    "weighted": WeightedFusion}
