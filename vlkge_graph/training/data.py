"""A TableSet turned into what training needs: id maps, LongTensors per split, known-triple indexes.

Everything downstream works on integer ids; the string ids stay here so checkpoints and predictions
can be mapped back. Entity and relation order is the table order, which is also the row order of
feature matrices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from vlkge_graph.errors import DataError
from vlkge_graph.etl.tables import SPLITS, TableSet
from vlkge_graph.evaluation.index import CandidatePools, FilterIndex


@dataclass(frozen=True)
class TrainingData:
    """Integer-coded triples of one dataset.

    ``splits`` maps ``train`` / ``valid`` / ``test`` to ``[n, 3]`` LongTensors of (head, relation, tail).
    """

    name: str
    entity_ids: Sequence[str]
    relation_ids: Sequence[str]
    splits: dict[str, Tensor]
    #: Triples known to be false (rejected candidates): pushed down in training, never proposed.
    hard_negatives: Tensor = field(default_factory=lambda: torch.empty(0, 3, dtype=torch.long))

    @classmethod
    def from_tables(cls, tables: TableSet, relation_ids: Sequence[str] | None = None) -> TrainingData:
        """Code a validated TableSet (vectorised through pandas indexes, no per-row Python).

        ``relation_ids``: a fixed relation order (a trained model's); triples of other relations are left out.
        """
        tables.validate()
        entities = pd.Index(tables.entities["id"].astype(str))
        relations = pd.Index(tables.relations["relation"].astype(str) if relation_ids is None else list(relation_ids))
        if relations.has_duplicates:
            raise DataError(f"{tables.name}: duplicate relation names in the relation table")
        triples = tables.triples
        codes = np.stack([entities.get_indexer(triples["head"].astype(str)),
                          relations.get_indexer(triples["relation"].astype(str)),
                          entities.get_indexer(triples["tail"].astype(str))], axis=1).astype(np.int64)
        known = (codes >= 0).all(axis=1)  # all, unless relation_ids leaves some out
        coded = torch.from_numpy(codes[known]).reshape(-1, 3)
        split = triples["split"].to_numpy()[known]
        splits = {s: coded[torch.as_tensor(split == s)] for s in SPLITS}
        return cls(tables.name, list(entities), list(relations), splits)

    def with_hard_negatives(self, triples: pd.DataFrame) -> TrainingData:
        """The same data with ``triples`` (head, relation, tail names) as hard negatives; rows naming
        entities or relations this data lacks are dropped (they may have been deleted since)."""
        entities = pd.Index(list(self.entity_ids))
        relations = pd.Index(list(self.relation_ids))
        codes = pd.DataFrame({"h": entities.get_indexer(triples["head"].astype(str)),
                              "r": relations.get_indexer(triples["relation"].astype(str)),
                              "t": entities.get_indexer(triples["tail"].astype(str))})
        codes = codes[(codes >= 0).all(axis=1)]
        return replace(self, hard_negatives=torch.tensor(codes.to_numpy(), dtype=torch.long).reshape(-1, 3))

    @property
    def num_entities(self) -> int:
        return len(self.entity_ids)

    @property
    def num_relations(self) -> int:
        return len(self.relation_ids)

    @property
    def train(self) -> Tensor:
        return self.splits["train"]

    def seen(self) -> Tensor:
        """Bool per entity: does it occur in a training triple (else it is embedded inductively)?"""
        mask = torch.zeros(self.num_entities, dtype=torch.bool)
        mask[self.train[:, 0]] = True
        mask[self.train[:, 2]] = True
        return mask

    def filter_index(self, splits: Sequence[str] = SPLITS) -> FilterIndex:
        """Known true triples of ``splits`` (all of them for filtered evaluation, train for sampling)."""
        return FilterIndex.from_triples([self.splits[s] for s in splits], self.num_entities, self.num_relations)

    def candidate_pools(self, direction: str, splits: Sequence[str] = ("train",)) -> CandidatePools:
        """Per relation, the answers seen in ``splits`` at the ``direction`` end (WikiArt protocol)."""
        return CandidatePools.from_triples([self.splits[s] for s in splits], self.num_relations, direction)

    def kvsall_queries(self, sides: Sequence[str] = ("head", "tail")) -> tuple[Tensor, Tensor]:
        """Distinct training queries for k-vs-all: one real triple per (anchor, relation, direction)
        and its direction id into ``("head", "tail")``; the answers come from the training index."""
        train = self.train
        triples, directions = [], []
        for d, side in enumerate(("head", "tail")):
            if side not in sides:
                continue
            anchor = train[:, 2] if side == "head" else train[:, 0]
            keys = anchor * self.num_relations + train[:, 1]
            _, inverse = torch.unique(keys, return_inverse=True)
            first = torch.full((int(inverse.max()) + 1,), len(train), dtype=torch.long)
            first.scatter_reduce_(0, inverse, torch.arange(len(train)), reduce="amin")
            triples.append(train[first])
            directions.append(torch.full((len(first),), d, dtype=torch.long))
        return torch.cat(triples), torch.cat(directions)

    def summary(self) -> dict[str, int]:
        return {"entities": self.num_entities, "relations": self.num_relations,
                **{s: len(t) for s, t in self.splits.items()}}
