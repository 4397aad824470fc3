"""`refresh` on the real Neo4j: new Countries-MM nodes (with a text, with an image, with neither) and facts
are folded into the active run without training, in one transaction."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from vlkge_graph.config import Config, PredictConfig, SyncConfig
from vlkge_graph.etl.sources import PROJECT_ROOT
from vlkge_graph.graph.connection import Graph
from vlkge_graph.graph.load import load_recipe
from vlkge_graph.graph_filter import GraphFilter
from vlkge_graph.jobs.changes import detect_changes
from vlkge_graph.jobs.refresh import refresh
from vlkge_graph.jobs.sync import sync
from vlkge_graph.published import PublishedParams
from vlkge_graph.report import write_report

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]

RECIPE = """
dataset: countries-mm
features: {image: efficientnet-lite0, text: minilm}
model: {backbone: complex, dim: 16, imaginary: gated, reciprocal: true}
training: {mode: 1vsall, loss: cross_entropy, optimizer: adam, lr: 0.02, batch_size: 128, epochs: 8,
           eval_every: 8, seed: 3}
"""


def visible(graph: Graph, label: str) -> pd.DataFrame:
    """The scope's visible candidates (the documented pattern), as (head, relation, tail, score, rank)."""
    rows = graph.query(f"MATCH (r:VlkgeRun {{active: true, scope: $label}}) "
                       f"MATCH (h:`{label}`)-[c:VLKGE_CANDIDATE {{generation: r.generation}}]->(t) "
                       "RETURN h.id AS head, c.relation AS relation, t.id AS tail, c.score AS score, c.rank AS rank",
                       label=label)
    return pd.DataFrame(rows, columns=["head", "relation", "tail", "score", "rank"])


def embeddings(graph: Graph, label: str) -> dict[str, list[float]]:
    rows = graph.query(f"MATCH (r:VlkgeRun {{active: true, scope: $label}}) MATCH (n:`{label}`) "
                       "RETURN n.id AS id, n[r.embedding_property] AS v", label=label)
    return {r["id"]: r["v"] for r in rows if r["v"] is not None}


def active(graph: Graph, label: str) -> dict[str, Any]:
    return graph.query("MATCH (r:VlkgeRun {active: true, scope: $label}) RETURN r.run_id AS run_id, "
                       "r.generation AS generation, r.parent AS parent, r.jaccard_at_k AS jaccard", label=label)[0]


@pytest.fixture(scope="module")
def refreshed(graph: Graph, neo4j_config: Config, tmp_path_factory: pytest.TempPathFactory):
    label = f"Fresh{uuid.uuid4().hex[:10]}"
    load_recipe(graph, "countries-mm", label=label, progress=False)
    work = tmp_path_factory.mktemp("refresh")
    (work / "recipe.yaml").write_text(RECIPE)
    cfg = replace(neo4j_config, sync=SyncConfig(scope=label, graph=GraphFilter(entity_labels=[label]),
                                                recipe=str(work / "recipe.yaml"), predict=PredictConfig(k=5),
                                                runs_dir=str(work / "runs"), device="cpu"))
    first = sync(graph, cfg, device="cpu")
    before = {"candidates": visible(graph, label), "embeddings": embeddings(graph, label), "run": active(graph, label)}
    # the best NEIGHBOR_OF candidate becomes a fact; three new countries: with a text, with a flag, with neither
    fact = before["candidates"][before["candidates"]["relation"] == "neighbor_of"].sort_values("score").iloc[-1]
    graph.execute(f"MATCH (h:`{label}` {{id: $h}}), (t:`{label}` {{id: $t}}) CREATE (h)-[:NEIGHBOR_OF]->(t)",
                  h=fact["head"], t=fact["tail"])
    flag = graph.query(f"MATCH (n:`{label}` {{id: 'country:FRA'}}) RETURN n.images AS images")[0]["images"]
    graph.execute(f"UNWIND $rows AS row CREATE (n:`{label}`:Country) SET n = row",
                  rows=[{"id": "country:NEW1", "name": "Newland", "text": "Newland is a country in Western Europe, "
                         "bordering France and Belgium; its language is French and its currency the euro."},
                        {"id": "country:NEW2", "name": "Flagland", "images": flag},
                        {"id": "country:NEW3", "name": "Bareland"}])
    graph.execute(f"MATCH (n:`{label}` {{id: 'country:NEW1'}}), (f:`{label}` {{id: 'country:FRA'}}) "
                  "CREATE (n)-[:NEIGHBOR_OF]->(f)")
    changes = detect_changes(graph, cfg.sync)
    state = refresh(graph, cfg, changes, device="cpu")
    return label, cfg, first, state, before, fact


