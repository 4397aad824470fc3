"""Rejected candidates become hard negatives: training with them scores those triples lower."""

from __future__ import annotations

import pandas as pd
import torch

from vlkge_graph.etl.tables import TableSet
from vlkge_graph.models import build_model
from vlkge_graph.training.data import TrainingData
from vlkge_graph.training.loop import Trainer, seed_everything
from vlkge_graph.training.recipe import TrainingSpec


def ring() -> TableSet:
    ids = [f"e{i}" for i in range(30)]
    triples = pd.DataFrame({"head": ids, "relation": "next", "tail": ids[1:] + ids[:1], "split": "train"})
    entities = pd.DataFrame({"id": ids, "label": "Thing", "name": None, "text": None, "images": [[] for _ in ids]})
    return TableSet("ring", entities, pd.DataFrame({"relation": ["next"], "type": ["NEXT"]}), triples)


def trained_score(hard: pd.DataFrame | None, triple: list[int]) -> float:
    seed_everything(0)
    data = TrainingData.from_tables(ring())
    if hard is not None:
        data = data.with_hard_negatives(hard)
    model = build_model("distmult", data.num_entities, data.num_relations, 16)
    spec = TrainingSpec(mode="1vsall", loss="cross_entropy", optimizer="adam", lr=0.05, batch_size=32, epochs=30,
                        hard_negative_weight=5.0)
    Trainer(model, data, spec, progress=False).fit(resume=False)
    with torch.no_grad():
        return float(model(torch.tensor([triple]))[0])


def test_hard_negatives_are_coded_and_pushed_down() -> None:
    rejected = pd.DataFrame({"head": ["e0", "ghost"], "relation": ["next", "next"], "tail": ["e5", "e1"]})
    data = TrainingData.from_tables(ring()).with_hard_negatives(rejected)
    assert data.hard_negatives.tolist() == [[0, 0, 5]]  # the row naming a deleted entity is dropped
    without = trained_score(None, [0, 0, 5])
    with_hard = trained_score(rejected, [0, 0, 5])
    assert with_hard < without - 1.0, (with_hard, without)
