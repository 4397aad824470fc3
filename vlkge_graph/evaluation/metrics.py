"""Rank-based metrics (MRR, mean rank, Hits@k) from per-query ranks, overall and per group.

Ranks are kept as the optimistic / pessimistic pair so any tie policy can be reported afterwards;
``realistic`` is their mean, the expected rank under a random order of tied scores (as in PyKEEN).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import torch
from rich.table import Table

from vlkge_graph.core import DIRECTIONS

TIE_POLICIES = ("realistic", "optimistic", "pessimistic")
DEFAULT_KS = (1, 3, 10)
#: Names of the ids returned by :func:`modality_bucket_ids`.
MODALITY_BUCKETS = ("none", "image", "text", "both")


def tie_ranks(optimistic: torch.Tensor, pessimistic: torch.Tensor, ties: str = "realistic") -> torch.Tensor:
    """Float64 ranks under a tie policy."""
    if ties == "optimistic":
        return optimistic.double()
    if ties == "pessimistic":
        return pessimistic.double()
    if ties == "realistic":
        return (optimistic + pessimistic).double() * 0.5
    raise ValueError(f"ties must be one of {TIE_POLICIES}, not {ties!r}")


def summarize(ranks: torch.Tensor, ks: Sequence[int] = DEFAULT_KS) -> dict[str, float]:
    """Count, MRR, mean rank and Hits@k of a set of ranks (NaN metrics for an empty set)."""
    ranks = ranks.double()
    out: dict[str, float] = {"count": int(ranks.numel())}
    out["mrr"] = ranks.reciprocal().mean().item()
    out["mr"] = ranks.mean().item()
    for k in ks:
        out[f"hits@{k}"] = (ranks <= k).double().mean().item()
    return out


def grouped(
    ranks: torch.Tensor,
    group_ids: torch.Tensor,
    names: Sequence[str] | None = None,
    ks: Sequence[int] = DEFAULT_KS,
) -> dict[str, dict[str, float]]:
    """Metrics per group id; groups with no query are left out, names default to the id."""
    group_ids = torch.as_tensor(group_ids, device=ranks.device)
    if group_ids.shape != ranks.shape:
        raise ValueError(f"need one group id per query: {tuple(group_ids.shape)} vs {tuple(ranks.shape)}")
    out = {}
    for gid in torch.unique(group_ids).tolist():
        name = names[gid] if names is not None else str(gid)
        out[name] = summarize(ranks[group_ids == gid], ks)
    return out


def modality_bucket_ids(has_image: torch.Tensor, has_text: torch.Tensor) -> torch.Tensor:
    """Per-entity bucket id into :data:`MODALITY_BUCKETS` (none, image, text, both)."""
    return has_image.long() + 2 * has_text.long()


@dataclass(frozen=True, eq=False)
class RankingResult:
    """Ranks of every evaluated query plus what is needed to slice them (direction, relation, target).

    ``queries`` holds the evaluated triple of each query, ``direction`` an index into
    ``("head", "tail")``; ``num_candidates`` counts the entities the answer was ranked among (after
    filtering and candidate pools), for adjusted metrics.
    """

    queries: torch.Tensor
    direction: torch.Tensor
    optimistic: torch.Tensor
    pessimistic: torch.Tensor
    num_candidates: torch.Tensor
    filter_mode: str = "strict"
    ties: str = "realistic"
    relation_names: Sequence[str] | None = None

    def __post_init__(self) -> None:
        if self.ties not in TIE_POLICIES:
            raise ValueError(f"ties must be one of {TIE_POLICIES}, not {self.ties!r}")

    def __len__(self) -> int:
        return len(self.optimistic)

    @property
    def targets(self) -> torch.Tensor:
        """The true answer entity of each query."""
        return torch.where(self.direction == DIRECTIONS.index("tail"), self.queries[:, 2], self.queries[:, 0])

    @property
    def anchors(self) -> torch.Tensor:
        """The given (not ranked) entity of each query."""
        return torch.where(self.direction == DIRECTIONS.index("tail"), self.queries[:, 0], self.queries[:, 2])

    def ranks(self, ties: str | None = None) -> torch.Tensor:
        """Float64 ranks under ``ties`` (default: this result's policy)."""
        return tie_ranks(self.optimistic, self.pessimistic, ties or self.ties)

    def select(self, mask: torch.Tensor) -> RankingResult:
        """The subset of queries where ``mask`` is true (e.g. one direction)."""
        kw = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("queries", "direction", "optimistic", "pessimistic", "num_candidates"):
            kw[name] = kw[name][mask]
        return RankingResult(**kw)

    @classmethod
    def concat(cls, results: Sequence[RankingResult]) -> RankingResult:
        """Join results of several evaluation calls (same protocol) into one."""
        first = results[0]
        tensors = {
            name: torch.cat([getattr(r, name) for r in results])
            for name in ("queries", "direction", "optimistic", "pessimistic", "num_candidates")
        }
        return cls(**tensors, filter_mode=first.filter_mode, ties=first.ties,
                   relation_names=first.relation_names)

    def summary(self, ties: str | None = None, ks: Sequence[int] = DEFAULT_KS) -> dict[str, float]:
        """Overall metrics."""
        return summarize(self.ranks(ties), ks)

    def by_direction(self, ties: str | None = None, ks: Sequence[int] = DEFAULT_KS) -> dict:
        """Metrics of head and of tail queries."""
        return grouped(self.ranks(ties), self.direction, DIRECTIONS, ks)

    def by_relation(self, ties: str | None = None, ks: Sequence[int] = DEFAULT_KS) -> dict:
        """Metrics per relation (the paper's Figure 4), keyed by name when names are known."""
        return grouped(self.ranks(ties), self.queries[:, 1], self.relation_names, ks)

    def by_group(
        self,
        group_ids: torch.Tensor,
        names: Sequence[str] | None = None,
        ties: str | None = None,
        ks: Sequence[int] = DEFAULT_KS,
    ) -> dict:
        """Metrics per caller-given group id per query, e.g. ``bucket_of_entity[result.targets]``."""
        return grouped(self.ranks(ties), group_ids, names, ks)

    def to_dict(
        self,
        groups: Mapping[str, tuple[torch.Tensor, Sequence[str] | None]] | None = None,
        ks: Sequence[int] = DEFAULT_KS,
    ) -> dict:
        """JSON-ready metrics: protocol, overall, per direction, per relation, per named grouping."""
        out = {
            "protocol": {"filter": self.filter_mode, "ties": self.ties},
            "overall": self.summary(ks=ks),
            "per_direction": self.by_direction(ks=ks),
            "per_relation": self.by_relation(ks=ks),
        }
        if groups:
            out["groups"] = {key: self.by_group(ids, names, ks=ks) for key, (ids, names) in groups.items()}
        return out

    def table(
        self,
        title: str | None = None,
        groups: Mapping[str, tuple[torch.Tensor, Sequence[str] | None]] | None = None,
        ks: Sequence[int] = DEFAULT_KS,
    ) -> Table:
        """A rich table of :meth:`to_dict`, one row per slice."""
        data = self.to_dict(groups, ks)
        caption = f"filter={self.filter_mode}, ties={self.ties}"
        table = Table(title=title or "Link prediction", caption=caption)
        for col in ("slice", "queries", "MRR", "MR", *(f"H@{k}" for k in ks)):
            table.add_column(col, justify="left" if col == "slice" else "right")

        def row(label: str, m: Mapping[str, float], style: str | None = None) -> None:
            hits = (f"{m[f'hits@{k}']:.3f}" for k in ks)
            table.add_row(label, str(m["count"]), f"{m['mrr']:.4f}", f"{m['mr']:.1f}", *hits, style=style)

        row("all", data["overall"], style="bold")
        for name, m in data["per_direction"].items():
            row(name, m)
        for name, m in data["per_relation"].items():
            row(f"relation {name}", m)
        for key, buckets in data.get("groups", {}).items():
            for name, m in buckets.items():
                row(f"{key}: {name}", m)
        return table
