"""Negative sampling on the device, fully vectorised: corrupt, look up, resample or mask.

The reference code draws and filters negatives with per-example Python loops. Here a whole batch of
``B x k`` corruptions is drawn at once, membership in the known positives is one ``searchsorted`` on
the sorted int64 codes of a :class:`FilterIndex`, and only the hits are redrawn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from vlkge_graph.evaluation.index import CandidatePools, FilterIndex

HEAD, TAIL = 0, 2


def is_known(index: FilterIndex, triples: Tensor) -> Tensor:
    """Bool mask: is each ``[..., 3]`` triple among the index's known triples? (vectorised)."""
    h, r, t = triples.unbind(-1)
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


class NegativeSampler:
    """Draws ``num_negatives`` corruptions per positive.

    - ``sides``: which ends may be corrupted; with both, ``corruption`` picks the end per example.
    - ``pools``: per direction, draw the replacement from the relation's candidate pool instead of
      all entities (WikiArt: a relation's training tails); an empty pool falls back to all entities.
    - ``known``: filter index of true triples; a hit is redrawn up to ``max_resample`` times, and what
      still hits is reported as invalid in the returned mask (weight 0 in the loss), never returned
      as a negative.
    """

    def __init__(self, num_entities: int, num_relations: int, num_negatives: int, *,
                 train: Tensor | None = None, corruption: str = "uniform",
                 sides: Sequence[str] = ("head", "tail"), known: FilterIndex | None = None,
                 pools: Mapping[str, CandidatePools] | None = None, max_resample: int = 10,
                 device: torch.device | str = "cpu") -> None:
        if not set(sides) <= {"head", "tail"} or not sides:
            raise ValueError(f"sides must be a non-empty subset of ('head', 'tail'), got {sides}")
        self.num_entities = num_entities
        self.num_negatives = num_negatives
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
        self.max_resample = max_resample

    def _draw(self, relations: Tensor, corrupt_head: Tensor, generator: torch.Generator | None) -> Tensor:
        """Replacement entities for each position, uniform or from the relation's pool."""
        u = torch.rand(relations.shape, device=self.device, generator=generator)
        ents = (u * self.num_entities).long().clamp_(max=self.num_entities - 1)
        for direction, pool in self.pools.items():
            side = corrupt_head if direction == "head" else ~corrupt_head
            start, size = pool.indptr[relations], pool.sizes()[relations]
            use = side & (size > 0)
            offset = (u * size).long().clamp_(max=(size - 1).clamp(min=0))
            picked = pool.entities[(start + offset).clamp_(max=pool.entities.numel() - 1)]
            ents = torch.where(use, picked, ents)
        return ents

    def sample(self, positives: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Negatives ``[B, k, 3]`` and a bool ``[B, k]`` mask of the valid ones."""
        pos = positives.to(self.device)
        batch = pos.shape[0]
        neg = pos.unsqueeze(1).expand(batch, self.num_negatives, 3).clone()
        rel = neg[..., 1]
        corrupt_head = torch.rand(rel.shape, device=self.device, generator=generator) < self.head_prob[rel]
        valid = torch.ones(rel.shape, dtype=torch.bool, device=self.device)
        todo = valid  # positions still to (re)draw
        for attempt in range(self.max_resample + 1):
            rows = todo.nonzero(as_tuple=True)
            ents = self._draw(rel[rows], corrupt_head[rows], generator)
            sub = neg[rows]
            sub[:, HEAD] = torch.where(corrupt_head[rows], ents, sub[:, HEAD])
            sub[:, TAIL] = torch.where(corrupt_head[rows], sub[:, TAIL], ents)
            neg[rows] = sub
            if self.known is None:
                break
            hit = torch.zeros_like(valid)
            hit[rows] = is_known(self.known, sub)
            todo = hit
            if not bool(todo.any()) or attempt == self.max_resample:
                break
        if self.known is not None:
            valid = ~todo
        return neg, valid
