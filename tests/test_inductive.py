"""The features-only (inductive) path: entities never trained on are embedded from their features alone.

A small graph built here: entities in clusters with features near their cluster's centre, a relation
that links each entity to every member of the next cluster. A few entities lose all their training triples and
come back with their features only; the model must rank their true neighbours.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from tests.test_training import one_thread  # noqa: F401  (autouse: one torch thread for tiny tensors)
from vlkge_graph.errors import ConfigError
from vlkge_graph.etl.tables import TableSet
from vlkge_graph.training.api import fit, load_trained
from vlkge_graph.training.recipe import parse_recipe

CLUSTERS, SIZE, FEATURE_DIM = 8, 8, 16
HELD_OUT = [f"e{c * SIZE}" for c in range(0, CLUSTERS, 2)]  # one entity of every other cluster


def clustered_graph() -> tuple[TableSet, dict[str, tuple[torch.Tensor, torch.Tensor]]]:
    """Tables and text-like features; every triple touching a HELD_OUT entity is a test triple."""
    g = torch.Generator().manual_seed(0)
    n = CLUSTERS * SIZE
    ids = [f"e{i}" for i in range(n)]
    centres = torch.randn(CLUSTERS, FEATURE_DIM, generator=g)
    cluster = torch.arange(n) // SIZE
    # Small values, as frozen sentence-embedding coordinates are (MiniLM: about 0.05 each).
    features = 0.05 * (centres[cluster] + 0.3 * torch.randn(n, FEATURE_DIM, generator=g))
    rows = []
    for i in range(n):
        nxt = (int(cluster[i]) + 1) % CLUSTERS
        rows += [(ids[i], "next", ids[nxt * SIZE + j]) for j in range(SIZE)]
    triples = pd.DataFrame(rows, columns=["head", "relation", "tail"])
    held = triples["head"].isin(HELD_OUT) | triples["tail"].isin(HELD_OUT)
    triples["split"] = ["test" if h else "train" for h in held]
    entities = pd.DataFrame({"id": ids, "label": "E", "name": ids, "text": ids, "images": [[] for _ in ids]})
    relations = pd.DataFrame({"relation": ["next"], "type": ["NEXT"]})
    return TableSet("clusters", entities, relations, triples), {"text": (features, torch.ones(n, dtype=torch.bool))}


def held_out_mrr(model: dict, tables: TableSet, features: dict) -> tuple[float, dict]:
    recipe = parse_recipe({"dataset": "clusters", "name": "clusters", "features": {"text": "synthetic"},
                           "model": {"backbone": "complex", "dim": 16, "imaginary": "gated", "reciprocal": True,
                                     **model},
                           "training": {"mode": "1vsall", "loss": "cross_entropy", "optimizer": "adam",
                                        "lr": 0.01, "batch_size": 64, "epochs": 60, "amp": False,
                                        "candidates": "seen"},
                           "evaluation": {"protocol": "inductive"}})
    run, _ = fit(recipe, tables=tables, features=features, progress=False)
    result = run.evaluate("test")
    groups = result.to_dict(run.groups(result))["groups"]
    return result.summary()["mrr"], groups


def test_structure_dropout_embeds_held_out_entities_from_their_features() -> None:
    tables, features = clustered_graph()
    trained, groups = held_out_mrr({"structure_dropout": 0.5}, tables, features)
    plain, _ = held_out_mrr({}, tables, features)
    # A random ranking of the answer among the 57 candidates left by the filter: MRR about 0.08.
    left = CLUSTERS * SIZE - SIZE + 1
    random_mrr = sum(1 / r for r in range(1, left + 1)) / left
    print(f"held-out MRR: structure dropout {trained:.3f}, without {plain:.3f}, random {random_mrr:.3f}")
    assert trained > 0.5 > 5 * random_mrr
    assert trained > plain + 0.25
    # Every test triple has exactly one unseen end (held-out entities are never linked to each other).
    assert set(groups["unseen ends"]) == {"1"} and set(groups["answer"]) == {"seen", "unseen"}


def test_features_only_model_ranks_held_out_entities() -> None:
    tables, features = clustered_graph()
    mrr, _ = held_out_mrr({"structure": False, "projection": "mlp"}, tables, features)
    assert mrr > 0.5


@pytest.mark.parametrize(("section", "text", "message"), [
    ("model", {"structure_dropout": 0.5}, "need features"),
    ("model", {"structure": False}, "need features"),
    ("model", {"imaginary": "projected"}, "projected needs features"),
    ("evaluation", {"protocol": "inductive", "filter": "mixed"}, "evaluation.protocol inductive"),
    ("training", {"candidate_sample": 100}, "training.candidate_sample"),
])
def test_inductive_options_are_validated(section: str, text: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_recipe({"dataset": "x", section: text})


def test_seen_candidates_score_training_entities_only() -> None:
    """``candidates: seen`` is 1-vs-all cross-entropy over the seen entities' columns only, and
    ``candidate_sample`` a softmax over the batch's answers and the drawn entities."""
    from vlkge_graph.models import build_model
    from vlkge_graph.training.objective import Objective
    from vlkge_graph.training.recipe import TrainingSpec

    torch.manual_seed(0)
    n, seen = 10, torch.tensor([True] * 7 + [False] * 3)
    features = {"text": (torch.randn(n, 8), torch.ones(n, dtype=torch.bool))}
    model = build_model("distmult", n, 2, 8, features=features, seen=seen).eval()
    batch = torch.tensor([[0, 0, 1], [2, 1, 3], [4, 0, 6]])
    spec = TrainingSpec(mode="1vsall", loss="cross_entropy", sides=["tail"], candidates="seen")
    expected = torch.nn.functional.cross_entropy(model.score_queries(batch, "tail")[:, :7], batch[:, 2])
    torch.testing.assert_close(Objective(model, spec)(batch), expected)
    sampled = Objective(model, TrainingSpec(mode="1vsall", loss="cross_entropy", sides=["tail"],
                                            candidates="seen", candidate_sample=50))
    ids = sampled._sampled(batch)
    assert bool(seen[ids].all()) and set(batch[:, [0, 2]].flatten().tolist()) <= set(ids.tolist())
    assert len(ids) == 7  # 50 draws among 7 seen entities cover them all


