"""A KGE model: entity representation + backbone, scoring triples and queries by id."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from vlkge_graph.core import DIRECTIONS
from vlkge_graph.models.base import Backbone
from vlkge_graph.models.vlkge import EntityRepresentation

#: Entities whose vectors are built at once when scoring against every entity.
ENTITY_BLOCK = 1 << 16


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
        """Head, relation and tail vectors of id triples ``[..., 3]`` (the factors regularisers see);
        heads and tails in one lookup, so each table is gathered (and its gradient built) once."""
        h, t = self.entities(triples[..., [0, 2]]).unbind(-2)
        return h, self.backbone.relation(triples[..., 1]), t

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
        inverse = self.reciprocal and direction == "head"
        anchors = self.entities(queries[:, 2 if direction == "head" else 0])
        relations = self.backbone.relation(queries[:, 1] + self.num_relations if inverse else queries[:, 1])
        return self.backbone.compare(self._query(anchors, relations, direction, inverse), candidates)

    def _query(self, anchors: Tensor, relations: Tensor, direction: str, inverse: bool = False) -> Tensor:
        """Query vectors of ``(anchor, r, ?)`` (tail) or ``(?, r, anchor)`` (head), with dropout on the
        known entity and the relation; ``inverse``: a head query as the tail query of ``relations``."""
        anchors, relations = self.dropout(anchors), self.dropout(relations)
        if direction == "tail" or inverse:
            return self.backbone.tail_query(anchors, relations)
        return self.backbone.head_query(relations, anchors)

    def score_corruptions(self, positives: Tensor, entities: Tensor, head: Tensor, chunk: int = 1,
                          sides: Sequence[str] = DIRECTIONS) -> tuple[Tensor, Tensor]:
        """Scores ``[B]`` of positives ``[B, 3]`` and ``[B, k]`` of their corruptions.

        Negative ``j`` of positive ``b`` replaces its head (``head[b, j]``) or tail with entity
        ``entities[b // chunk, j]``: ``entities [ceil(B / chunk), k]`` holds one pool of replacements per
        chunk of positives (``chunk=1``: independent negatives). Each positive's queries are built once
        and compared with its pool (one matrix product or distance per chunk) instead of rescoring
        ``B x k`` whole triples; all entity vectors come from one lookup. ``sides``: the ends ``head``
        may select (a single side skips the other query); ``head [B, 1]`` (one end per positive) also
        compares one query per positive. Like :meth:`forward`, this scores triples forward, also in a
        reciprocal model: the values are exactly those of the rebuilt triples.
        """
        batch = positives.shape[0]
        h, r, t = positives.unbind(-1)
        # Structure only, some entities unseen, the positives all seen (as training triples are): read
        # raw rows and give unseen replacements the score of a zero vector afterwards. Exactly what
        # zeroing their rows gives, without a pass over every gathered row and its gradient. Not on a GPU,
        # where the check would cost a host sync per step and the masked lookup is cheap.
        late_mask = (self.entities.plain and not self.entities.all_seen and not positives.is_cuda
                     and bool(self.entities.seen[positives[:, [0, 2]]].all()))
        vectors = self.entities(torch.cat([h, t, entities.reshape(-1)]), zero_unseen=not late_mask)
        hv, tv, pool = vectors.split([batch, batch, entities.numel()])
        relations = self.backbone.relation(r)
        tail_query = self._query(hv, relations, "tail")
        pos = self.backbone.compare(tail_query.unsqueeze(-2), tv.unsqueeze(-2)).reshape(batch)
        ends = [d for d in DIRECTIONS if d in sides]
        queries = [tail_query if d == "tail" else self._query(tv, relations, "head") for d in ends]
        one_end = len(ends) == 1 or head.shape[-1] == 1
        if len(ends) == 2 and one_end:  # the query of the end each positive corrupts
            queries = [torch.where(head, queries[0], queries[1])]
        stacked = torch.stack(queries, dim=1)
        scores = self._compare_chunks(stacked, pool.reshape(*entities.shape, -1), chunk)
        if late_mask:
            scores = self._score_unseen_as_zero(scores, stacked, entities, chunk)
        neg = scores[:, 0] if one_end else torch.where(head, scores[:, 0], scores[:, 1])
        return pos, neg

    def _score_unseen_as_zero(self, scores: Tensor, queries: Tensor, entities: Tensor, chunk: int) -> Tensor:
        """``scores [B, S, k]`` with unseen replacements scored as the zero vector they stand for: the
        ``where`` also sends them no gradient, as zeroing their rows would."""
        unseen = ~self.entities.seen[entities].repeat_interleave(chunk, dim=0)[:scores.shape[0]]
        zero = self.backbone.compare(queries, queries.new_zeros(queries.shape[0], 1, queries.shape[-1]))
        return torch.where(unseen.unsqueeze(1), zero, scores)

    def _compare_chunks(self, queries: Tensor, pools: Tensor, chunk: int) -> Tensor:
        """``[B, S, k]`` scores of queries ``[B, S, w]`` against the pool ``[G, k, w]`` of their chunk of
        ``chunk`` positives (the last chunk may be short: padded with zero queries, then dropped)."""
        batch, sides, width = queries.shape
        groups, k = pools.shape[:2]
        if groups * chunk != batch:
            queries = torch.cat([queries, queries.new_zeros(groups * chunk - batch, sides, width)])
        scores = self.backbone.compare(queries.reshape(groups, chunk * sides, width), pools)
        return scores.reshape(groups * chunk, sides, k)[:batch]

    @torch.no_grad()
    def score_fn(self) -> Callable[[Tensor, str], Tensor]:
        """An evaluator's ``score_fn(queries, direction)`` with the entity vectors built once."""
        candidates = self.entity_vectors()
        return lambda queries, direction: self.score_queries(queries, direction, candidates).float()
