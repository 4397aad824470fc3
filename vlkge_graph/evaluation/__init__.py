"""Filtered link-prediction evaluation: ranking, metrics and the zero-shot VLM baseline."""

from vlkge_graph.evaluation.index import DIRECTIONS, FILTER_MODES, CandidatePools, FilterIndex
from vlkge_graph.evaluation.metrics import (
    MODALITY_BUCKETS,
    TIE_POLICIES,
    RankingResult,
    grouped,
    modality_bucket_ids,
    summarize,
)
from vlkge_graph.evaluation.ranking import ScoreFn, evaluate, rank_block
from vlkge_graph.evaluation.zero_shot import ZeroShotScorer, zero_shot_evaluate

__all__ = [
    "DIRECTIONS",
    "FILTER_MODES",
    "MODALITY_BUCKETS",
    "TIE_POLICIES",
    "CandidatePools",
    "FilterIndex",
    "RankingResult",
    "ScoreFn",
    "ZeroShotScorer",
    "evaluate",
    "grouped",
    "modality_bucket_ids",
    "rank_block",
    "summarize",
    "zero_shot_evaluate",
]
