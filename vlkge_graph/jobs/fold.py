"""Folding new and edited entities into a trained model without training: the refresh's model step.

The active run's model was trained on the entities of its snapshot. The graph now has more (or fewer, or
edited) entities. The folded model has a row for every entity of the current export: a kept entity keeps
its trained structural row (and is "seen"), a new one gets none and is embedded from its features alone
(the inductive path of ``models/vlkge.py``), an edited one keeps its structural row with its new features.
Relations stay those of the trained run. Unchanged entities get exactly the vectors they had.
"""

from __future__ import annotations

import torch

from vlkge_graph.errors import DataError
from vlkge_graph.etl.tables import TableSet
from vlkge_graph.models import Features
from vlkge_graph.training.api import TrainedRun, make_model
from vlkge_graph.training.data import TrainingData
from vlkge_graph.training.warm_start import ENTITY_TABLES, copy_rows, row_sources


def fold(base: TrainedRun, tables: TableSet, features: Features | None) -> TrainedRun:
    """The base model over the entities of ``tables`` with their ``features`` (see the module docstring)."""
    data = TrainingData.from_tables(tables, base.data.relation_ids)  # facts of new relations wait for a retrain
    kept, source = row_sources(base.data.entity_ids, data.entity_ids)
    model = make_model(base.recipe, data, features)
    state = base.model.state_dict()
    seen = base.model.entities.seen.cpu()[source] & kept
    folded = dict(state)
    fresh = model.state_dict()
    for name in ENTITY_TABLES:  # new rows are never read: new entities are unseen
        if name in state:
            folded[name] = copy_rows(fresh[name], state[name].cpu(), kept, source)
    folded["entities.seen"] = seen
    if "entities.free_imaginary" in state:  # gated imaginary parts: free vectors for seen text entities
        has_text = features["text"][1].to(torch.bool) if features and "text" in features else torch.zeros_like(seen)
        folded["entities.free_imaginary"] = has_text & seen
    unknown = set(state) - set(model.state_dict())
    if unknown:
        raise DataError(f"cannot fold into the trained model: parameters {sorted(unknown)} have no place")
    model.load_state_dict(folded)
    return TrainedRun(model.to(base.device).eval(), data, tables, base.recipe, base.calibration)  # relations unchanged
