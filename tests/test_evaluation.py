"""Filtered ranking and metrics: agreement with PyKEEN, filter invariants, blocking, pools, zero-shot."""

from __future__ import annotations

import json

import pytest
import torch

from vlkge_graph.evaluation import (
    MODALITY_BUCKETS,
    TIE_POLICIES,
    CandidatePools,
    FilterIndex,
    RankingResult,
    modality_bucket_ids,
    rank_queries,
    zero_shot_evaluate,
)

NUM_ENTITIES, NUM_RELATIONS = 60, 4


def table_scorer(table: torch.Tensor):
    """score_fn over a dense [E, R, E] score table: scores of every entity as head or tail."""

    def score(queries: torch.Tensor, direction: str) -> torch.Tensor:
        h, r, t = queries.unbind(1)
        return table[h, r, :] if direction == "tail" else table[:, r, t].T

    return score


def assert_same(a: RankingResult, b: RankingResult) -> None:
    """Two results hold the same queries in the same order with the same ranks."""
    for name in ("queries", "direction", "optimistic", "pessimistic", "num_candidates"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert (a.filter_mode, a.ties) == (b.filter_mode, b.ties)


@pytest.fixture(scope="module")
def kg():
    """Random known triples (all splits), a test split among them, and a score table full of ties."""
    gen = torch.Generator().manual_seed(0)
    known = torch.stack([
        torch.randint(0, NUM_ENTITIES, (600,), generator=gen),
        torch.randint(0, NUM_RELATIONS, (600,), generator=gen),
        torch.randint(0, NUM_ENTITIES, (600,), generator=gen),
    ], dim=1).unique(dim=0)
    test = known[torch.randperm(len(known), generator=gen)[:120]]
    # one decimal on N(0, 1): many exact ties between candidates and with the true answer
    table = torch.randn(NUM_ENTITIES, NUM_RELATIONS, NUM_ENTITIES, generator=gen).round(decimals=1)
    return known, test, table


def pykeen_ranks(table, test, known, filtered=True):
    """Ranks and metric results from PyKEEN 1.11.1's evaluator fed the way its evaluation loop does."""
    from pykeen.evaluation import RankBasedEvaluator
    from pykeen.evaluation.evaluator import create_sparse_positive_filter_, filter_scores_

    evaluator = RankBasedEvaluator(filtered=filtered, clear_on_finalize=False)
    score = table_scorer(table)
    for target, column in (("head", 0), ("tail", 2)):
        scores = score(test, target).clone()
        true_scores = scores[torch.arange(len(test)), test[:, column]].clone()
        if filtered:
            positive_filter, _ = create_sparse_positive_filter_(test, known, filter_col=column)
            scores = filter_scores_(scores, positive_filter)
            scores[torch.arange(len(test)), test[:, column]] = true_scores
        evaluator.process_scores_(test, target, scores, true_scores=true_scores.unsqueeze(1))
    ranks = {key: torch.as_tensor(v[0]) for key, v in evaluator.ranks.items()}
    return ranks, evaluator.finalize()


@pytest.mark.parametrize("filtered", [True, False])
def test_ranks_and_metrics_equal_pykeen(kg, filtered):
    known, test, table = kg
    index = FilterIndex.from_triples(known, NUM_ENTITIES, NUM_RELATIONS)
    ours = rank_queries(table_scorer(table), test, index, NUM_ENTITIES, block_size=17,
                    filter_mode="strict" if filtered else "none")
    theirs, results = pykeen_ranks(table, test, known, filtered)
    for side in ("head", "tail", "both"):
        part = ours if side == "both" else ours.select(ours.direction == ("head", "tail").index(side))
        for ties in TIE_POLICIES:
            ranks = part.ranks(ties)
            if side != "both":
                assert torch.equal(ranks, theirs[side, ties].double()), (side, ties)
            summary = part.summary(ties)
            key = f"{side}.{ties}"
            # identical ranks; PyKEEN averages them in float32 (scipy hmean of float32 ranks), we in float64
            assert summary["mrr"] == pytest.approx(results.get_metric(f"{key}.inverse_harmonic_mean_rank"),
                                                   rel=1e-6)
            assert summary["mr"] == pytest.approx(results.get_metric(f"{key}.arithmetic_mean_rank"), rel=1e-6)
            for k in (1, 3, 10):
                assert summary[f"hits@{k}"] == results.get_metric(f"{key}.hits_at_{k}")
    # the crafted scores really exercise the tie policies
    assert not torch.equal(ours.optimistic, ours.pessimistic)


def test_filter_keeps_true_answer_and_never_worsens_rank(kg):
    known, test, table = kg
    index = FilterIndex.from_triples(known, NUM_ENTITIES, NUM_RELATIONS)
    for direction in ("head", "tail"):
        rows, ents = index.answers(test, direction, "strict")
        col = 2 if direction == "tail" else 0
        # every query's own answer is a known answer (it is in the index) ...
        hits = torch.zeros(len(test), dtype=torch.bool)
        hits[rows[ents == test[rows, col]]] = True
        assert hits.all()
    # ... yet filtering never removes it: it still counts as a candidate and ranks are never worse
    raw = rank_queries(table_scorer(table), test, None, NUM_ENTITIES, filter_mode="none")
    for mode in ("strict", "mixed"):
        filt = rank_queries(table_scorer(table), test, index, filter_mode=mode)
        assert (filt.optimistic <= raw.optimistic).all() and (filt.pessimistic <= raw.pessimistic).all()
        assert (filt.pessimistic >= filt.optimistic).all() and (filt.optimistic >= 1).all()
        assert (filt.num_candidates >= 1).all()
    # a query whose every entity is a known answer ranks its answer first among one candidate
    everything = torch.stack(torch.meshgrid(torch.arange(5), torch.tensor([0]), torch.arange(5),
                                            indexing="ij"), dim=-1).reshape(-1, 3)
    small = FilterIndex.from_triples(everything, 5, 1)
    res = rank_queries(lambda q, d: torch.zeros(len(q), 5), everything[:3], small)
    assert res.optimistic.tolist() == [1] * 6 and res.pessimistic.tolist() == [1] * 6
    assert res.num_candidates.tolist() == [1] * 6


def dict_reference(table, test, known, mode, pools=None):
    """Obviously-correct ranks: Python sets of known answers, NaN-masked scores, one query at a time."""
    answers: dict[tuple[str, int, int], set[int]] = {}
    for h, r, t in known.tolist():
        answers.setdefault(("tail", h, r), set()).add(t)
        answers.setdefault(("head", t, r), set()).add(h)
    score = table_scorer(table)
    opt, pess = [], []
    for direction, anchor_col, answer_col in (("head", 2, 0), ("tail", 0, 2)):
        for triple in test.tolist():
            anchor, rel, target = triple[anchor_col], triple[1], triple[answer_col]
            scores = score(torch.tensor([triple]), direction)[0].clone()
            drop = set(answers.get((direction, anchor, rel), ()))
            if mode == "mixed":
                other = "head" if direction == "tail" else "tail"
                drop |= answers.get((other, anchor, rel), set())
            if pools is not None and direction == "tail":
                drop |= set(range(NUM_ENTITIES)) - pools[rel]
            drop.discard(target)
            scores[list(drop)] = float("nan")
            opt.append(int((scores > scores[target]).sum()) + 1)
            pess.append(int((scores >= scores[target]).sum()))
    return opt, pess


@pytest.mark.parametrize("mode", ["strict", "mixed"])
@pytest.mark.parametrize("with_pools", [False, True])
def test_filters_match_dict_reference(kg, mode, with_pools):
    known, test, table = kg
    index = FilterIndex.from_triples(known, NUM_ENTITIES, NUM_RELATIONS)
    train = known[: len(known) // 2]
    pools = CandidatePools.from_triples(train, NUM_RELATIONS) if with_pools else None
    pool_sets = {r: set(train[train[:, 1] == r, 2].tolist()) for r in range(NUM_RELATIONS)}
    res = rank_queries(table_scorer(table), test, index, filter_mode=mode, candidates=pools, block_size=13)
    opt, pess = dict_reference(table, test, known, mode, pool_sets if with_pools else None)
    assert res.optimistic.tolist() == opt and res.pessimistic.tolist() == pess


def test_blocked_equals_unblocked(kg):
    known, test, table = kg
    index = FilterIndex.from_triples([known[:300], known[300:]], NUM_ENTITIES, NUM_RELATIONS)
    pools = CandidatePools.from_triples(known, NUM_RELATIONS)
    runs = [
        rank_queries(table_scorer(table), test, index, filter_mode=mode, block_size=block, candidates=pools)
        for mode in ("strict", "mixed") for block in (1, 7, len(test))
    ]
    for run in runs[1:3]:
        assert_same(runs[0], run)
    for run in runs[4:]:
        assert_same(runs[3], run)


def test_float64_counting_path_agrees(kg, monkeypatch):
    from vlkge_graph.evaluation import ranking

    known, test, table = kg
    index = FilterIndex.from_triples(known, NUM_ENTITIES, NUM_RELATIONS)
    pools = CandidatePools.from_triples(known[:200], NUM_RELATIONS)
    expected = rank_queries(table_scorer(table), test, index, candidates=pools)
    monkeypatch.setattr(ranking, "FLOAT32_EXACT_COUNT", 1)  # the path used beyond 2**24 entities
    assert_same(rank_queries(table_scorer(table), test, index, candidates=pools), expected)


def test_mixed_filter_pools_both_directions():
    # facts: (0, r, 1) and (2, r, 0); query tail of (0, r, 3). Entity 2 is a known *head* of (?, r, 0):
    # the mixed filter (key = (entity 0, r) over both directions) removes it, strict filtering does not.
    known = torch.tensor([[0, 0, 1], [2, 0, 0], [0, 0, 3]])
    test = torch.tensor([[0, 0, 3]])
    scores = torch.tensor([[0.0, 5.0, 4.0, 3.0, 2.0]])  # entities 1 and 2 outscore the answer 3
    index = FilterIndex.from_triples(known, 5, 1)
    score_fn = lambda q, d: scores.expand(len(q), -1)  # noqa: E731
    strict = rank_queries(score_fn, test, index, directions=("tail",), filter_mode="strict")
    mixed = rank_queries(score_fn, test, index, directions=("tail",), filter_mode="mixed")
    raw = rank_queries(score_fn, test, index, directions=("tail",), filter_mode="none")
    assert raw.optimistic.item() == 3  # 1 and 2 above
    assert strict.optimistic.item() == 2  # 1 filtered (known tail of (0, r)), 2 kept
    assert mixed.optimistic.item() == 1  # 1 and 2 filtered
    _, ents = index.answers(test, "tail", "mixed")
    assert sorted(ents.tolist()) == [1, 2, 3]
    # head query (?, r, 0) of (2, r, 0): strict filters only heads of (?, r, 0); mixed adds tails of (0, r, ?)
    _, strict_heads = index.answers(torch.tensor([[2, 0, 0]]), "head", "strict")
    _, mixed_heads = index.answers(torch.tensor([[2, 0, 0]]), "head", "mixed")
    assert sorted(strict_heads.tolist()) == [2] and sorted(mixed_heads.tolist()) == [1, 2, 3]


def test_candidate_pools_restrict_ranks():
    # relation 0's tails are {1, 2}; entity 4 outscores everything but is not a candidate
    known = torch.tensor([[0, 0, 1], [3, 0, 2], [0, 1, 4]])
    pools = CandidatePools.from_triples(known, 2)
    assert pools.sizes().tolist() == [2, 1]
    scores = torch.tensor([[0.0, 1.0, 2.0, 3.0, 9.0]])
    score_fn = lambda q, d: scores.expand(len(q), -1)  # noqa: E731
    test = torch.tensor([[0, 0, 1]])
    free = rank_queries(score_fn, test, None, 5, directions=("tail",), filter_mode="none")
    pooled = rank_queries(score_fn, test, None, 5, directions=("tail",), filter_mode="none", candidates=pools)
    assert free.optimistic.item() == 4 and pooled.optimistic.item() == 2
    assert pooled.num_candidates.item() == 2
    # an answer outside the pool still counts as a candidate (the reference's pool | {target})
    outside = rank_queries(score_fn, torch.tensor([[0, 0, 3]]), None, 5, directions=("tail",),
                       filter_mode="none", candidates=pools)
    assert outside.optimistic.item() == 1 and outside.num_candidates.item() == 3
    # pools from a mapping, and head-direction pools leave tail queries alone
    by_map = CandidatePools.from_mapping({0: [2, 1, 1]}, 2)
    assert by_map.entities.tolist() == [1, 2] and by_map.sizes().tolist() == [2, 0]
    head_pools = CandidatePools.from_triples(known, 2, direction="head")
    assert rank_queries(score_fn, test, None, 5, directions=("tail",), filter_mode="none",
                    candidates=head_pools).optimistic.item() == 4


def test_metrics_groups_and_serialisation(kg):
    known, test, table = kg
    index = FilterIndex.from_triples(known, NUM_ENTITIES, NUM_RELATIONS)
    res = rank_queries(table_scorer(table), test, index, relation_names=["a", "b", "c", "d"])
    has_image = torch.arange(NUM_ENTITIES) % 2 == 0
    has_text = torch.arange(NUM_ENTITIES) % 3 == 0
    bucket = modality_bucket_ids(has_image, has_text)
    seen = (torch.arange(NUM_ENTITIES) < 40).long()
    groups = {"modality": (bucket[res.targets], MODALITY_BUCKETS),
              "seen": (seen[res.targets], ("unseen", "seen"))}
    data = json.loads(json.dumps(res.to_dict(groups)))
    assert data["overall"]["count"] == 2 * len(test)
    assert sum(m["count"] for m in data["per_relation"].values()) == 2 * len(test)
    assert set(data["per_relation"]) <= {"a", "b", "c", "d"}
    assert sum(m["count"] for m in data["groups"]["modality"].values()) == 2 * len(test)
    assert data["per_direction"]["head"]["count"] == len(test)
    r = res.ranks()
    assert data["overall"]["mrr"] == pytest.approx((1 / r).mean().item())
    assert_same(RankingResult.concat([res.select(res.direction == 0), res.select(res.direction == 1)]), res)
    assert res.table(groups=groups).row_count == 1 + 2 + len(data["per_relation"]) + sum(
        len(v) for v in data["groups"].values())


def test_zero_shot_ranks_matching_candidate_first():
    # a toy shared space: the image of artwork 0 points at "impressionism", artwork 1 at "cubism"
    names = ["artwork0", "artwork1", "impressionism", "cubism", "baroque"]
    axes = {"impressionism": 0, "cubism": 1, "baroque": 2}

    def encode_texts(texts: list[str]) -> torch.Tensor:
        out = torch.full((len(texts), 3), 0.1)
        for i, text in enumerate(texts):
            assert text.startswith("This painting has the style ")
            out[i, axes[text.rsplit(" ", 1)[-1]]] = 1.0
        return out

    images = torch.tensor([[0.9, 0.1, 0.0], [0.0, 1.0, 0.2], [0, 0, 0], [0, 0, 0], [0, 0, 0]])
    known = torch.tensor([[0, 0, 2], [1, 0, 3], [0, 0, 4]])  # relation 0 = hasStyle; tails {2, 3, 4}
    pools = CandidatePools.from_triples(known, 1)
    res = zero_shot_evaluate(images, ["This painting has the style {}"], names, known[:2], pools,
                             encode_texts)
    assert res.optimistic.tolist() == [1, 1] and res.pessimistic.tolist() == [1, 1]
    assert res.num_candidates.tolist() == [3, 3]
    assert res.summary()["mrr"] == 1.0
    # filtering with all known facts leaves artwork 0's other style out of its ranking
    filtered = zero_shot_evaluate(images, {0: "This painting has the style {}"}, names, known[2:], pools,
                                  encode_texts, filter_index=FilterIndex.from_triples(known, 5, 1))
    assert filtered.num_candidates.tolist() == [2]


def test_invalid_inputs_are_rejected():
    test = torch.tensor([[0, 0, 1]])
    nan_scores = lambda q, d: torch.tensor([[0.0, float("nan"), 1.0]])  # noqa: E731
    with pytest.raises(ValueError, match="NaN"):
        rank_queries(nan_scores, test, None, 3, directions=("tail",), filter_mode="none")
    with pytest.raises(ValueError, match="outside"):
        rank_queries(nan_scores, torch.tensor([[0, 0, 3]]), None, 3, filter_mode="none")
    with pytest.raises(ValueError, match="filter_index"):
        rank_queries(nan_scores, test, None, 3)
    with pytest.raises(ValueError, match="expected"):
        rank_queries(lambda q, d: torch.zeros(len(q), 2), test, None, 3, filter_mode="none")
