"""Warm start: rows of known entities and relations keep their learned values, matched by key."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch
from rich.console import Console

from tests.test_training import SPECS, tiny_tables
from vlkge_graph.models import build_model
from vlkge_graph.training import checkpoint
from vlkge_graph.training.api import fit
from vlkge_graph.training.data import TrainingData
from vlkge_graph.training.loop import Trainer
from vlkge_graph.training.recipe import TrainingSpec, parse_recipe
from vlkge_graph.training.warm_start import warm_start

QUIET = Console(quiet=True)


def test_rows_follow_their_keys_and_new_rows_stay_fresh(tmp_path: Path) -> None:
    torch.manual_seed(0)
    old = build_model("complex", 3, 2, 4, reciprocal=True)
    checkpoint.save(tmp_path / "model.pt", {"model": old.state_dict(), "meta": {
        "entity_ids": ["a", "b", "c"], "relation_ids": ["r1", "r2"]}})
    torch.manual_seed(1)
    new = build_model("complex", 3, 2, 4, reciprocal=True)
    fresh = {k: v.clone() for k, v in new.state_dict().items()}
    kept = warm_start(new, ["c", "a", "d"], ["r2", "r3"], tmp_path).record
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
    kept = warm_start(new, ["b", "a", "c"], ["r"], tmp_path, shrink=0.25).record
    assert kept["shrink"] == 0.25
    table, before = new.state_dict()["entities.structure.weight"], old.state_dict()["entities.structure.weight"]
    start = fresh["entities.structure.weight"]
    assert torch.allclose(table[0], 0.25 * before[1] + 0.75 * start[0])
    assert torch.allclose(table[1], 0.25 * before[0] + 0.75 * start[1])
    assert torch.equal(table[2], start[2])  # new rows stay fresh
    with pytest.raises(ValueError, match="shrink"):
        warm_start(new, ["a"], ["r"], tmp_path, shrink=0)


# -- the optimiser state ---------------------------------------------------------------------------

def _tiny_run(tmp_path: Path, optimizer: str) -> tuple[Path, TrainingSpec]:
    """A short run of the tiny graph with ``optimizer`` (Adam in 1-vs-all, row-wise sparse Adagrad with
    negatives) whose train directory holds ``model.pt`` and ``optimizer.pt``."""
    spec = (replace(SPECS["1vsall"], epochs=3) if optimizer == "adam" else replace(SPECS["negatives"], epochs=3))
    recipe = parse_recipe({"dataset": "unused", "name": "tiny", "model": {"backbone": "complex", "dim": 8},
                           "training": asdict(spec)})
    fit(recipe, tables=tiny_tables(), output=tmp_path / "before", progress=False, console=QUIET)
    return tmp_path / "before", spec


@pytest.mark.parametrize("optimizer", ["adam", "adagrad"])
def test_optimizer_state_follows_rows_and_new_rows_start_at_zero(tmp_path: Path, optimizer: str) -> None:
    before, spec = _tiny_run(tmp_path, optimizer)
    saved = checkpoint.load(before / checkpoint.OPTIMIZER)
    best = checkpoint.load(before / "checkpoints" / checkpoint.BEST)
    assert saved["optimizer"] == optimizer and saved["epoch"] == best["trainer"]["best_epoch"]
    moments = ("exp_avg", "exp_avg_sq") if optimizer == "adam" else ("sum",)
    table = "entities.structure.weight"
    old_state = saved["state"][table]
    assert set(moments) < set(old_state) and all(old_state[m].abs().sum() > 0 for m in moments)

    # the graph after a change: e11 removed, e_new added, the rows reordered, relation r2 gone and r_new added
    old_ids = [f"e{i}" for i in range(12)]
    new_ids = ["e_new", *reversed(old_ids[:11])]
    torch.manual_seed(5)
    model = build_model("complex", len(new_ids), 3, 8)
    warm = warm_start(model, new_ids, ["r1", "r0", "r_new"], before, optimizer=optimizer)
    assert warm.optimizer_state is not None and warm.record["optimizer_state"].startswith("carried for ")
    carried = warm.optimizer_state[table]
    for m in moments:
        assert torch.equal(carried[m][0], torch.zeros(8))  # e_new: zero state
        for row, key in enumerate(new_ids[1:], start=1):
            assert torch.equal(carried[m][row], old_state[m][old_ids.index(key)])
        relation = warm.optimizer_state["backbone.relations.weight"][m]
        old_relation = saved["state"]["backbone.relations.weight"][m]
        assert torch.equal(relation[0], old_relation[1]) and torch.equal(relation[1], old_relation[0])
        assert torch.equal(relation[2], torch.zeros_like(relation[2]))  # r_new
    assert torch.equal(carried["step"], old_state["step"])

    # the trainer starts from it: one step of the carried state differs from one of a fresh state
    data = TrainingData.from_tables(tiny_tables())
    trainer = Trainer(model, data, spec, progress=False, optimizer_state=warm.optimizer_state)
    param = dict(model.named_parameters())[table]
    assert torch.equal(trainer.optimizer.state[param][moments[0]], carried[moments[0]])


def test_a_run_without_optimizer_state_warm_starts_with_a_fresh_one(tmp_path: Path) -> None:
    before, _ = _tiny_run(tmp_path, "adam")
    (before / checkpoint.OPTIMIZER).unlink()  # a run trained before optimizer.pt existed
    out = Console(record=True, width=200)
    recipe = parse_recipe({"dataset": "unused", "name": "tiny", "model": {"backbone": "complex", "dim": 8},
                           "training": asdict(replace(SPECS["1vsall"], epochs=1))})
    _, report = fit(recipe, tables=tiny_tables(), output=tmp_path / "after", progress=False, console=out,
                    warm_from=before)
    assert report["warm_start"]["optimizer_state"].startswith("fresh: ") and "does not exist" in out.export_text()
    other = warm_start(build_model("complex", 12, 3, 8), [f"e{i}" for i in range(12)], ["r0", "r1", "r2"],
                       tmp_path / "after", optimizer="adagrad")
    assert other.optimizer_state is None and other.record["optimizer_state"] == \
        "fresh: the earlier run used adam, this one adagrad"
