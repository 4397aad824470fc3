"""Folding new and edited entities into a trained model without training: the refresh's model step.

The active run's model was trained on the entities of its snapshot. The graph now has more (or fewer, or
edited) entities. The folded model has a row for every entity of the current export: a kept entity keeps
its trained structural row (and is "seen"), a new one gets none and is embedded from its features alone
(the inductive path of ``models/vlkge.py``), an edited one keeps its structural row with its new features.
Relations stay those of the trained run. Unchanged entities get exactly the vectors they had.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from vlkge_graph.errors import DataError
from vlkge_graph.etl.tables import SPLITS, TableSet
from vlkge_graph.models import Features
from vlkge_graph.training.api import TrainedRun, make_model
from vlkge_graph.training.data import TrainingData
from vlkge_graph.training.warm_start import ENTITY_TABLES, copy_rows, row_sources


def coded_data(tables: TableSet, relation_ids: list[str]) -> TrainingData:
    """``tables`` coded with a fixed relation order (the trained run's); facts of relations the run does not
    know are left out (they cannot be scored until a retrain)."""
    entities = pd.Index(tables.entities["id"].astype(str))
    relations = pd.Index(relation_ids)
    triples = tables.triples
    codes = np.stack([entities.get_indexer(triples["head"].astype(str)),
                      relations.get_indexer(triples["relation"].astype(str)),
                      entities.get_indexer(triples["tail"].astype(str))], axis=1).astype(np.int64)
    keep = (codes >= 0).all(axis=1)
    coded = torch.from_numpy(codes[keep]).reshape(-1, 3)
    split = triples["split"].to_numpy()[keep]
    return TrainingData(tables.name, list(entities), list(relation_ids),
                        {s: coded[torch.as_tensor(split == s)] for s in SPLITS})


def fold(base: TrainedRun, tables: TableSet, features: Features | None) -> TrainedRun:
    """The base model over the entities of ``tables`` with their ``features`` (see the module docstring)."""
    data = coded_data(tables, list(base.data.relation_ids))
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
    return TrainedRun(model.to(base.device).eval(), data, tables, base.recipe)
