"""Sorted, CSR-like lookups of known answers, built once with torch ops and queried per block.

Filtered ranking must know, for each query, which other entities are also true answers; the reference
code asks a Python dict once per query. Here every known fact is one int64 code
``(anchor * num_relations + relation) * num_entities + answer`` in a sorted tensor, so a whole block of
queries finds its answers with two ``searchsorted`` calls and a ragged gather, without Python loops.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import torch

from vlkge_graph.core import DIRECTIONS

FILTER_MODES = ("strict", "mixed", "none")

_INT64_MAX = 2**63 - 1


def direction_columns(direction: str) -> tuple[int, int]:
    """(anchor column, answer column) of a triple for a query direction: tail queries ask (h, r, ?)."""
    if direction == "tail":
        return 0, 2
    if direction == "head":
        return 2, 0
    raise ValueError(f"direction must be one of {DIRECTIONS}, not {direction!r}")


def expand_ranges(starts: torch.Tensor, ends: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Flatten the index ranges ``[starts[i], ends[i])`` into (row ``i``, position) pairs, vectorised."""
    counts = ends - starts
    rows = torch.repeat_interleave(torch.arange(len(starts), device=starts.device), counts)
    offsets = torch.cumsum(counts, 0) - counts
    positions = torch.arange(len(rows), device=starts.device) - offsets[rows] + starts[rows]
    return rows, positions


def _as_triples(triples: torch.Tensor | Iterable[torch.Tensor]) -> torch.Tensor:
    parts = [triples] if isinstance(triples, torch.Tensor) else list(triples)
    parts = [torch.as_tensor(p, dtype=torch.long).reshape(-1, 3) for p in parts]
    return torch.cat(parts) if parts else torch.empty(0, 3, dtype=torch.long)