def test_refresh_folds_new_nodes_in(graph: Graph, refreshed) -> None:
    label, _, first, state, before, _ = refreshed
    run = active(graph, label)
    assert run["run_id"] == state.run_id and run["parent"] == first.run_id
    assert run["generation"] == before["run"]["generation"]  # the parent's generation, continued
    after = embeddings(graph, label)
    assert {"country:NEW1", "country:NEW2", "country:NEW3"} <= set(after)
    for key, vector in before["embeddings"].items():  # existing entities' embeddings are untouched
        assert after[key] == vector, key
    new_heads = set(visible(graph, label)["head"])
    assert {"country:NEW1", "country:NEW2", "country:NEW3"} <= new_heads
    assert state.stages["fold"]["folded_in"] == 3
    assert 0 < state.stages["predict"]["candidates_written"] < len(before["candidates"])


def test_a_refresh_writes_no_report_but_reports_on_request(refreshed) -> None:
    """A refresh keeps its parent's model and metrics, so it writes no report of its own; `vlkge-graph report`
    on its run directory shows the parent's metrics, saying so, and the folded model's predictions."""
    _, cfg, first, state, _, _ = refreshed
    run_dir = Path(cfg.sync.runs_dir) / state.run_id
    assert "report" not in state.stages and not (run_dir / "report").exists()
    written = write_report(run_dir, device="cpu")
    html = written.index.read_text(encoding="utf-8")
    assert f"from run {first.run_id}, the last retrain" in html and f"refresh of run {first.run_id}" in html
    assert {"relation_mrr", "training_curve"} <= set(written.figures) and written.gallery_queries == 6


def test_candidates_that_became_facts_are_gone(graph: Graph, refreshed) -> None:
    label, _, _, _, _, fact = refreshed
    now = visible(graph, label)
    same = now[(now["head"] == fact["head"]) & (now["tail"] == fact["tail"]) & (now["relation"] == "neighbor_of")]
    assert same.empty
    new = now[(now["head"] == "country:NEW1") & (now["relation"] == "neighbor_of")]
    assert "country:FRA" not in set(new["tail"])  # its new fact is not proposed either


def test_visible_state_is_the_refresh_runs_candidate_table(graph: Graph, refreshed) -> None:
    label, cfg, _, state, _, _ = refreshed
    table = pd.read_parquet(Path(cfg.sync.runs_dir) / state.run_id / "candidates.parquet")
    now = visible(graph, label)
    key = ["head", "relation", "tail"]
    assert len(now) == len(table)
    merged = now.merge(table, on=key, suffixes=("", "_table"))
    assert len(merged) == len(table)
    assert np.allclose(merged["score"], merged["score_table"], atol=1e-5)
    assert (merged["rank"] == merged["rank_table"]).all()
    assert 0 < active(graph, label)["jaccard"] <= 1


