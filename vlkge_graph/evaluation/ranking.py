"""Filtered link-prediction ranking, vectorised over blocks of queries.

Each block scores B queries against every entity (a B x num_entities matrix, never entities x
entities), counts the entities scoring above / at least as high as the true answer, then subtracts
the known true answers found through a :class:`FilterIndex` (a sparse correction: the score matrix is
never written to) and, with candidate pools, ignores entities outside the relation's pool.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from rich.console import Console

from vlkge_graph.core import DIRECTIONS
from vlkge_graph.evaluation.index import (
    FILTER_MODES,
    CandidatePools,
    FilterIndex,
    direction_columns,
)
from vlkge_graph.evaluation.metrics import TIE_POLICIES, RankingResult
from vlkge_graph.progress import progress as tracked

#: ``score_fn(queries [B, 3], direction) -> scores [B, num_entities]``, higher is more plausible; row b
#: scores every entity as the replaced head (``"head"``) or tail (``"tail"``) of ``queries[b]``.
ScoreFn = Callable[[torch.Tensor, str], torch.Tensor]

#: Score-matrix elements per block when no block size is given (128 MiB of float32).
DEFAULT_BLOCK_ELEMENTS = 2**25
#: Entity counts up to which float32 sums of 0/1 are exact; above it counting runs in float64.
FLOAT32_EXACT_COUNT = 2**24


def default_block_size(num_entities: int, budget: int = DEFAULT_BLOCK_ELEMENTS) -> int:
    """Queries per block so that one block's score matrix stays within ``budget`` elements."""
    return max(1, budget // max(1, num_entities))


def counting_dtype(num_entities: int) -> torch.dtype:
    """Float type whose sums of 0/1 over ``num_entities`` columns are exact integers."""
    return torch.float32 if num_entities < FLOAT32_EXACT_COUNT else torch.float64


def _buffer_for(scores: torch.Tensor, workspace: torch.Tensor | None) -> torch.Tensor:
    """A counting buffer shaped like ``scores``: a view of ``workspace`` when that fits, else new."""
    dtype = counting_dtype(scores.shape[1])
    fits = (workspace is not None and workspace.numel() >= scores.numel()
            and workspace.dtype == dtype and workspace.device == scores.device)
    if not fits:
        return torch.empty(scores.shape, dtype=dtype, device=scores.device)
    return workspace.view(-1)[: scores.numel()].view(scores.shape)


def _count_per_row(
    compare: Callable[..., torch.Tensor],
    scores: torch.Tensor,
    true: torch.Tensor,
    allowed: torch.Tensor | None,
    buffer: torch.Tensor,
) -> torch.Tensor:
    """Per row, how many (allowed) scores satisfy ``compare(score, true score)``.

    The comparison is written as 0/1 into a float buffer and summed by a matrix-vector product: on the
    CPU several times faster than summing a bool tensor, and a reused buffer avoids page-faulting a
    fresh one per block. Exact, since the sums are integers below 2**24 (float32) or 2**53 (float64).
    """
    compare(scores, true, out=buffer)
    if allowed is not None:
        buffer.mul_(allowed)
    return (buffer @ buffer.new_ones(buffer.shape[1])).round_().long()


def rank_block(
    scores: torch.Tensor,
    targets: torch.Tensor,
    known: tuple[torch.Tensor, torch.Tensor] | None = None,
    allowed: torch.Tensor | None = None,
    *,
    workspace: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Optimistic rank, pessimistic rank and number of candidates of each row's true answer.

    ``scores`` [B, E]; ``targets`` [B] true answer per row; ``known`` (row, entity) pairs to filter
    out (the true answer itself is never filtered); ``allowed`` [B, E] candidate mask (the true answer
    always counts as a candidate); ``workspace`` a reusable buffer of at least B * E elements of
    :func:`counting_dtype`.
    """
    num_rows, num_entities = scores.shape
    rows = torch.arange(num_rows, device=scores.device)
    true = scores[rows, targets].unsqueeze(1)
    if torch.isnan(true).any():
        raise ValueError("score_fn gave NaN scores to true answers; their ranks would be meaningless")
    if allowed is None:
        options = torch.full((num_rows,), num_entities, dtype=torch.long, device=scores.device)
    else:
        allowed = allowed.clone()
        allowed[rows, targets] = True
        options = allowed.sum(1)
    buffer = _buffer_for(scores, workspace)
    n_better = _count_per_row(torch.gt, scores, true, allowed, buffer)
    n_at_least = _count_per_row(torch.ge, scores, true, allowed, buffer)
    if known is not None:
        k_rows, k_ents = known
        keep = k_ents != targets[k_rows]
        if allowed is not None:
            keep &= allowed[k_rows, k_ents]
        k_rows, k_ents = k_rows[keep], k_ents[keep]
        k_scores, k_true = scores[k_rows, k_ents], true[k_rows, 0]
        n_better -= torch.bincount(k_rows[k_scores > k_true], minlength=num_rows)
        n_at_least -= torch.bincount(k_rows[k_scores >= k_true], minlength=num_rows)
        options -= torch.bincount(k_rows, minlength=num_rows)
    return n_better + 1, n_at_least, options


def _pools_by_direction(
    candidates: CandidatePools | Sequence[CandidatePools] | None,
) -> dict[str, CandidatePools]:
    if candidates is None:
        return {}
    pools = [candidates] if isinstance(candidates, CandidatePools) else list(candidates)
    by_dir = {p.direction: p for p in pools}
    if len(by_dir) != len(pools):
        raise ValueError("at most one candidate pool per direction")
    return by_dir


@dataclass(frozen=True)
class ScoredBlock:
    """One block of queries scored against every entity, with what filtering and pools say about it."""

    direction: str
    queries: torch.Tensor  # [B, 3] the evaluated triples
    targets: torch.Tensor  # [B] each query's true answer
    scores: torch.Tensor  # [B, num_entities]
    known: tuple[torch.Tensor, torch.Tensor] | None  # (row, entity) known true answers (the filter)
    allowed: torch.Tensor | None  # [B, num_entities] candidate-pool mask, None: every entity


def score_blocks(
    score_fn: ScoreFn,
    triples: torch.Tensor,
    filter_index: FilterIndex | None,
    num_entities: int | None = None,
    *,
    directions: Sequence[str] = DIRECTIONS,
    filter_mode: str = "strict",
    block_size: int | None = None,
    candidates: CandidatePools | Sequence[CandidatePools] | None = None,
    device: torch.device | str | None = None,
    progress: bool = False,
    console: Console | None = None,
    label: str = "scoring",
) -> Iterator[ScoredBlock]:
    """Every (triple, direction) query of ``triples`` scored against all entities, block by block.

    The one scoring loop of evaluation: ranking (:func:`rank_queries`) and probability calibration
    (``evaluation/calibration.py``) read the same scores, filter and pools. Arguments as in
    :func:`rank_queries`. Callers iterate it under ``torch.inference_mode`` (a generator must not set that
    thread-wide mode itself: abandoned midway, it would restore a stale mode whenever it is collected).
    """
    if filter_mode not in FILTER_MODES:
        raise ValueError(f"filter_mode must be one of {FILTER_MODES}, not {filter_mode!r}")
    if filter_mode != "none" and filter_index is None:
        raise ValueError(f"filter_mode={filter_mode!r} needs a filter_index")
    if num_entities is None:
        if filter_index is None:
            raise ValueError("num_entities is required without a filter_index")
        num_entities = filter_index.num_entities
    if filter_index is not None and filter_index.num_entities != num_entities:
        raise ValueError(f"filter index has {filter_index.num_entities} entities, not {num_entities}")
    for d in directions:
        direction_columns(d)
    device = torch.device(device) if device is not None else torch.device("cpu")
    triples = torch.as_tensor(triples, dtype=torch.long).reshape(-1, 3).to(device)
    if len(triples) and (triples.min() < 0 or triples[:, [0, 2]].max() >= num_entities):
        raise ValueError(f"triples name entity ids outside [0, {num_entities})")
    index = filter_index.to(device) if filter_index is not None and filter_mode != "none" else None
    pools = {d: p.to(device) for d, p in _pools_by_direction(candidates).items()}
    block = block_size or default_block_size(num_entities)
    with tracked(label, len(triples) * len(directions), console=console, enabled=progress) as bar:
        for direction in directions:
            _, answer_col = direction_columns(direction)
            for start in range(0, len(triples), block):
                queries = triples[start:start + block]
                scores = score_fn(queries, direction)
                if scores.shape != (len(queries), num_entities):
                    raise ValueError(f"score_fn returned {tuple(scores.shape)}, "
                                     f"expected {(len(queries), num_entities)}")
                known = index.answers(queries, direction, filter_mode) if index is not None else None
                pool = pools.get(direction)
                allowed = pool.mask(queries[:, 1], num_entities) if pool is not None else None
                yield ScoredBlock(direction, queries, queries[:, answer_col], scores, known, allowed)
                bar.advance(len(queries))


def rank_queries(
    score_fn: ScoreFn,
    triples: torch.Tensor,
    filter_index: FilterIndex | None,
    num_entities: int | None = None,
    *,
    directions: Sequence[str] = DIRECTIONS,
    filter_mode: str = "strict",
    ties: str = "realistic",
    block_size: int | None = None,
    candidates: CandidatePools | Sequence[CandidatePools] | None = None,
    device: torch.device | str | None = None,
    relation_names: Sequence[str] | None = None,
    progress: bool = False,
    console: Console | None = None,
) -> RankingResult:
    """Rank the true answer of every (triple, direction) query among all entities.

    ``filter_index`` should hold every known true triple (all splits, including ``triples``);
    ``filter_mode`` is ``"strict"`` (per direction, the standard protocol), ``"mixed"`` (the VL-KGE
    reference code's pooled head/tail filter, see :class:`FilterIndex`) or ``"none"`` (raw ranks).
    ``candidates`` restricts the answers of a direction to its relation's pool (WikiArt protocol).
    ``ties`` only selects the policy the result reports by default; all three stay available.
    ``device`` is where queries are sent to ``score_fn`` and ranks are counted: the scorer's device
    (CUDA when the model is there; CPU by default). The returned ranks are on the CPU. ``progress``: a bar
    (or plain lines) on ``console``, default stderr.
    """
    if ties not in TIE_POLICIES:
        raise ValueError(f"ties must be one of {TIE_POLICIES}, not {ties!r}")
    blocks = score_blocks(score_fn, triples, filter_index, num_entities, directions=directions,
                          filter_mode=filter_mode, block_size=block_size, candidates=candidates, device=device,
                          progress=progress, console=console, label="ranking")
    parts: list[tuple[torch.Tensor, ...]] = []
    workspace: torch.Tensor | None = None
    with torch.inference_mode():
        for b in blocks:
            if workspace is None:  # sized by the first (largest) block, reused by the others
                workspace = torch.empty(b.scores.numel(), dtype=counting_dtype(b.scores.shape[1]),
                                        device=b.scores.device)
            opt, pess, options = rank_block(b.scores, b.targets, b.known, b.allowed, workspace=workspace)
            dir_ids = torch.full_like(b.targets, DIRECTIONS.index(b.direction))
            parts.append((b.queries, dir_ids, opt, pess, options))

    if parts:
        columns = [torch.cat(c).cpu() for c in zip(*parts, strict=True)]
    else:
        columns = [torch.empty(0, 3, dtype=torch.long)] + [torch.empty(0, dtype=torch.long)] * 4
    queries, dir_ids, opt, pess, options = columns
    return RankingResult(queries, dir_ids, opt, pess, options, filter_mode=filter_mode, ties=ties,
                         relation_names=relation_names)
