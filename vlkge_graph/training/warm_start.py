"""Warm start: a new model begins from an earlier run's parameters, matched by entity and relation key.

A scheduled retrain of a graph that changed a little should not start from random vectors: rows of
entities and relations the earlier run knew keep their learned values, new rows keep their fresh
initialisation, and every other parameter (projections, fusion, gates) is copied when its shape still fits.
``shrink`` < 1 starts from ``shrink * old + (1 - shrink) * fresh`` instead ("shrink and perturb", Ash & Adams,
"On Warm-Starting Neural Network Training", NeurIPS 2020): a model warm-started from a converged one trains
fast but settles below a cold start's validation score; pulling it part of the way back to a fresh
initialisation keeps most of the head start and closes that gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from vlkge_graph.models import KGEModel
from vlkge_graph.training import checkpoint

#: Per-entity and per-relation parameter tables (rows follow the entity / relation order).
ENTITY_TABLES = ("entities.structure.weight", "entities.imaginary.weight")
RELATION_TABLE = "backbone.relations.weight"


def row_sources(old_keys: Sequence[str], new_keys: Sequence[str]) -> tuple[Tensor, Tensor]:
    """For each new key: whether the old order has it, and its old row (0 where not)."""
    rows = pd.Index(list(old_keys)).get_indexer(pd.Index(list(new_keys)))
    return torch.from_numpy(rows >= 0), torch.from_numpy(np.where(rows >= 0, rows, 0))


def copy_rows(new: Tensor, old: Tensor, kept: Tensor, source: Tensor, shrink: float = 1.0) -> Tensor:
    """``new`` with the rows ``kept`` replaced by ``old[source]`` (shrunk towards ``new``, see the module)."""
    return torch.where(kept.unsqueeze(1), _shrunk(old[source].to(new.dtype), new, shrink), new)


def _shrunk(old: Tensor, fresh: Tensor, shrink: float) -> Tensor:
    return old if shrink == 1.0 or not fresh.is_floating_point() else shrink * old + (1 - shrink) * fresh


def warm_start(model: KGEModel, entity_ids: Sequence[str], relation_ids: Sequence[str],
               previous: str | Path, shrink: float = 1.0) -> dict[str, Any]:
    """Load what fits of ``previous`` (a ``model.pt`` or a train directory) into ``model``, in place (each kept
    value ``shrink * old + (1 - shrink) * fresh``); return what was kept for the run record."""
    if not 0 < shrink <= 1:
        raise ValueError(f"warm start shrink must be in (0, 1], got {shrink}")
    path = Path(previous)
    payload = checkpoint.load(path / "model.pt" if path.is_dir() else path)
    old, meta = payload["model"], payload["meta"]
    state = model.state_dict()
    kept_e, src_e = row_sources(meta["entity_ids"], entity_ids)
    kept_r, src_r = row_sources(meta["relation_ids"], relation_ids)
    copied = []
    for name, value in state.items():
        if name not in old or name in ("entities.seen", "entities.free_imaginary"):
            continue  # the masks describe the new data, not the old
        if name in ENTITY_TABLES and old[name].shape[1:] == value.shape[1:]:
            state[name] = copy_rows(value, old[name], kept_e, src_e, shrink)
        elif name == RELATION_TABLE and old[name].shape[1:] == value.shape[1:]:
            blocks = value.shape[0] // len(relation_ids)  # 2 for reciprocal models: [forward | inverse]
            old_count = len(meta["relation_ids"])
            if old[name].shape[0] != blocks * old_count:
                continue
            state[name] = torch.cat([copy_rows(value[b * len(relation_ids):(b + 1) * len(relation_ids)],
                                               old[name][b * old_count:(b + 1) * old_count], kept_r, src_r, shrink)
                                     for b in range(blocks)])
        elif old[name].shape == value.shape:
            state[name] = _shrunk(old[name].to(value.dtype), value, shrink)
        else:
            continue
        copied.append(name)
    model.load_state_dict(state)
    return {"from": str(path), "entities": int(kept_e.sum()), "new_entities": int((~kept_e).sum()),
            "relations": int(kept_r.sum()), "parameters": len(copied), "shrink": shrink}
