"""Warm start: a new model begins from an earlier run's parameters, matched by entity and relation key.

A scheduled retrain of a graph that changed a little should not start from random vectors: rows of
entities and relations the earlier run knew keep their learned values, new rows keep their fresh
initialisation, and every other parameter (projections, fusion, gates) is copied when its shape still fits.
The earlier run's optimiser state (``optimizer.pt``: Adam's moments, Adagrad's sums, keyed by parameter name)
is carried over the same way, new rows starting from zero state (under the carried step count Adam's first steps
on them are larger than a fresh optimiser's): a fresh Adam state's first steps move every coordinate by about the
learning rate, which undoes part of what the earlier run learned (docs/benchmarks.md).
``shrink`` < 1 starts from ``shrink * old + (1 - shrink) * fresh`` instead ("shrink and perturb", Ash & Adams,
"On Warm-Starting Neural Network Training", NeurIPS 2020).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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
#: Masks that describe the new data, not the old: never carried.
DATA_MASKS = ("entities.seen", "entities.free_imaginary")

NamedState = dict[str, dict[str, Tensor]]


def row_sources(old_keys: Sequence[str], new_keys: Sequence[str]) -> tuple[Tensor, Tensor]:
    """For each new key: whether the old order has it, and its old row (0 where not)."""
    rows = pd.Index(list(old_keys)).get_indexer(pd.Index(list(new_keys)))
    return torch.from_numpy(rows >= 0), torch.from_numpy(np.where(rows >= 0, rows, 0))


def copy_rows(new: Tensor, old: Tensor, kept: Tensor, source: Tensor, shrink: float = 1.0) -> Tensor:
    """``new`` with the rows ``kept`` replaced by ``old[source]`` (shrunk towards ``new``, see the module)."""
    return torch.where(kept.unsqueeze(1), _shrunk(old[source].to(new.dtype), new, shrink), new)


def _shrunk(old: Tensor, fresh: Tensor, shrink: float) -> Tensor:
    return old if shrink == 1.0 or not fresh.is_floating_point() else shrink * old + (1 - shrink) * fresh


@dataclass(frozen=True)
class RowMap:
    """Where each row of the new entity and relation tables comes from in the earlier run."""

    entities: tuple[Tensor, Tensor]  # (kept, source) over the new entities
    relations: tuple[Tensor, Tensor]  # (kept, source) over the new relations
    old_relations: int

    @classmethod
    def of(cls, meta: dict[str, Any], entity_ids: Sequence[str], relation_ids: Sequence[str]) -> RowMap:
        """The map from a checkpoint's ``meta`` (its entity and relation ids) to the new keys."""
        return cls(row_sources(meta["entity_ids"], entity_ids), row_sources(meta["relation_ids"], relation_ids),
                   len(meta["relation_ids"]))

    def carry(self, name: str, new: Tensor, old: Tensor, shrink: float = 1.0) -> Tensor | None:
        """``new`` (the value of parameter ``name``, or a tensor of its shape) with what fits of ``old``: the
        rows of known keys for the entity and relation tables, all of it for a same-shaped parameter; None
        where nothing fits."""
        if name in ENTITY_TABLES and old.shape[1:] == new.shape[1:]:
            return copy_rows(new, old, *self.entities, shrink)
        if name == RELATION_TABLE and old.shape[1:] == new.shape[1:]:
            count = len(self.relations[0])
            blocks = new.shape[0] // count  # 2 for reciprocal models: [forward | inverse]
            if old.shape[0] != blocks * self.old_relations:
                return None
            return torch.cat([copy_rows(new[b * count:(b + 1) * count],
                                        old[b * self.old_relations:(b + 1) * self.old_relations], *self.relations,
                                        shrink) for b in range(blocks)])
        if old.shape == new.shape:
            return _shrunk(old.to(new.dtype), new, shrink)
        return None


@dataclass
class WarmStart:
    """What :func:`warm_start` kept (for the run record) and the carried optimiser state for the trainer."""

    record: dict[str, Any]
    #: Per parameter name, the earlier optimiser's state with rows matched (zeros for new rows); None: fresh.
    optimizer_state: NamedState | None


def warm_start(model: KGEModel, entity_ids: Sequence[str], relation_ids: Sequence[str],
               previous: str | Path, shrink: float = 1.0, optimizer: str | None = None) -> WarmStart:
    """Load what fits of ``previous`` (a train directory, or its ``model.pt``) into ``model``, in place (each
    kept value ``shrink * old + (1 - shrink) * fresh``). ``optimizer``: the new run's optimiser name; the
    earlier run's state of that optimiser (``optimizer.pt`` beside ``model.pt``) is carried, row-matched,
    when there is one (None: not carried)."""
    if not 0 < shrink <= 1:
        raise ValueError(f"warm start shrink must be in (0, 1], got {shrink}")
    path = Path(previous)
    model_file = path / "model.pt" if path.is_dir() else path
    payload = checkpoint.load(model_file)
    old, meta = payload["model"], payload["meta"]
    rows = RowMap.of(meta, entity_ids, relation_ids)
    state = model.state_dict()
    copied = []
    for name, value in state.items():
        if name in old and name not in DATA_MASKS:
            carried = rows.carry(name, value, old[name], shrink)
            if carried is not None:
                state[name] = carried
                copied.append(name)
    model.load_state_dict(state)
    carried_state, why = carry_optimizer_state(model, rows, model_file.with_name(checkpoint.OPTIMIZER),
                                               optimizer, copied)
    kept_e = rows.entities[0]
    record = {"from": str(path), "entities": int(kept_e.sum()), "new_entities": int((~kept_e).sum()),
              "relations": int(rows.relations[0].sum()), "parameters": len(copied), "shrink": shrink,
              "optimizer_state": why}
    return WarmStart(record, carried_state)


def carry_optimizer_state(model: KGEModel, rows: RowMap, saved: Path, optimizer: str | None,
                          parameters: Sequence[str]) -> tuple[NamedState | None, str]:
    """The saved optimiser state of the carried ``parameters``, row-matched like them (new rows: zeros), and a
    line for the run record saying what was carried or why not."""
    if optimizer is None:
        return None, "not carried (fresh)"
    if not saved.is_file():
        return None, f"fresh: {saved} does not exist (a run trained before it was saved)"
    payload = checkpoint.load(saved)
    if payload["optimizer"] != optimizer:
        return None, f"fresh: the earlier run used {payload['optimizer']}, this one {optimizer}"
    params = dict(model.named_parameters())
    carried: NamedState = {}
    for name in parameters:
        entries = payload["state"].get(name)
        if name not in params or not entries:
            continue
        zeros = torch.zeros_like(params[name].detach())
        moved = {key: value if value.dim() == 0 else rows.carry(name, zeros.to(value.dtype), value)
                 for key, value in entries.items()}
        if all(v is not None for v in moved.values()):
            carried[name] = moved  # type: ignore[assignment]
    return carried, f"carried for {len(carried)} parameters (epoch {payload.get('epoch')})"