@dataclass(frozen=True)
class FilterIndex:
    """Known true triples (usually every split), keyed by (anchor entity, relation) -> answers.

    ``tail`` holds the codes of (h, r) -> t, ``head`` of (t, r) -> h; ``mixed`` pools both under one
    (entity, relation) key, which is what the VL-KGE reference code does: a tail query (h, r, ?) then
    also filters every x with (x, r, h) known, and a head query (?, r, t) every x with (t, r, x) known.
    Mixed filtering therefore removes a superset of the strict filter's entities, and its ranks are
    never worse than strict ranks.
    """

    num_entities: int
    num_relations: int
    tail: torch.Tensor
    head: torch.Tensor
    mixed: torch.Tensor

    @classmethod
    def from_triples(
        cls,
        triples: torch.Tensor | Iterable[torch.Tensor],
        num_entities: int,
        num_relations: int | None = None,
    ) -> FilterIndex:
        """Index one tensor of (h, r, t) ids or several (e.g. train, valid, test)."""
        known = _as_triples(triples)
        if num_relations is None:
            num_relations = int(known[:, 1].max()) + 1 if len(known) else 1
        if num_entities * num_relations * num_entities > _INT64_MAX:
            raise ValueError("num_entities**2 * num_relations overflows int64 codes")
        if len(known) and (known.min() < 0 or known[:, [0, 2]].max() >= num_entities):
            raise ValueError("known triples name entity ids outside [0, num_entities)")
        if len(known) and known[:, 1].max() >= num_relations:
            raise ValueError("known triples name relation ids outside [0, num_relations)")
        h, r, t = known.unbind(1)
        tail = torch.unique((h * num_relations + r) * num_entities + t)
        head = torch.unique((t * num_relations + r) * num_entities + h)
        mixed = torch.unique(torch.cat([tail, head]))
        return cls(num_entities, num_relations, tail, head, mixed)

    def to(self, device: torch.device | str) -> FilterIndex:
        """The same index with its code tensors on ``device``."""
        move = {name: getattr(self, name).to(device) for name in ("tail", "head", "mixed")}
        return replace(self, **move)

    def answers(
        self, queries: torch.Tensor, direction: str, mode: str = "strict"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Known answers of a block of queries as (query row, entity) pairs; includes the true answers."""
        if mode not in ("strict", "mixed"):
            raise ValueError(f"filter mode must be 'strict' or 'mixed' here, not {mode!r}")
        codes = self.mixed if mode == "mixed" else getattr(self, direction)
        anchor_col, _ = direction_columns(direction)
        keys = (queries[:, anchor_col] * self.num_relations + queries[:, 1]) * self.num_entities
        starts = torch.searchsorted(codes, keys)
        ends = torch.searchsorted(codes, keys + self.num_entities)
        rows, positions = expand_ranges(starts, ends)
        return rows, codes[positions] - keys[rows]


@dataclass(frozen=True)
class CandidatePools:
    """Per-relation pools of allowed answers for one query direction (WikiArt: a relation's tails).

    Stored as CSR: the pool of relation ``r`` is ``entities[indptr[r]:indptr[r + 1]]``, sorted.
    """

    indptr: torch.Tensor
    entities: torch.Tensor
    direction: str = "tail"

    @classmethod
    def from_triples(
        cls,
        triples: torch.Tensor | Iterable[torch.Tensor],
        num_relations: int,
        direction: str = "tail",
    ) -> CandidatePools:
        """Pools of every answer seen with each relation in ``triples`` (e.g. all splits, or train only)."""
        known = _as_triples(triples)
        _, answer_col = direction_columns(direction)
        return cls._from_pairs(known[:, 1], known[:, answer_col], num_relations, direction)

    @classmethod
    def from_mapping(
        cls, pools: Mapping[int, Sequence[int]], num_relations: int, direction: str = "tail"
    ) -> CandidatePools:
        """Pools given as ``{relation id: entity ids}``; relations not named have an empty pool."""
        rel = [torch.full((len(v),), int(k), dtype=torch.long) for k, v in pools.items()]
        ent = [torch.as_tensor(list(v), dtype=torch.long) for v in pools.values()]
        relations = torch.cat(rel) if rel else torch.empty(0, dtype=torch.long)
        entities = torch.cat(ent) if ent else torch.empty(0, dtype=torch.long)
        return cls._from_pairs(relations, entities, num_relations, direction)

    @classmethod
    def _from_pairs(
        cls, relations: torch.Tensor, entities: torch.Tensor, num_relations: int, direction: str
    ) -> CandidatePools:
        """Deduplicate and sort (relation, entity) pairs into CSR."""
        direction_columns(direction)
        if len(relations) and (relations.min() < 0 or relations.max() >= num_relations):
            raise ValueError("candidate pools name relation ids outside [0, num_relations)")
        if len(entities) and entities.min() < 0:
            raise ValueError("candidate pools name negative entity ids")
        width = int(entities.max()) + 1 if len(entities) else 1
        pairs = torch.unique(relations * width + entities)
        relations, entities = pairs // width, pairs % width
        counts = torch.bincount(relations, minlength=num_relations)
        indptr = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(counts, 0)])
        return cls(indptr, entities, direction)

    def to(self, device: torch.device | str) -> CandidatePools:
        """The same pools with their tensors on ``device``."""
        return replace(self, indptr=self.indptr.to(device), entities=self.entities.to(device))

    def sizes(self) -> torch.Tensor:
        """Pool size per relation."""
        return self.indptr[1:] - self.indptr[:-1]

    def mask(self, relations: torch.Tensor, num_entities: int) -> torch.Tensor:
        """Boolean [B, num_entities] membership of each query's relation pool (bounded by the block)."""
        rows, positions = expand_ranges(self.indptr[relations], self.indptr[relations + 1])
        mask = torch.zeros(len(relations), num_entities, dtype=torch.bool, device=relations.device)
        mask[rows, self.entities[positions]] = True
        return mask
