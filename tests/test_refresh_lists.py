"""The refresh's list arithmetic without a server: merging new entities into top-k lists must give the top k
over all entities, and the list codes must round-trip."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vlkge_graph.jobs.refresh import Lists, entered_lists, list_jaccard, merge_lists


def top_k(scores: pd.DataFrame, k: int) -> pd.DataFrame:
    ranked = scores.sort_values(["head", "relation", "score"], ascending=[True, True, False])
    ranked["rank"] = ranked.groupby(["head", "relation"]).cumcount() + 1
    return ranked[ranked["rank"] <= k].reset_index(drop=True)


def test_entering_lists_gives_the_top_k_over_all_entities() -> None:
    rng = np.random.default_rng(0)
    old, new, k = [f"e{i}" for i in range(40)], [f"n{i}" for i in range(4)], 5
    rows = [(h, r, t, float(rng.normal() * (3 if t.startswith("n") else 1)))
            for h in old for r in ("a", "b") for t in old + new if t != h]
    scores = pd.DataFrame(rows, columns=["head", "relation", "tail", "score"]).assign(direction="tail")
    scores["probability"] = 1 / (1 + np.exp(-scores["score"]))
    before = top_k(scores[~scores["tail"].isin(new)], k)
    entering = top_k(scores[scores["tail"].isin(new)], k)
    lists = Lists(old + new, ["a", "b"])
    codes = lists.codes(before)
    entered = entered_lists(before, codes, top_k(entering, 1), lists.codes(top_k(entering, 1)), k)
    chosen = entering[np.isin(lists.codes(entering), entered)].reset_index(drop=True)
    merged = merge_lists(before, codes, chosen, lists.codes(chosen), k)
    expected = top_k(scores, k)
    moved = expected[expected["tail"].isin(new)]
    assert len(entered) == len(moved.groupby(["head", "relation"])) > 0  # exactly the lists a newcomer entered
    got = merged.sort_values(["head", "relation", "rank"]).reset_index(drop=True)
    want = expected[expected.set_index(["head", "relation"]).index.isin(
        got.set_index(["head", "relation"]).index)].sort_values(["head", "relation", "rank"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got[["head", "relation", "tail", "rank"]], want[["head", "relation", "tail", "rank"]])


def test_list_codes_round_trip_and_jaccard() -> None:
    lists = Lists(["x", "y", "z"], ["r", "s"])
    frame = pd.DataFrame({"head": ["x", "y", "gone"], "tail": ["y", "z", "x"], "relation": ["s", "r", "r"],
                          "direction": ["tail", "head", "tail"]})
    codes = lists.codes(frame)
    assert codes[2] == -1  # an anchor no longer in the model
    keys = lists.keys(codes[:2])
    assert set(map(tuple, keys.to_numpy())) == {("x", "s", "tail"), ("z", "r", "head")}
    only = lists.only(codes[:2])
    assert only[("s", "tail")].tolist() == [0] and only[("r", "head")].tolist() == [2]
    a = pd.DataFrame({"code": [1, 1, 2], "other": ["p", "q", "p"]})
    b = pd.DataFrame({"code": [1, 1, 3], "other": ["p", "r", "p"]})
    assert list_jaccard(a, b).round(3).to_dict() == {1: 0.333, 2: 0.0, 3: 0.0}
