"""Warm start: rows of known entities and relations keep their learned values, matched by key."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vlkge_graph.models import build_model
from vlkge_graph.training import checkpoint
from vlkge_graph.training.warm_start import warm_start


def test_rows_follow_their_keys_and_new_rows_stay_fresh(tmp_path: Path) -> None:
    torch.manual_seed(0)
    old = build_model("complex", 3, 2, 4, reciprocal=True)
    checkpoint.save(tmp_path / "model.pt", {"model": old.state_dict(), "meta": {
        "entity_ids": ["a", "b", "c"], "relation_ids": ["r1", "r2"]}})
    torch.manual_seed(1)
    new = build_model("complex", 3, 2, 4, reciprocal=True)
    fresh = {k: v.clone() for k, v in new.state_dict().items()}
    kept = warm_start(new, ["c", "a", "d"], ["r2", "r3"], tmp_path)
    assert (kept["entities"], kept["new_entities"], kept["relations"]) == (2, 1, 1)
    state, before = new.state_dict(), old.state_dict()
    for table in ("entities.structure.weight", "entities.imaginary.weight"):
        assert torch.equal(state[table][0], before[table][2]) and torch.equal(state[table][1], before[table][0])
        assert torch.equal(state[table][2], fresh[table][2])  # 'd' is new: its fresh initialisation
    relations, old_relations = state["backbone.relations.weight"], before["backbone.relations.weight"]
    assert torch.equal(relations[0], old_relations[1]) and torch.equal(relations[2], old_relations[3])  # r2, r2^-1
    assert torch.equal(relations[1], fresh["backbone.relations.weight"][1])  # r3 is new
    assert torch.equal(relations[3], fresh["backbone.relations.weight"][3])


def test_shrink_pulls_kept_values_towards_the_fresh_initialisation(tmp_path: Path) -> None:
    torch.manual_seed(0)
    old = build_model("distmult", 2, 1, 4)
    checkpoint.save(tmp_path / "model.pt", {"model": old.state_dict(), "meta": {
        "entity_ids": ["a", "b"], "relation_ids": ["r"]}})
    torch.manual_seed(1)
    new = build_model("distmult", 3, 1, 4)
    fresh = {k: v.clone() for k, v in new.state_dict().items()}
    kept = warm_start(new, ["b", "a", "c"], ["r"], tmp_path, shrink=0.25)
    assert kept["shrink"] == 0.25
    table, before = new.state_dict()["entities.structure.weight"], old.state_dict()["entities.structure.weight"]
    start = fresh["entities.structure.weight"]
    assert torch.allclose(table[0], 0.25 * before[1] + 0.75 * start[0])
    assert torch.allclose(table[1], 0.25 * before[0] + 0.75 * start[1])
    assert torch.equal(table[2], start[2])  # new rows stay fresh
    with pytest.raises(ValueError, match="shrink"):
        warm_start(new, ["a"], ["r"], tmp_path, shrink=0)