def test_a_name_feature_is_encoded_trained_and_reloaded(tmp_path: Path) -> None:
    tables, _ = clustered_graph()
    tables.entities["text"] = [f"member {i % SIZE} of group {i // SIZE}" for i in range(len(tables.entities))]
    tables.entities["name"] = [f"group {i // SIZE}" for i in range(len(tables.entities))]
    recipe = parse_recipe({"dataset": "clusters", "name": "clusters", "features": {"text": "minilm", "name": "minilm"},
                           "model": {"backbone": "complex", "dim": 8, "imaginary": "gated", "reciprocal": True,
                                     "structure_dropout": 0.5, "projection": "mlp"},
                           "training": {"mode": "1vsall", "loss": "cross_entropy", "optimizer": "adam",
                                        "lr": 0.01, "batch_size": 64, "epochs": 1, "amp": False,
                                        "candidates": "seen"},
                           "evaluation": {"protocol": "inductive"}})
    run, _ = fit(recipe, tables=tables, output=tmp_path / "run", progress=False)
    names, has_name = run.model.entities.values_name, run.model.entities.present_name
    assert has_name.all() and names.shape == (len(tables.entities), 384)
    assert torch.allclose(names[0], names[SIZE - 1]) and not torch.allclose(names[0], names[SIZE])  # one per group
    again = load_trained(tmp_path / "run", tables=tables)
    triples = run.data.splits["test"]
    torch.testing.assert_close(again.model(triples), run.model.eval()(triples))
