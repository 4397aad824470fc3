"""Candidate generation equals a brute-force ranking over every pair, without ever proposing known links."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from vlkge_graph.etl.tables import TableSet
from vlkge_graph.models import build_model
from vlkge_graph.prediction import predict_links
from vlkge_graph.training.data import TrainingData


def small_data() -> tuple[TrainingData, list[str]]:
    g = torch.Generator().manual_seed(0)
    people, cities = [f"p{i}" for i in range(12)], [f"c{i}" for i in range(5)]
    lives = [(p, "lives_in", cities[int(torch.randint(0, 5, (1,), generator=g))]) for p in people]
    knows = [(people[i], "knows", people[(i + 1) % 12]) for i in range(12)]
    triples = pd.DataFrame(lives + knows, columns=["head", "relation", "tail"])
    triples["split"] = ["train"] * (len(triples) - 2) + ["valid", "test"]
    ents = pd.DataFrame({"id": people + cities, "label": ["Person"] * 12 + ["City"] * 5,
                         "name": None, "text": None, "images": [[] for _ in range(17)]})
    tables = TableSet("toy", ents, pd.DataFrame({"relation": ["knows", "lives_in"], "type": ["KNOWS", "LIVES_IN"]}),
                      triples)
    return TrainingData.from_tables(tables), list(ents["label"])


@pytest.mark.parametrize("backbone", ["distmult", "transe", "complex", "rotate"])
@pytest.mark.parametrize("direction", ["tail", "head"])
def test_topk_equals_brute_force(backbone: str, direction: str) -> None:
    torch.manual_seed(1)
    data, labels = small_data()
    model = build_model(backbone, data.num_entities, data.num_relations, 8)
    out = predict_links(model, data, labels, directions=[direction], k=3)
    known = {tuple(t) for s in data.splits.values() for t in s.tolist()}
    ids = list(data.entity_ids)
    anchor_end = "head" if direction == "tail" else "tail"
    for r, name in enumerate(data.relation_ids):
        facts = [t for t in known if t[1] == r]
        anchor_col, answer_col = (0, 2) if direction == "tail" else (2, 0)
        anchor_labels = {labels[t[anchor_col]] for t in facts}
        answer_labels = {labels[t[answer_col]] for t in facts}
        for a in range(data.num_entities):
            if labels[a] not in anchor_labels:
                assert not ((out["relation"] == name) & (out[anchor_end] == ids[a])).any()
                continue
            scored = []
            for c in range(data.num_entities):
                triple = (a, r, c) if direction == "tail" else (c, r, a)
                if c == a or labels[c] not in answer_labels or triple in known:
                    continue
                with torch.no_grad():
                    scored.append((float(model(torch.tensor([triple]))[0]), ids[c]))
            expected = [c for _, c in sorted(scored, key=lambda x: -x[0])[:3]]
            mine = out[(out["relation"] == name) & (out[anchor_end] == ids[a])]
            got = mine.sort_values("rank")["tail" if direction == "tail" else "head"].tolist()
            assert got == expected
            assert mine["rank"].tolist() == sorted(mine["rank"].tolist()) and (mine["probability"] < 1).all()


def test_excluded_pairs_and_min_score_are_respected() -> None:
    torch.manual_seed(2)
    data, labels = small_data()
    model = build_model("distmult", data.num_entities, data.num_relations, 8)
    full = predict_links(model, data, labels, relations=["knows"], k=5)
    top = full.iloc[0]
    h, t = data.entity_ids.index(top["head"]), data.entity_ids.index(top["tail"])
    rejected = torch.tensor([[h, data.relation_ids.index("knows"), t]])
    again = predict_links(model, data, labels, relations=["knows"], k=5, exclude=[rejected])
    assert not ((again["head"] == top["head"]) & (again["tail"] == top["tail"])).any()
    cut = float(full["score"].median())
    assert (predict_links(model, data, labels, relations=["knows"], k=5, min_score=cut)["score"] >= cut).all()
    with pytest.raises(ValueError, match="unknown relations"):
        predict_links(model, data, labels, relations=["nope"])


@pytest.mark.parametrize("direction", ["tail", "head"])
def test_ranking_only_some_answers_is_the_full_ranking_restricted_to_them(direction: str) -> None:
    """``answers=`` (a refresh's new entities): each list is the top k among those entities, with the same
    filters (known facts, labels, self-links) and scores as the full ranking gives them."""
    torch.manual_seed(3)
    data, labels = small_data()
    model = build_model("complex", data.num_entities, data.num_relations, 8)
    some = torch.tensor([0, 1, 2, 3, 12, 13])  # four people (one of them each list's anchor at times), two cities
    k = 2
    full = predict_links(model, data, labels, directions=[direction], k=data.num_entities)
    mine = predict_links(model, data, labels, directions=[direction], k=k, answers=some)
    answer_end = "tail" if direction == "tail" else "head"
    anchor_end = "head" if direction == "tail" else "tail"
    names = {data.entity_ids[i] for i in some.tolist()}
    expected = full[full[answer_end].isin(names)].sort_values([anchor_end, "relation", "score"],
                                                              ascending=[True, True, False])
    expected = expected.groupby([anchor_end, "relation"]).head(k)
    key = [anchor_end, "relation", answer_end]
    merged = expected.merge(mine, on=key, how="outer", suffixes=("", "_mine"), indicator=True)
    assert len(mine) > 0 and (merged["_merge"] == "both").all()
    assert torch.allclose(torch.tensor(merged["score"].to_numpy()), torch.tensor(merged["score_mine"].to_numpy()),
                          atol=1e-5)
