"""The paper's zero-shot VLM baseline: rank prompted candidate names by cosine to the query's image.

For relation r with template ``"This painting has the style {}"``, every candidate tail in r's pool is
rendered into the prompt and encoded once by the caller's text encoder (the VLM's text tower, so the
texts share the image features' space); a tail query (h, r, ?) scores candidate t by
``cos(image(h), text(prompt_r(t)))``. No training, hence a floor every VL-KGE model must beat.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import pairwise

import torch
import torch.nn.functional as F

from vlkge_graph.evaluation.index import CandidatePools, FilterIndex
from vlkge_graph.evaluation.metrics import RankingResult
from vlkge_graph.evaluation.ranking import rank_queries

#: ``encode_texts(texts) -> features [len(texts), d]`` in the image features' space.
TextEncoder = Callable[[list[str]], torch.Tensor]


class ZeroShotScorer:
    """A tail-direction ``score_fn`` for :func:`evaluate`: cosine of query image and prompted pool texts.

    Entities outside the relation's pool score ``-inf``. A query entity without an image (a zero row
    in ``image_features``) scores 0 against every candidate, i.e. all candidates tie.
    """

    def __init__(
        self,
        image_features: torch.Tensor,
        prompts: Sequence[str] | Mapping[int, str],
        entity_names: Sequence[str],
        pools: CandidatePools,
        encode_texts: TextEncoder,
        *,
        batch_size: int = 256,
        device: torch.device | str | None = None,
    ) -> None:
        if pools.direction != "tail":
            raise ValueError("the zero-shot baseline ranks tails; give tail candidate pools")
        self.device = torch.device(device) if device is not None else image_features.device
        self.num_entities = len(image_features)
        self.pools = pools.to(self.device)
        self.images = F.normalize(image_features.float(), dim=1).to(self.device)
        self.texts = self._encode_pools(prompts, entity_names, encode_texts, batch_size)
        if self.texts.shape[1] != self.images.shape[1]:
            raise ValueError(f"text features have {self.texts.shape[1]} dims, images {self.images.shape[1]}")

    def _encode_pools(
        self,
        prompts: Sequence[str] | Mapping[int, str],
        entity_names: Sequence[str],
        encode_texts: TextEncoder,
        batch_size: int,
    ) -> torch.Tensor:
        """Normalised text features of every (relation, pool entity) prompt, in pool (CSR) order."""
        indptr = self.pools.indptr.tolist()
        entities = self.pools.entities.tolist()
        texts: list[str] = []
        for relation, (lo, hi) in enumerate(pairwise(indptr)):
            if lo == hi:
                continue
            if isinstance(prompts, Mapping) and relation not in prompts:
                raise ValueError(f"no prompt template for relation {relation}")
            texts.extend(prompts[relation].format(entity_names[e]) for e in entities[lo:hi])
        chunks = []
        with torch.inference_mode():
            for i in range(0, len(texts), batch_size):
                chunks.append(torch.as_tensor(encode_texts(texts[i:i + batch_size])).float().to(self.device))
        feats = torch.cat(chunks) if chunks else torch.empty(0, self.images.shape[1], device=self.device)
        return F.normalize(feats, dim=1)

    def __call__(self, queries: torch.Tensor, direction: str) -> torch.Tensor:
        """Scores [B, num_entities] of every entity as the tail of each query."""
        if direction != "tail":
            raise ValueError("the zero-shot baseline only ranks tails")
        scores = torch.full((len(queries), self.num_entities), float("-inf"), device=self.device)
        query_images = self.images[queries[:, 0]]
        for relation in torch.unique(queries[:, 1]).tolist():
            rows = (queries[:, 1] == relation).nonzero().squeeze(1)
            lo, hi = self.pools.indptr[relation].item(), self.pools.indptr[relation + 1].item()
            sims = query_images[rows] @ self.texts[lo:hi].T
            scores[rows.unsqueeze(1), self.pools.entities[lo:hi].unsqueeze(0)] = sims
        return scores


def zero_shot_evaluate(
    image_features: torch.Tensor,
    prompts: Sequence[str] | Mapping[int, str],
    entity_names: Sequence[str],
    triples: torch.Tensor,
    pools: CandidatePools,
    encode_texts: TextEncoder,
    *,
    filter_index: FilterIndex | None = None,
    filter_mode: str | None = None,
    ties: str = "realistic",
    block_size: int | None = None,
    device: torch.device | str | None = None,
    relation_names: Sequence[str] | None = None,
) -> RankingResult:
    """Tail ranks of ``triples`` under the zero-shot baseline, among each relation's candidate pool.

    The true tail always counts as a candidate; if it is not in the pool it has no prompt and ranks
    last. Filtering is strict when ``filter_index`` is given, none otherwise, unless ``filter_mode`` says.
    """
    scorer = ZeroShotScorer(image_features, prompts, entity_names, pools, encode_texts, device=device)
    mode = filter_mode or ("strict" if filter_index is not None else "none")
    return rank_queries(scorer, triples, filter_index, scorer.num_entities, directions=("tail",),
                    filter_mode=mode, ties=ties, block_size=block_size, candidates=pools,
                    device=scorer.device, relation_names=relation_names)
