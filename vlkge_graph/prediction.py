"""Top-k link candidates per (entity, relation, direction), excluding links that already exist.

Scored blockwise (a block of queries against every entity at a time), so memory stays bounded and
an entities x entities matrix never exists. Label constraints keep candidates plausible: for a
relation, queries come only from entities whose label was seen at the query end of that relation,
and answers only from entities whose label was seen at the answer end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from rich.console import Console
from torch import Tensor

from vlkge_graph.core import BLOCK_ELEMENTS
from vlkge_graph.etl.tables import CANDIDATE_COLUMNS
from vlkge_graph.evaluation.calibration import Calibration, probability
from vlkge_graph.evaluation.index import FilterIndex, direction_columns
from vlkge_graph.models.kge import KGEModel
from vlkge_graph.progress import track
from vlkge_graph.training.data import TrainingData


@torch.no_grad()
def predict_links(model: KGEModel, data: TrainingData, entity_labels: Sequence[str], *,
                  relations: Sequence[str] | None = None, directions: Sequence[str] = ("tail",), k: int = 10,
                  min_score: float | None = None, constrain_labels: bool = True,
                  exclude: Sequence[Tensor] = (), calibration: Calibration | None = None,
                  device: str | torch.device = "cpu",
                  only: Mapping[tuple[str, str], Tensor] | None = None, answers: Tensor | None = None,
                  progress: bool = True, console: Console | None = None) -> pd.DataFrame:
    """Candidates as a DataFrame with CANDIDATE_COLUMNS (entity ids and relation names).

    Known facts of every split and the ``exclude`` triples (e.g. rejected candidates) are never
    proposed; nor are self-links. ``probability`` is the run's ``calibration`` of the score
    (evaluation/calibration.py; ``sigmoid(score)`` without one). ``only``: per (relation, direction),
    the query entities whose lists are wanted (a refresh recomputes the lists a change touched); others
    are skipped. ``answers``: rank only these entities (a refresh's new ones: the top k among them, to merge
    with the lists they may enter). ``progress``: per relation, a bar (or plain lines) on ``console``.
    """
    model = model.to(device).eval()
    known = [data.splits[s] for s in data.splits] + [torch.as_tensor(x).reshape(-1, 3) for x in exclude]
    index = FilterIndex.from_triples(known, data.num_entities, data.num_relations).to(device)
    all_known = torch.cat(known)
    labels = pd.Series(list(entity_labels))
    label_codes = torch.as_tensor(pd.factorize(labels)[0], device=device)
    vectors = model.entity_vectors()
    columns = torch.arange(data.num_entities, device=device) if answers is None else answers.to(device)
    wanted = data.relation_ids if relations is None else relations
    unknown = sorted(set(wanted) - set(data.relation_ids))
    if unknown:
        raise ValueError(f"cannot predict unknown relations {unknown}; the graph has {list(data.relation_ids)}")
    frames = []
    for name in track(wanted, "predicting links (relations)", console=console, enabled=progress):
        r = data.relation_ids.index(name)
        facts = all_known[all_known[:, 1] == r].to(device)
        for direction in directions:
            anchor_col, answer_col = direction_columns(direction)
            anchors = torch.arange(data.num_entities, device=device)
            allowed = torch.ones(data.num_entities, dtype=torch.bool, device=device)
            if constrain_labels and len(facts):
                anchors = anchors[torch.isin(label_codes, label_codes[facts[:, anchor_col]])]
                allowed = torch.isin(label_codes, label_codes[facts[:, answer_col]])
            if only is not None:
                anchors = anchors[torch.isin(anchors, only.get((name, direction), anchors[:0]).to(device))]
            frames.append(_topk(model, vectors, index, anchors, allowed, columns, r, direction, k, min_score, data,
                                name, calibration))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(CANDIDATE_COLUMNS))
    return out


def _topk(model: KGEModel, vectors: Tensor, index: FilterIndex, anchors: Tensor, allowed: Tensor, columns: Tensor,
          r: int, direction: str, k: int, min_score: float | None, data: TrainingData, name: str,
          calibration: Calibration | None) -> pd.DataFrame:
    """The top ``k`` of ``columns`` (entity indices, the candidate answers) for each anchor's query."""
    anchor_col, _ = direction_columns(direction)
    block = max(1, BLOCK_ELEMENTS // max(1, len(columns)))
    position = torch.full((data.num_entities,), -1, dtype=torch.long, device=columns.device)
    position[columns] = torch.arange(len(columns), device=columns.device)
    candidates, allowed = vectors[columns], allowed[columns]
    k = min(k, int(allowed.sum()))
    rows: list[tuple[np.ndarray, ...]] = []  # (query entity, answer, score, rank, probability) per block
    for start in range(0, len(anchors), block):
        a = anchors[start:start + block]
        queries = torch.zeros(len(a), 3, dtype=torch.long, device=a.device)
        queries[:, anchor_col], queries[:, 1] = a, r
        scores = model.score_queries(queries, direction, candidates).float()
        scores[:, ~allowed] = float("-inf")
        q_rows, known = index.answers(queries, direction)
        known = position[known]
        scores[q_rows[known >= 0], known[known >= 0]] = float("-inf")
        own = position[a]  # no self-links
        scores[torch.nonzero(own >= 0).squeeze(1), own[own >= 0]] = float("-inf")
        if k == 0:
            continue
        top, idx = scores.topk(k, dim=1)
        idx = columns[idx]
        keep = torch.isfinite(top) if min_score is None else torch.isfinite(top) & (top >= min_score)
        ranks = torch.arange(1, k + 1, device=a.device).expand_as(idx)
        prob = probability(calibration, top, name, direction)
        rows.append(tuple(x[keep].cpu().numpy() for x in (a[:, None].expand_as(idx), idx, top, ranks, prob)))
    if not rows:
        return pd.DataFrame(columns=list(CANDIDATE_COLUMNS))
    q, c, s, rank, prob = (np.concatenate(parts) for parts in zip(*rows, strict=True))
    ids = np.asarray(data.entity_ids, dtype=object)
    heads, tails = (ids[q], ids[c]) if direction == "tail" else (ids[c], ids[q])
    return pd.DataFrame({"head": heads, "tail": tails, "relation": name, "score": s.astype(float),
                         "probability": prob.astype(float), "rank": rank.astype(int),
                         "direction": direction})
