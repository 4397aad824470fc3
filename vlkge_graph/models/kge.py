"""A KGE model: entity representation + backbone, scoring triples and queries by id."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from vlkge_graph.models.base import Backbone
from vlkge_graph.models.vlkge import EntityRepresentation

#: Entities whose vectors are built at once when scoring against every entity.
ENTITY_BLOCK = 1 << 16

DIRECTIONS = ("head", "tail")


class KGEModel(nn.Module):
    """Scores ``(h, r, t)`` id triples and ``(h, r, ?)`` / ``(?, r, t)`` queries against all entities.

    With ``reciprocal=True`` the backbone holds ``2R`` relations and a head query ``(?, r, t)`` is
    scored as the tail query ``(t, r + R, ?)`` (Lacroix et al. 2018); triples are scored forward.
    ``dropout`` applies to the query's entity and relation vectors while training.
    """

    def __init__(self, entities: EntityRepresentation, backbone: Backbone, *, reciprocal: bool = False,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if backbone.dim != entities.width or backbone.is_complex != entities.is_complex:
            raise ValueError(f"backbone (dim {backbone.dim}, complex {backbone.is_complex}) does not fit "
                             f"entities (width {entities.width}, complex {entities.is_complex})")
        self.entities = entities
        self.backbone = backbone
        self.reciprocal = reciprocal
        self.num_relations = backbone.num_relations // (2 if reciprocal else 1)
        self.dropout = nn.Dropout(dropout)

    @property
    def num_entities(self) -> int:
        return self.entities.num_entities

    def embed(self, triples: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Head, relation and tail vectors of id triples ``[..., 3]`` (the factors regularisers see)."""
        h, r, t = triples.unbind(-1)
        return self.entities(h), self.backbone.relation(r), self.entities(t)

    def forward(self, triples: Tensor) -> Tensor:
        """Scores of id triples ``[..., 3]``."""
        h, r, t = self.embed(triples)
        return self.backbone.score(self.dropout(h), self.dropout(r), t)

    def entity_vectors(self) -> Tensor:
        """Every entity's vector (the candidate matrix of all-entity scoring); built in blocks when
        features must be projected, so the projection's intermediates stay bounded."""
        n = self.num_entities
        if not self.entities.modalities or n <= ENTITY_BLOCK:
            return self.entities()
        ids = torch.arange(n, device=self.entities.seen.device)
        return torch.cat([self.entities(ids[i:i + ENTITY_BLOCK]) for i in range(0, n, ENTITY_BLOCK)])

    def score_queries(self, queries: Tensor, direction: str, candidates: Tensor | None = None) -> Tensor:
        """``[B, N]`` scores of replacing the ``direction`` end of each ``queries [B, 3]`` row.

        ``candidates``: precomputed candidate vectors ``[N, w]`` (default: every entity, recomputed,
        so gradients reach them while training).
        """
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, not {direction!r}")
        if candidates is None:
            candidates = self.entity_vectors()
        h, r, t = queries.unbind(-1)
        if direction == "tail":
            return self.backbone.score_tails(self.dropout(self.entities(h)),
                                             self.dropout(self.backbone.relation(r)), candidates)
        if self.reciprocal:
            return self.backbone.score_tails(self.dropout(self.entities(t)),
                                             self.dropout(self.backbone.relation(r + self.num_relations)),
                                             candidates)
        return self.backbone.score_heads(candidates, self.dropout(self.backbone.relation(r)),
                                         self.dropout(self.entities(t)))

    @torch.no_grad()
    def score_fn(self) -> Callable[[Tensor, str], Tensor]:
        """An evaluator's ``score_fn(queries, direction)`` with the entity vectors built once."""
        candidates = self.entity_vectors()
        return lambda queries, direction: self.score_queries(queries, direction, candidates).float()