def test_the_refresh_table_is_the_folded_models_full_prediction(graph: Graph, refreshed) -> None:
    """Lists the change may alter are ranked again; the others merge the new entities' own top k into the
    parent's list. Both must give exactly what ranking every list over every entity with the folded model gives."""
    from rich.console import Console

    from vlkge_graph.jobs.sync import RunState, Stage, predict_candidates

    _, cfg, _, state, _, _ = refreshed
    run_dir = Path(cfg.sync.runs_dir) / state.run_id
    stage = Stage(graph, cfg, run_dir, RunState.load(run_dir), "cpu", Console(quiet=True))
    full = predict_candidates(stage, stage.trained())
    table = pd.read_parquet(run_dir / "candidates.parquet")
    key = ["head", "relation", "tail", "direction"]
    merged = full.merge(table, on=key, how="outer", suffixes=("", "_table"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"]
    assert np.allclose(merged["score"], merged["score_table"], atol=1e-5)
    assert (merged["rank"] == merged["rank_table"]).all()
    assert np.allclose(merged["probability"], merged["probability_table"], atol=1e-6)


def test_refreshed_candidates_carry_their_relationship_type(graph: Graph, refreshed) -> None:
    """A refresh's new candidates name their relation and its relationship type, as a sync's do."""
    from vlkge_graph.snapshot import read_snapshot

    label, cfg, _, state, _, _ = refreshed
    type_of = read_snapshot(Path(cfg.sync.runs_dir) / state.run_id / "snapshot")[0].relation_types()
    rows = graph.query(f"MATCH (r:VlkgeRun {{active: true, scope: $label}}) "
                       f"MATCH (h:`{label}`)-[c:VLKGE_CANDIDATE {{generation: r.generation}}]->() "
                       "WHERE h.id STARTS WITH 'country:NEW' RETURN DISTINCT c.relation AS relation, c.type AS type",
                       label=label)
    assert rows and all(r["type"] == type_of[r["relation"]] for r in rows), (rows, type_of)
    assert any(r["type"] != r["relation"] for r in rows)  # names and types differ here: the check can fail


def test_after_a_refresh_nothing_changed(graph: Graph, refreshed) -> None:
    _, cfg, _, _, _, _ = refreshed
    assert not detect_changes(graph, cfg.sync).changed


def test_a_refresh_keeps_its_parents_calibration(graph: Graph, refreshed) -> None:
    """The folded model keeps the parent's relations, so its probabilities are the parent's calibration of
    its scores: in its published parameters, on its relation nodes, and on the candidates it wrote."""
    label, cfg, first, state, _, _ = refreshed
    runs = Path(cfg.sync.runs_dir)
    parent = json.loads((runs / first.run_id / "train" / "calibration.json").read_text())
    params = PublishedParams.load(runs / state.run_id / "train")
    assert params.calibration is not None and params.calibration["relations"] == parent["relations"]
    stored = graph.query("MATCH (:VlkgeRun {run_id: $run})-[:VLKGE_HAS_RELATION]->(x:VlkgeRelation) "
                         "RETURN x.relation AS relation, x.calibration AS c", run=state.run_id)
    assert stored and all(r["c"] == pytest.approx(params.relation_calibration(r["relation"])) for r in stored)
    rows = pd.DataFrame(graph.query(
        f"MATCH (r:VlkgeRun {{run_id: $run}}) MATCH (h:`{label}`)-[c:VLKGE_CANDIDATE {{generation: r.generation}}]->() "
        "WHERE h.id STARTS WITH 'country:NEW' RETURN c.relation AS relation, c.direction AS direction, "
        "c.score AS score, c.probability AS probability", run=state.run_id))
    assert len(rows) and set(rows["direction"]) == {"tail"}
    coefficients = rows["relation"].map(lambda name: params.relation_calibration(name)[:2])
    expected = [1 / (1 + math.exp(-(a * s + b))) for (a, b), s in zip(coefficients, rows["score"], strict=True)]
    assert np.allclose(rows["probability"], expected, atol=1e-9)


def test_a_refresh_that_dies_in_its_transaction_leaves_the_parent_and_the_rerun_converges(
        graph: Graph, refreshed, monkeypatch: pytest.MonkeyPatch) -> None:
    label, cfg, _, _, _, _ = refreshed
    graph.execute(f"CREATE (n:`{label}`:Country {{id: 'country:NEW4', name: 'Laterland', "
                  "text: 'Laterland is an island country in the Pacific Ocean.'})")
    before = (visible(graph, label), embeddings(graph, label), active(graph, label))
    from vlkge_graph.graph import publish_changes

    real = publish_changes._switch

    def dies(tx: Any, *args: Any) -> int:
        real(tx, *args)  # every write of the refresh is done in the transaction ...
        raise KeyboardInterrupt("killed before the commit")  # ... and it never commits

    monkeypatch.setattr(publish_changes, "_switch", dies)
    with pytest.raises(KeyboardInterrupt):
        refresh(graph, cfg, detect_changes(graph, cfg.sync), device="cpu")
    now = (visible(graph, label), embeddings(graph, label), active(graph, label))
    assert now[2] == before[2] and now[1] == before[1]
    pd.testing.assert_frame_equal(now[0].sort_values(["head", "relation", "tail"]).reset_index(drop=True),
                                  before[0].sort_values(["head", "relation", "tail"]).reset_index(drop=True))
    monkeypatch.undo()
    again = refresh(graph, cfg, detect_changes(graph, cfg.sync), device="cpu")
    assert active(graph, label)["run_id"] == again.run_id
    assert "country:NEW4" in embeddings(graph, label)
    table = pd.read_parquet(Path(cfg.sync.runs_dir) / again.run_id / "candidates.parquet")
    assert len(visible(graph, label)) == len(table)


def test_a_change_too_large_for_one_transaction_publishes_a_whole_generation(graph: Graph, refreshed) -> None:
    label, cfg, _, _, _, _ = refreshed
    graph.execute(f"CREATE (n:`{label}`:Country {{id: 'country:NEW5', name: 'Bigland', "
                  "text: 'Bigland is a large country in South America.'})")
    before = active(graph, label)
    small = replace(cfg, sync=replace(cfg.sync, refresh_transaction_max=0))
    state = refresh(graph, small, detect_changes(graph, cfg.sync), device="cpu")
    assert state.stages["publish"]["mode"] == "full generation"
    now = active(graph, label)
    assert now["run_id"] == state.run_id and now["generation"] != before["generation"]
    table = pd.read_parquet(Path(cfg.sync.runs_dir) / state.run_id / "candidates.parquet")
    assert len(visible(graph, label)) == len(table)
    assert "country:NEW5" in embeddings(graph, label)


KILLED_REFRESH = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from vlkge_graph.graph import publish_changes

    real, marker = publish_changes._switch, Path(sys.argv[1])

    def stalls(tx, *args):
        removed = real(tx, *args)  # every write of the refresh is made in its transaction ...
        marker.write_text("in the transaction")
        time.sleep(600)  # ... and the process is killed before it commits
        return removed

    publish_changes._switch = stalls
    from vlkge_graph.cli import main
    sys.argv = ["vlkge-graph", "refresh", "--config", sys.argv[2]]
    main()
""")


def test_a_refresh_killed_with_sigkill_leaves_the_parent_and_the_rerun_converges(
        graph: Graph, refreshed, tmp_path: Path) -> None:
    """A real ``kill -9`` of a `vlkge-graph refresh` process with its transaction open: the server rolls it
    back, the previous generation stays visible, the dead process's lock is taken over at once, and the
    rerun ends in the state the killed run would have published (its candidate table)."""
    label, cfg, _, _, _, _ = refreshed
    graph.execute(f"CREATE (n:`{label}`:Country {{id: 'country:NEW6', name: 'Killland', "
                  "text: 'Killland is a small country in Northern Europe on the Baltic Sea.'})")
    before = (visible(graph, label), embeddings(graph, label), active(graph, label))
    sync_cfg = cfg.sync
    assert sync_cfg.graph is not None
    config = tmp_path / "vlkge.yaml"
    config.write_text(yaml.safe_dump({
        "neo4j": {"uri": cfg.neo4j.uri},
        "sync": {"scope": label, "graph": {"entity_labels": sync_cfg.graph.entity_labels},
                 "recipe": sync_cfg.recipe, "predict": {"k": sync_cfg.predict.k}, "runs_dir": sync_cfg.runs_dir,
                 "device": "cpu"}}))
    marker = tmp_path / "marker"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    env.pop("NEO4J_URI", None)
    proc = subprocess.Popen([sys.executable, "-c", KILLED_REFRESH, str(marker), str(config)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marker.exists(), f"the refresh never reached its transaction: {proc.stderr.read().decode()[-3000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    now = (visible(graph, label), embeddings(graph, label), active(graph, label))
    assert now[2] == before[2] and now[1] == before[1]
    pd.testing.assert_frame_equal(now[0].sort_values(["head", "relation", "tail"]).reset_index(drop=True),
                                  before[0].sort_values(["head", "relation", "tail"]).reset_index(drop=True))
    killed = max(Path(sync_cfg.runs_dir).glob("*-refresh*/candidates.parquet"), key=lambda p: p.stat().st_mtime)
    expected = pd.read_parquet(killed)
    again = refresh(graph, cfg, detect_changes(graph, cfg.sync), device="cpu")  # no --lock-wait needed
    assert active(graph, label)["run_id"] == again.run_id != killed.parent.name
    assert not killed.parent.exists()  # a refresh of a run no longer active can never publish: removed
    assert "country:NEW6" in embeddings(graph, label)
    key = ["head", "relation", "tail"]
    got = visible(graph, label).sort_values(key).reset_index(drop=True)
    assert len(got) == len(expected)
    merged = got.merge(expected, on=key, suffixes=("", "_killed"))
    assert len(merged) == len(expected)  # the same pairs as the uninterrupted run would have published ...
    assert np.allclose(merged["score"], merged["score_killed"], atol=1e-5)  # ... with the same scores and ranks
    assert (merged["rank"] == merged["rank_killed"]).all()
