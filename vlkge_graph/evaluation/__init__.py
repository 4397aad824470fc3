"""Filtered link-prediction evaluation: ranking, metrics and the zero-shot VLM baseline."""

from vlkge_graph.evaluation.index import FILTER_MODES, CandidatePools, FilterIndex
from vlkge_graph.evaluation.metrics import (
    MODALITY_BUCKETS,
    TIE_POLICIES,
    RankingResult,
    grouped,
    modality_bucket_ids,
    summarize,
)
from vlkge_graph.evaluation.ranking import ScoreFn, rank_block, rank_queries
from vlkge_graph.evaluation.zero_shot import ZeroShotScorer, zero_shot_evaluate

__all__ = [
    "FILTER_MODES",
    "MODALITY_BUCKETS",
    "TIE_POLICIES",
    "CandidatePools",
    "FilterIndex",
    "RankingResult",
    "ScoreFn",
    "ZeroShotScorer",
    "grouped",
    "modality_bucket_ids",
    "rank_block",
    "rank_queries",
    "summarize",
    "zero_shot_evaluate",
]
