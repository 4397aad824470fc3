"""Negative sampling on the device, fully vectorised: corrupt, look up, resample or mask.

The reference code draws and filters negatives with per-example Python loops. Here a whole batch of
``B x k`` corruptions is drawn at once, membership in the known positives is one ``searchsorted`` on
the sorted int64 codes of a :class:`FilterIndex`, and only the hits are redrawn. Negatives travel in
a compact form (:class:`Corruptions`: the replacement ids and which end they replace), so the model
scores each positive's query against its replacements without materialising ``B x k`` triples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from vlkge_graph.evaluation.index import CandidatePools, FilterIndex


def is_known(index: FilterIndex, triples: Tensor) -> Tensor:
    """Bool mask: is each ``[..., 3]`` triple among the index's known triples? (vectorised)."""
    return known_mask(index, *triples.unbind(-1))


def known_mask(index: FilterIndex, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
    """Bool mask of broadcastable id tensors: is each ``(h, r, t)`` a known triple of ``index``?"""
    keys = (h * index.num_relations + r) * index.num_entities + t  # FilterIndex.tail's code layout
    codes = index.tail
    if codes.numel() == 0:
        return torch.zeros_like(keys, dtype=torch.bool)
    pos = torch.searchsorted(codes, keys).clamp_(max=codes.numel() - 1)
    return codes[pos] == keys


def head_probabilities(triples: Tensor, num_entities: int, num_relations: int, method: str) -> Tensor:
    """Per relation, the probability of corrupting the head rather than the tail.

    ``uniform``: 0.5. ``bernoulli`` (Wang et al. 2014): ``tph / (tph + hpt)``, so the end with more
    answers per anchor, where a random replacement is more likely a false negative, is corrupted less.
    """
    if method == "uniform":
        return torch.full((num_relations,), 0.5)
    if method != "bernoulli":
        raise ValueError(f"corruption must be 'uniform' or 'bernoulli', got {method!r}")
    h, r, t = triples.unbind(1)
    per_rel = torch.bincount(r, minlength=num_relations).double()

    def distinct(anchor: Tensor) -> Tensor:
        pairs = torch.unique(r * num_entities + anchor)
        return torch.bincount(pairs // num_entities, minlength=num_relations).double()

    tph = per_rel / distinct(h).clamp(min=1)  # tails per head
    hpt = per_rel / distinct(t).clamp(min=1)  # heads per tail
    prob = tph / (tph + hpt)
    return torch.where(per_rel > 0, prob, torch.full_like(prob, 0.5)).float()


class Corruptions(NamedTuple):
    """``k`` negatives per positive of a batch of ``B``, in compact form.

    Negative ``j`` of positive ``b`` replaces the head (``head[b, j]``) or else the tail of the positive
    with ``entities[b // chunk, j]``: one pool of ``k`` replacements per chunk of ``chunk`` positives
    (``chunk=1``: every positive has its own). ``head`` is ``[B, 1]`` when every negative of a positive
    corrupts the same end. ``valid[b, j]`` is false for a known positive (weight 0).
    """

    entities: Tensor
    head: Tensor
    valid: Tensor
    chunk: int = 1

    def ends(self) -> Tensor:
        """``[B, k]``: the replacement entity of every negative."""
        return self.entities.repeat_interleave(self.chunk, dim=0)[:self.head.shape[0]]

    def triples(self, positives: Tensor) -> Tensor:
        """The negatives as ``[B, k, 3]`` id triples."""
        ends = self.ends()
        h, r, t = (x.unsqueeze(1).expand_as(ends) for x in positives.unbind(-1))
        head = self.head.expand_as(ends)
        return torch.stack([torch.where(head, ends, h), r, torch.where(head, t, ends)], dim=-1)


class NegativeSampler:
    """Draws ``num_negatives`` corruptions per positive.

    - ``sides``: which ends may be corrupted; with both, ``corruption`` gives the probability of the
      head, drawn per negative or (``side_per="positive"``) once per positive for all its negatives.
    - ``pools``: per direction, draw the replacement from the relation's candidate pool instead of
      all entities (WikiArt: a relation's training tails); an empty pool falls back to all entities.
    - ``known``: filter index of true triples; a hit is redrawn up to ``max_resample`` times, and what
      still hits is reported as invalid in the returned mask (weight 0 in the loss), never returned
      as a negative.
    - ``sharing``: 0 or 1 draws every positive its own replacements; ``C > 1`` draws one pool of
      ``num_negatives`` uniform entities per chunk of ``C`` positives (PyTorch-BigGraph), which every
      positive of the chunk corrupts with its own head/tail choices. Each positive still gets
      ``num_negatives`` uniform negatives, but a chunk needs only ``num_negatives`` entity vectors
      instead of ``C x num_negatives``. A shared replacement cannot be redrawn for one positive, so known
      positives among them are only masked (``valid``), never resampled; relation pools do not apply.
    """

    def __init__(self, num_entities: int, num_relations: int, num_negatives: int, *,
                 train: Tensor | None = None, corruption: str = "uniform", side_per: str = "positive",
                 sides: Sequence[str] = ("head", "tail"), known: FilterIndex | None = None,
                 pools: Mapping[str, CandidatePools] | None = None, max_resample: int = 10,
                 sharing: int = 0, device: torch.device | str = "cpu") -> None:
        if not set(sides) <= {"head", "tail"} or not sides:
            raise ValueError(f"sides must be a non-empty subset of ('head', 'tail'), got {sides}")
        if sharing < 0:
            raise ValueError(f"sharing must be 0 (independent negatives) or a chunk size, got {sharing}")
        if side_per not in ("negative", "positive"):
            raise ValueError(f"side_per must be 'negative' or 'positive', got {side_per!r}")
        self.num_entities = num_entities
        self.num_negatives = num_negatives
        self.side_per = side_per
        self.chunk = max(1, sharing)
        self.device = torch.device(device)
        if set(sides) == {"head", "tail"}:
            if corruption == "bernoulli" and train is None:
                raise ValueError("bernoulli corruption needs the training triples")
            train = train if train is not None else torch.empty(0, 3, dtype=torch.long)
            probs = head_probabilities(train, num_entities, num_relations, corruption)
        else:
            probs = torch.full((num_relations,), 1.0 if "head" in sides else 0.0)
        self.head_prob = probs.to(self.device)
        self.known = known.to(self.device) if known is not None else None
        self.pools = {d: p.to(self.device) for d, p in (pools or {}).items() if p.entities.numel()}
        if self.pools and self.chunk > 1:
            raise ValueError("shared negatives (sharing > 1) draw from all entities; relation pools do not apply")
        self.max_resample = max_resample

    def _uniform(self, shape: tuple[int, ...], generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """Uniform entity ids of ``shape`` and the uniform variates they came from."""
        u = torch.rand(shape, device=self.device, generator=generator)
        return (u * self.num_entities).long().clamp_(max=self.num_entities - 1), u

    def _draw(self, relations: Tensor, corrupt_head: Tensor, generator: torch.Generator | None) -> Tensor:
        """Replacement entities for each position, uniform or from the relation's pool."""
        ents, u = self._uniform(tuple(relations.shape), generator)
        for direction, pool in self.pools.items():
            side = corrupt_head if direction == "head" else ~corrupt_head
            start, size = pool.indptr[relations], pool.sizes()[relations]
            use = side & (size > 0)
            offset = (u * size).long().clamp_(max=(size - 1).clamp(min=0))
            picked = pool.entities[(start + offset).clamp_(max=pool.entities.numel() - 1)]
            ents = torch.where(use, picked, ents)
        return ents

    def _hits(self, pos: Tensor, ends: Tensor, head: Tensor) -> Tensor:
        """Which corruptions (broadcast against ``pos [B, 1]`` columns) are known triples."""
        assert self.known is not None
        h, r, t = (x.unsqueeze(-1) for x in pos.unbind(-1))
        return known_mask(self.known, torch.where(head, ends, h), r, torch.where(head, t, ends))

    def draw(self, positives: Tensor, generator: torch.Generator | None = None) -> Corruptions:
        """Corruptions of ``positives [B, 3]`` in compact form (what the training objective scores)."""
        pos = positives.to(self.device)
        batch, k = pos.shape[0], self.num_negatives
        coins = k if self.side_per == "negative" else 1
        head = torch.rand((batch, coins), device=self.device, generator=generator) < self.head_prob[pos[:, 1:2]]
        if self.chunk > 1:
            ents, _ = self._uniform((-(-batch // self.chunk), k), generator)
            ends = ents.repeat_interleave(self.chunk, dim=0)[:batch]
            valid = ~self._hits(pos, ends, head) if self.known is not None else self._all_valid(batch)
            return Corruptions(ents, head, valid, self.chunk)
        ents = self._draw(pos[:, 1:2].expand(batch, k), head.expand(batch, k), generator)
        if self.known is None:
            return Corruptions(ents, head, self._all_valid(batch))
        return Corruptions(ents, head, ~self._resample(pos, ents, head, generator))

    def _all_valid(self, batch: int) -> Tensor:
        return torch.ones((batch, self.num_negatives), dtype=torch.bool, device=self.device)

    def _resample(self, pos: Tensor, ents: Tensor, head: Tensor, generator: torch.Generator | None) -> Tensor:
        """Redraw known triples in place (up to ``max_resample`` rounds, only the hits, on flat indices);
        returns the mask of those that still hit."""
        hits = self._hits(pos, ents, head)
        flat_ents, flat_head, flat_hits = ents.view(-1), head.expand_as(ents).reshape(-1), hits.view(-1)
        for _ in range(self.max_resample):
            todo = flat_hits.nonzero().squeeze(1)
            if todo.numel() == 0:
                break
            anchors, side = pos[todo // ents.shape[1]], flat_head[todo]
            again = self._draw(anchors[:, 1], side, generator)
            flat_ents[todo] = again
            flat_hits[todo] = self._hits(anchors, again.unsqueeze(1), side.unsqueeze(1)).squeeze(1)
        return hits

    def sample(self, positives: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Negatives ``[B, k, 3]`` and a bool ``[B, k]`` mask of the valid ones."""
        corruptions = self.draw(positives, generator)
        return corruptions.triples(positives.to(self.device)), corruptions.valid
