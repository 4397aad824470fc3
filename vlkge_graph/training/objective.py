"""Model + loss as one module, so the whole training step is a single ``forward`` (what DDP wraps)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vlkge_graph.core import DIRECTIONS
from vlkge_graph.evaluation.index import FilterIndex
from vlkge_graph.models.kge import KGEModel
from vlkge_graph.training import losses
from vlkge_graph.training.recipe import TrainingSpec
from vlkge_graph.training.sampling import Corruptions

#: Training modes -> the losses that fit them (recipe validation reads this table).
MODES: dict[str, dict[str, object]] = {"negatives": losses.NEGATIVE_LOSSES, "1vsall": losses.ALL_ENTITY_LOSSES,
                                       "kvsall": losses.ALL_ENTITY_LOSSES}


class Objective(nn.Module):
    """Training loss of a batch for the recipe's mode.

    - ``negatives``: ``forward(positives [B, 3], corruptions)`` (a :class:`Corruptions` from the sampler).
    - ``1vsall``: ``forward(positives)``; every positive is a query per side, its answer the target.
    - ``kvsall``: ``forward(queries [B, 3], directions [B])`` (direction ids into ``("head", "tail")``);
      every known training answer of the query is a target, looked up in ``train_index``.
    """

    def __init__(self, model: KGEModel, spec: TrainingSpec, train_index: FilterIndex | None = None,
                 hard_negatives: Tensor | None = None) -> None:
        super().__init__()
        self.model = model
        self.spec = spec
        self.train_index = train_index
        self.hard_negatives = hard_negatives if hard_negatives is not None and len(hard_negatives) else None
        #: ``candidates: seen``: the scored entity ids and each entity's column among them (-1: not scored).
        seen = model.entities.seen if spec.candidates == "seen" and spec.mode != "negatives" else None
        self.candidate_ids: Tensor | None
        self.register_buffer("candidate_ids", None if seen is None else seen.nonzero().squeeze(1))
        self.register_buffer("column", None if seen is None else torch.cumsum(seen.long(), 0) - 1)

    def forward(self, batch: Tensor, negatives: Corruptions | None = None, extra: Tensor | None = None) -> Tensor:
        spec = self.spec
        if spec.mode == "negatives":
            if negatives is None:
                raise ValueError("negatives mode needs sampled negatives")
            loss = self._negatives(batch, negatives)
        elif spec.mode == "1vsall":
            loss = self._one_vs_all(batch)
        elif spec.mode == "kvsall":
            if extra is None:
                raise ValueError("kvsall mode needs a direction id per query")
            loss = self._k_vs_all(batch, extra)
        else:
            raise ValueError(f"unknown training mode {spec.mode!r}; choose one of {list(MODES)}")
        if self.hard_negatives is not None and spec.hard_negative_weight > 0:
            loss = loss + spec.hard_negative_weight * self._hard_negatives()
        if spec.regularizer != "none" and spec.regularization_weight > 0:
            loss = loss + spec.regularization_weight * losses.regularization(
                self._factors(batch), spec.regularizer, self.model.backbone.is_complex)
        return loss

    def _factors(self, batch: Tensor) -> tuple[Tensor, ...]:
        """Vectors the regulariser sees: the batch's triples and, when head queries are scored with
        reciprocal relations, their inverses ``(t, r + R, h)`` too (as Lacroix et al. do)."""
        h, r, t = self.model.embed(batch)
        if self.model.reciprocal and self.spec.mode != "negatives" and "head" in self.spec.sides:
            inverse = self.model.backbone.relation(batch[:, 1] + self.model.num_relations)
            return h, r, t, t, inverse, h
        return h, r, t

    def _negatives(self, positives: Tensor, negatives: Corruptions) -> Tensor:
        """Loss of positives against their corruptions, each corrupted end scored against the
        positive's query (:meth:`KGEModel.score_corruptions`), never as a rebuilt triple."""
        spec = self.spec
        pos, neg = self.model.score_corruptions(positives, negatives.entities, negatives.head, negatives.chunk,
                                                spec.sides)
        return losses.NEGATIVE_LOSSES[spec.loss](pos.float(), neg.float(), negatives.valid, spec)

    def _hard_negatives(self) -> Tensor:
        """Logistic loss of curated false triples (label -1): at most a batch of them per step."""
        hard = self.hard_negatives
        assert hard is not None
        if len(hard) > self.spec.batch_size:
            hard = hard[torch.randint(len(hard), (self.spec.batch_size,), device=hard.device)]
        return nn.functional.softplus(self.model(hard).float()).mean()

    def _all_entities(self, scores: Tensor, targets: Tensor) -> Tensor:
        return losses.ALL_ENTITY_LOSSES[self.spec.loss](scores, targets, self.spec)

    def _candidates(self) -> Tensor:
        """Vectors of the entities each query is scored against (all, or the seen ones)."""
        if self.candidate_ids is None:
            return self.model.entity_vectors()
        return self.model.entities(self.candidate_ids)

    def _columns(self, entities: Tensor) -> Tensor:
        """Candidate columns of entity ids (training answers are always seen, so always scored)."""
        return entities if self.candidate_ids is None else self.column[entities]

    def _sampled(self, positives: Tensor) -> Tensor:
        """``candidate_sample``: the sorted ids of the batch's answers and of that many entities drawn
        uniformly from the candidates (seen or all)."""
        pool = self.candidate_ids
        size = self.model.num_entities if pool is None else len(pool)
        drawn = torch.randint(size, (self.spec.candidate_sample,), device=positives.device)
        drawn = drawn if pool is None else pool[drawn]
        return torch.unique(torch.cat([positives[:, [0, 2]].reshape(-1), drawn]))

    def _one_vs_all(self, positives: Tensor) -> Tensor:
        ids = self._sampled(positives) if self.spec.candidate_sample else None
        candidates = self._candidates() if ids is None else self.model.entities(ids)
        total = candidates.new_zeros(())
        for direction in self.spec.sides:
            scores = self.model.score_queries(positives, direction, candidates)
            answers = positives[:, 0 if direction == "head" else 2]
            answers = self._columns(answers) if ids is None else torch.searchsorted(ids, answers.contiguous())
            total = total + self._all_entities(scores.float(), answers)
        return total

    def _k_vs_all(self, queries: Tensor, directions: Tensor) -> Tensor:
        if self.train_index is None:
            raise ValueError("kvsall mode needs the training filter index")
        candidates = self._candidates()
        total = candidates.new_zeros(())
        for d, direction in enumerate(DIRECTIONS):
            rows = (directions == d).nonzero(as_tuple=True)[0]
            if rows.numel() == 0:
                continue
            block = queries[rows]
            scores = self.model.score_queries(block, direction, candidates).float()
            targets = torch.zeros_like(scores)
            ans_rows, answers = self.train_index.answers(block, direction)
            targets[ans_rows, self._columns(answers)] = 1.0
            total = total + self._all_entities(scores, targets)
        return total
