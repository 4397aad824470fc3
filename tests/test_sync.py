"""`sync` end to end on the real Neo4j: Countries-MM with real encoders, Cypher checks, recovery of hidden facts."""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from io import StringIO
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from PIL import Image
from rich.console import Console
from typer.testing import CliRunner

from tests.browser import dump_dom, screenshot
from vlkge_graph.cli import app
from vlkge_graph.config import Config, PredictConfig, SyncConfig
from vlkge_graph.errors import ReportError
from vlkge_graph.graph.connection import Graph
from vlkge_graph.graph.load import load_recipe
from vlkge_graph.graph.queries import query_names, run_query
from vlkge_graph.graph_filter import GraphFilter
from vlkge_graph.jobs import sync as sync_module
from vlkge_graph.jobs.summary import run_summary
from vlkge_graph.jobs.sync import STAGES, RunState, Stage, report_stage, sync

RECIPE = """
dataset: countries-mm
features: {image: efficientnet-lite0, text: minilm}
model: {backbone: complex, dim: 32, imaginary: gated, reciprocal: true}
training: {mode: 1vsall, loss: cross_entropy, optimizer: adam, lr: 0.02, regularizer: n3,
           regularization_weight: 0.01, batch_size: 128, epochs: 40, eval_every: 20, seed: 42}
"""


@pytest.fixture(scope="module")
def synced(graph: Graph, neo4j_config: Config, tmp_path_factory: pytest.TempPathFactory):
    """Countries-MM under a unique label, 10% of NEIGHBOR_OF hidden from the export, one full sync."""
    label = f"Sync{uuid.uuid4().hex[:10]}"
    _, summary = load_recipe(graph, "countries-mm", label=label, progress=False)
    assert summary.relationships_created == 1610
    hidden = graph.execute(
        f"MATCH (h:`{label}`)-[r:NEIGHBOR_OF]->(t:`{label}`) WITH h, r, t ORDER BY h.id, t.id "
        "WITH collect([h, r, t]) AS facts WITH facts, size(facts) AS n "
        "UNWIND range(0, n - 1, 10) AS i WITH facts[i][0] AS h, facts[i][1] AS r, facts[i][2] AS t "
        "SET r.holdout = true RETURN h.id AS head, t.id AS tail")
    work = tmp_path_factory.mktemp("sync")
    (work / "recipe.yaml").write_text(RECIPE)
    cfg = replace(neo4j_config, sync=SyncConfig(
        graph=GraphFilter(entity_labels=[label], where="coalesce(r.holdout, false) = false"),
        recipe=str(work / "recipe.yaml"), predict=PredictConfig(k=10), runs_dir=str(work / "runs")))
    with spy_loads() as counts:
        state = sync(graph, cfg, device="cpu", console=Console(file=OUTPUT, force_terminal=False, width=120))
    LOADS.update(counts)
    return label, cfg, state, hidden, Path(cfg.sync.runs_dir) / state.run_id


#: Encoder and model constructions during the module's sync (filled by the ``synced`` fixture).
LOADS: Counter[str] = Counter()
#: What the module's sync printed (a console that is not a terminal, as in a log file or CI).
OUTPUT = StringIO()


@contextmanager
def spy_loads() -> Iterator[Counter[str]]:
    """Count calls of the functions that load an encoder or build a model (the real ones still run)."""
    from vlkge_graph.encoders import features
    from vlkge_graph.training import api

    counts: Counter[str] = Counter()
    with pytest.MonkeyPatch.context() as patch:
        for module, name in ((features, "get_encoder"), (api, "make_model")):
            real = getattr(module, name)

            def counted(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
                counts[_name] += 1
                return _real(*args, **kwargs)

            patch.setattr(module, name, counted)
        yield counts


def test_sync_publishes_consistent_candidates(graph: Graph, synced) -> None:
    label, _, state, hidden, _ = synced
    assert list(state.stages) == ["export", "encode", "train", "evaluate", "predict", "publish", "report"]
    assert LOADS == {"get_encoder": 2, "make_model": 1}  # each encoder (image, text) and the model built once
    assert state.stages["export"]["counts"]["triples"] == 1610 - len(hidden)
    dup = graph.query(f"MATCH (h:`{label}`)-[c:VLKGE_CANDIDATE]->(t) MATCH (h)-[f]->(t) "
                      "WHERE type(f) = c.type AND coalesce(f.holdout, false) = false RETURN count(*) AS n")
    assert dup == [{"n": 0}]  # no candidate duplicates a fact the model was shown
    rows = graph.query(f"MATCH (r:VlkgeRun {{run_id: $run}}) "
                       f"MATCH (h:`{label}`)-[c:VLKGE_CANDIDATE {{generation: r.generation}}]->(t) "
                       "RETURN h.id AS h, c.relation AS r, c.rank AS rank, c.score AS s, c.probability AS p",
                       run=state.run_id)
    frame = pd.DataFrame(rows)
    assert len(frame) == state.stages["publish"]["candidates"] > 0
    for _, group in frame.groupby(["h", "r"]):
        ordered = group.sort_values("rank")
        assert ordered["rank"].tolist() == list(range(1, len(group) + 1))
        assert ordered["s"].is_monotonic_decreasing and ordered["p"].between(0, 1).all()
    run = graph.query("MATCH (r:VlkgeRun {run_id: $id}) RETURN r.status AS status, r.active AS active, "
                      "r.metrics AS metrics, r.backbone AS backbone", id=state.run_id)[0]
    assert run["status"] == "published" and run["active"] and run["backbone"] == "complex"
    assert 0 < json.loads(run["metrics"])["mrr"] <= 1
    with_embedding = graph.query(f"MATCH (n:`{label}`) WHERE n.vlkge_embedding_a IS NOT NULL RETURN count(n) AS n")
    assert with_embedding == [{"n": 595}]
    similar = run_query(graph, "similar-entities", {"label": label, "key": "country:FRA", "limit": 5})
    assert len(similar) == 5 and all(r["key"] != "country:FRA" for r in similar)


def test_the_sync_console_reads_as_words(synced) -> None:
    """Stage lines and the summary table name their numbers; no Python reprs; no source-file marks."""
    _, _, state, _, _ = synced
    console = Console(file=StringIO(), force_terminal=False, width=120)
    console.print(run_summary(state))  # what `vlkge-graph sync` prints at the end
    text = OUTPUT.getvalue() + console.file.getvalue()
    assert "{'" not in text and "loop.py" not in text, text
    assert re.search(r"exported 595 entities, 4 relations, 1,\d{3} facts", OUTPUT.getvalue()), OUTPUT.getvalue()
    assert re.search(r"^epoch 40/40  loss \d+\.\d{4}  valid MRR 0\.\d{4}  \d+\.\d s$", OUTPUT.getvalue(), re.M)
    summary = console.file.getvalue()
    for words in ("stage", "seconds", "export", "595 entities", "image: efficientnet-lite0", "text: minilm",
                  "40 epochs", "best valid MRR", "test: ", "Hits@10", "candidates", "total"):
        assert words in summary, (words, summary)


def test_hidden_facts_come_back_among_top10(graph: Graph, synced) -> None:
    label, _, _, hidden, _ = synced
    found = graph.query(f"UNWIND $pairs AS p MATCH (h:`{label}` {{id: p.head}})-[c:VLKGE_CANDIDATE]->"
                        f"(t:`{label}` {{id: p.tail}}) WHERE c.relation = 'neighbor_of' AND c.rank <= 10 "
                        "RETURN count(DISTINCT [h.id, t.id]) AS n", pairs=hidden)[0]["n"]
    share = found / len(hidden)
    # A random top-10 over ~245 candidate countries would hold a hidden neighbour about 4% of the time.
    print(f"recovered {found}/{len(hidden)} hidden NEIGHBOR_OF facts in the top 10 ({share:.0%})")
    assert share >= 0.4


def test_accept_and_reject_then_rejected_pair_is_never_proposed_again(graph: Graph, synced) -> None:
    label, cfg, state, _, run_dir = synced
    top = graph.query(f"MATCH (h:`{label}`:Country)-[c:VLKGE_CANDIDATE {{relation: 'neighbor_of'}}]->(t) "
                      "WHERE NOT (h)-[:NEIGHBOR_OF]->(t) "  # not one of the hidden facts
                      "RETURN h.id AS head, t.id AS tail ORDER BY c.score DESC LIMIT 2")
    accepted, rejected = top
    out = run_query(graph, "accept-candidate", {"label": label, **accepted, "relation": "NEIGHBOR_OF"})
    assert out[0]["relationship"] == "NEIGHBOR_OF"
    fact = graph.query(f"MATCH (h:`{label}` {{id: $head}})-[f:NEIGHBOR_OF]->(t {{id: $tail}}) "
                       "RETURN f.vlkge_run_id AS run, f.vlkge_score AS score", **accepted)
    assert fact[0]["run"] == state.run_id and fact[0]["score"] is not None
    explained = run_query(graph, "explain-candidate", {"label": label, **rejected, "relation": "NEIGHBOR_OF"})
    assert [row["run_id"] for row in explained] == [state.run_id]
    run_query(graph, "reject-candidate", {"label": label, **rejected, "relation": "NEIGHBOR_OF", "reason": "test"})
    record = graph.query(f"MATCH (h:`{label}` {{id: $head}})-[x:VLKGE_REJECTED]->(t {{id: $tail}}) "
                         "RETURN x.run_id AS run, x.reason AS reason", **rejected)
    assert record == [{"run": state.run_id, "reason": "test"}]
    for pair in (accepted, rejected):
        left = graph.query(f"MATCH (h:`{label}` {{id: $head}})-[c:VLKGE_CANDIDATE]->(t {{id: $tail}}) "
                           "WHERE c.relation = 'neighbor_of' RETURN count(c) AS n", **pair)
        assert left == [{"n": 0}]
    # Re-export (the rejection is read back) and predict again with the trained model: never re-proposed.
    dict(STAGES)["export"](Stage(graph, cfg, run_dir, RunState.load(run_dir), "cpu", Console(stderr=True)))
    sync(graph, cfg, start="predict", run_dir=run_dir, dry_run=True, device="cpu")
    candidates = pd.read_parquet(run_dir / "candidates.parquet")
    same = candidates[(candidates["head"] == rejected["head"]) & (candidates["tail"] == rejected["tail"])
                      & (candidates["relation"] == "neighbor_of")]
    assert same.empty
    assert pd.read_parquet(run_dir / "rejected.parquet").to_dict("records") == [
        {"head": rejected["head"], "relation": "neighbor_of", "tail": rejected["tail"]}]


def test_every_library_query_runs(graph: Graph, synced) -> None:
    label = synced[0]
    params = {"label": label, "key": "country:DEU", "head": "country:DEU", "tail": "country:FRA",
              "relation": "NEIGHBOR_OF", "scope": label, "reason": "checked"}
    for name in query_names():
        from vlkge_graph.graph.queries import load_query

        wanted = {k: v for k, v in params.items() if k in load_query(name).parameters}
        run_query(graph, name, wanted)  # must not raise; results depend on the model


def test_procedures_after_sync(graph: Graph, synced) -> None:
    """Every vlkge.* procedure on the synced graph agrees with the Python model of the published run."""
    import torch

    from vlkge_graph.training.api import load_trained

    label, _, state, _, run_dir = synced
    require_plugin(graph)
    trained = load_trained(run_dir / "train", dataset=str(run_dir / "snapshot"), device="cpu")
    model, data = trained.model.double(), trained.data
    ent = list(data.entity_ids)
    rel = list(data.relation_ids).index("neighbor_of")  # the dataset's name; its type is NEIGHBOR_OF
    node = f"(n:`{label}` {{id: $id}})"

    info = graph.query("CALL vlkge.info() YIELD runId, scope, backbone, reciprocal, embeddingProperty, entityLabels, "
                       "relations WHERE scope = $scope RETURN *", scope=state.scope)
    assert len(info) == 1, info
    row = info[0]
    assert (row["runId"], row["backbone"], row["reciprocal"], row["entityLabels"]) == (
        state.run_id, "complex", True, [label])
    slot = state.stages["publish"]["embedding_property"]
    assert row["embeddingProperty"] == slot and "neighbor_of" in row["relations"]

    head, tail = "country:FRA", "country:DEU"
    with torch.no_grad():
        expected = float(model(torch.tensor([[ent.index(head), rel, ent.index(tail)]]))[0])
    got = graph.query(f"MATCH (h:`{label}` {{id: $h}}), (t:`{label}` {{id: $t}}) "
                      "RETURN vlkge.score(h, 'NEIGHBOR_OF', t) AS s", h=head, t=tail)[0]["s"]
    assert got == pytest.approx(expected, abs=1e-4)

    def python_top(key: str, direction: str, k: int = 5) -> list[tuple[str, float]]:
        """The model's own ranking (a reciprocal head query uses the inverse relation), leaving out the query
        entity, its existing NEIGHBOR_OF facts and rejected pairs, as vlkge.predict does."""
        pattern = "(n)-[x]->(o)" if direction == "tail" else "(o)-[x]->(n)"
        skip = {r["o"] for r in graph.query(
            f"MATCH {node} MATCH {pattern} WHERE type(x) = 'NEIGHBOR_OF' OR "
            "(type(x) = 'VLKGE_REJECTED' AND x.relation = 'neighbor_of') RETURN o.id AS o", id=key)}
        i = ent.index(key)
        with torch.no_grad():
            scores = model.score_queries(torch.tensor([[i, rel, i]]), direction)[0].clone()
        for e in skip | {key}:
            scores[ent.index(e)] = float("-inf")
        return [(ent[j], float(scores[j])) for j in torch.argsort(scores, descending=True, stable=True)[:k]]

    for direction in ("tail", "head"):  # the head query is scored with inverse_vector (a reciprocal run)
        rows = graph.query(f"MATCH {node} CALL vlkge.predict(n, 'NEIGHBOR_OF', {{k: 5, direction: $d}}) "
                           "YIELD node, score RETURN node.id AS id, score", id=head, d=direction)
        want = python_top(head, direction)
        assert [r["id"] for r in rows] == [w[0] for w in want], direction
        assert [r["score"] for r in rows] == pytest.approx([w[1] for w in want], abs=1e-4)

    candidates = graph.query(f"MATCH {node} CALL vlkge.candidates(n, {{relation: 'NEIGHBOR_OF', direction: 'tail'}}) "
                             "YIELD candidate, other, relation, score RETURN other.id AS tail, relation, score, "
                             "candidate.generation AS generation, candidate.type AS type", id=head)
    generation = graph.query("MATCH (r:VlkgeRun {run_id: $run}) RETURN r.generation AS g", run=state.run_id)[0]["g"]
    published = graph.query(f"MATCH {node}-[c:VLKGE_CANDIDATE {{generation: $g, relation: 'neighbor_of'}}]->(t) "
                            "RETURN t.id AS tail, c.score AS score ORDER BY c.score DESC", id=head, g=generation)
    assert candidates and [(c["tail"], c["score"]) for c in candidates] == [(p["tail"], p["score"]) for p in published]
    assert {(c["relation"], c["type"], c["generation"]) for c in candidates} == {
        ("neighbor_of", "NEIGHBOR_OF", generation)}
    best = graph.query(f"MATCH (h:`{label}` {{id: $h}}), (t:`{label}` {{id: $t}}) "
                       "RETURN vlkge.score(h, 'NEIGHBOR_OF', t) AS s", h=head, t=candidates[0]["tail"])[0]["s"]
    assert best == pytest.approx(candidates[0]["score"], abs=1e-4)  # what predict published is what the plugin scores

    index = graph.query("SHOW INDEXES YIELD name, state WHERE name = $name RETURN state",
                        name=f"vlkge_{slot}_{label}")
    assert index == [{"state": "ONLINE"}]  # similar goes through the run's vector index
    near = graph.query(f"MATCH {node} CALL vlkge.similar(n, 5) YIELD node, score RETURN node.id AS id, score", id=head)
    with torch.no_grad():
        vectors = model.entity_vectors()
        cosine = torch.nn.functional.cosine_similarity(vectors[ent.index(head)][None], vectors)
    cosine[ent.index(head)] = float("-inf")
    order = torch.argsort(cosine, descending=True, stable=True)[:5]
    assert [r["id"] for r in near] == [ent[j] for j in order]
    assert [r["score"] for r in near] == pytest.approx([float(cosine[j]) for j in order], abs=1e-4)

    # curation on the 3rd and 4th best candidates that are not facts (the other tests took the best ones)
    third, fourth = graph.query(
        f"MATCH (h:`{label}`:Country)-[c:VLKGE_CANDIDATE {{relation: 'neighbor_of', generation: $g}}]->(t) "
        "WHERE NOT (h)-[:NEIGHBOR_OF]->(t) RETURN elementId(c) AS c, h.id AS head, t.id AS tail, c.score AS score "
        "ORDER BY c.score DESC SKIP 2 LIMIT 2", g=generation)
    by_id = "MATCH ()-[c:VLKGE_CANDIDATE]->() WHERE elementId(c) = $c "
    accepted = graph.execute(by_id + "CALL vlkge.accept(c) YIELD relationship AS f RETURN type(f) AS type, "
                             "startNode(f).id AS head, endNode(f).id AS tail, f.vlkge_run_id AS run, "
                             "f.vlkge_score AS score, f.vlkge_accepted_at IS NOT NULL AS stamped", c=third["c"])
    assert accepted == [{"type": "NEIGHBOR_OF", "head": third["head"], "tail": third["tail"], "run": state.run_id,
                         "score": third["score"], "stamped": True}]
    rejected = graph.execute(by_id + "CALL vlkge.reject(c, 'not a neighbour') YIELD rejected AS x "
                             "RETURN type(x) AS type, properties(x) AS props", c=fourth["c"])
    assert rejected[0]["type"] == "VLKGE_REJECTED"
    props = rejected[0]["props"]
    assert (props["relation"], props["type"], props["reason"], props["run_id"], props["score"]) == (
        "neighbor_of", "NEIGHBOR_OF", "not a neighbour", state.run_id, fourth["score"])
    assert props["rejected_at"] is not None
    for pair in (third, fourth):
        left = graph.query(f"MATCH (h:`{label}` {{id: $head}})-[c:VLKGE_CANDIDATE]->(t {{id: $tail}}) "
                           "RETURN count(c) AS n", head=pair["head"], tail=pair["tail"])
        assert left == [{"n": 0}]
        proposed = graph.query(f"MATCH {node} CALL vlkge.predict(n, 'NEIGHBOR_OF', {{k: 1000}}) YIELD node "
                               "RETURN collect(node.id) AS ids", id=pair["head"])[0]["ids"]
        assert pair["tail"] not in proposed  # now a fact, or rejected: never proposed again


def require_plugin(graph: Graph) -> None:
    """Skip, saying why, when the test server has no vlkge.* procedures."""
    from vlkge_graph.graph.server import PROJECT_PLUGIN_DIR

    names = {r["name"] for r in graph.query("SHOW PROCEDURES YIELD name WHERE name STARTS WITH 'vlkge.' RETURN name")}
    if "vlkge.predict" not in names:
        if not any(PROJECT_PLUGIN_DIR.glob("vlkge-procedures*.jar")):
            pytest.skip("the vlkge.* procedures are not installed in the test server: the plugin jar is not built "
                        "(run scripts/build-plugin.sh before the test session)")
        pytest.skip(f"the vlkge.* procedures are not installed in the test server at {graph.uri}: it was started "
                    "before the plugin jar was built, or is not the project's server (build the jar with "
                    "scripts/build-plugin.sh before the test session)")


def readme_threshold_query() -> str:
    """The README's query of candidates above a probability threshold (the block that filters on it)."""
    from vlkge_graph.etl.sources import PROJECT_ROOT

    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in text.split("```cypher\n")[1:]]
    return next(b for b in blocks if "c.probability >" in b)


def test_one_calibrated_probability_per_pair(graph: Graph, synced) -> None:
    """Publish, the Python API and the plugin give one probability per pair: the calibration fitted on the
    validation split (train/calibration.json), stored on the relation nodes; the README's threshold query
    returns rows; ECE and Brier are in the run record."""
    from vlkge_graph.training.api import load_trained

    label, _, state, _, run_dir = synced
    report = json.loads((run_dir / "train" / "calibration.json").read_text())
    assert (report["method"], report["fitted_on"]) == ("platt", "valid") and 0 < report["base_rate"] < 0.05
    fits = report["relations"]["neighbor_of"]
    assert set(fits) == {"tail", "head"} and set(fits["tail"]) == {"a", "b", "positives", "pooled"}
    assert not fits["tail"]["pooled"] and fits["tail"]["positives"] >= 20 and fits["tail"]["a"] > 0
    test = report["test"]
    print({k: round(v, 4) for k, v in test.items() if k != "bins"})
    assert set(test) == {"ece", "brier", "ece_uncalibrated", "brier_uncalibrated", "bins"}
    assert test["ece"] < test["ece_uncalibrated"] and test["brier"] < test["brier_uncalibrated"]
    assert {k for b in test["bins"] for k in b} == {"lo", "hi", "mean_predicted", "observed", "weight"}
    record = graph.query("MATCH (r:VlkgeRun {run_id: $run}) RETURN r.metrics AS m", run=state.run_id)
    recorded = json.loads(record[0]["m"])
    assert (recorded["ece"], recorded["brier"]) == (test["ece"], test["brier"])
    stored = graph.query("MATCH (:VlkgeRun {run_id: $run})-[:VLKGE_HAS_RELATION]->(x:VlkgeRelation "
                         "{relation: 'neighbor_of'}) RETURN x.calibration AS c", run=state.run_id)[0]["c"]
    assert stored == pytest.approx([fits[d][k] for d in ("tail", "head") for k in ("a", "b")])

    rows = graph.query(readme_threshold_query().replace("MATCH (r:VlkgeRun {active: true})",
                                                        "MATCH (r:VlkgeRun {run_id: $run})"), run=state.run_id)
    print(f"README threshold query: {len(rows)} rows, e.g. {rows[:3]}")
    assert rows, "the README's threshold query returns no rows on a Countries-MM sync"

    require_plugin(graph)
    trained = load_trained(run_dir / "train", dataset=str(run_dir / "snapshot"), device="cpu")
    assert trained.calibration is not None and trained.calibration.to_dict()["relations"] == report["relations"]
    published = graph.query(
        f"MATCH (r:VlkgeRun {{run_id: $run}}) MATCH (h:`{label}`)-[c:VLKGE_CANDIDATE {{generation: r.generation, "
        "relation: 'neighbor_of'}]->(t) WHERE c.rank = 1 AND NOT (h)-[:NEIGHBOR_OF]->(t) "  # hidden facts: not live
        "RETURN h.id AS h, t.id AS t, c.probability AS p ORDER BY c.probability DESC LIMIT 5", run=state.run_id)
    assert len(published) == 5
    pair = f"MATCH (h:`{label}` {{id: $h}}), (t:`{label}` {{id: $t}}) "
    for row in published:
        python = trained.probability(row["h"], "neighbor_of", row["t"])
        plugin = graph.query(pair + "RETURN vlkge.probability(h, 'NEIGHBOR_OF', t) AS p", h=row["h"], t=row["t"])
        live = graph.query(f"MATCH (n:`{label}` {{id: $h}}) CALL vlkge.predict(n, 'NEIGHBOR_OF', {{k: 1000}}) "
                           "YIELD node, probability WHERE node.id = $t RETURN probability AS p", h=row["h"], t=row["t"])
        assert len(live) == 1
        assert row["p"] == pytest.approx(python, abs=1e-5) == pytest.approx(plugin[0]["p"], abs=1e-5)
        assert live[0]["p"] == pytest.approx(python, abs=1e-5)
    head, tail = published[0]["h"], published[0]["t"]  # the head query (?, r, tail): its own score and coefficients
    python = trained.probability(head, "neighbor_of", tail, direction="head")
    plugin = graph.query(pair + "RETURN vlkge.probability(h, 'NEIGHBOR_OF', t, '', 'head') AS p", h=head, t=tail)
    assert plugin[0]["p"] == pytest.approx(python, abs=1e-5)
    live = graph.query(f"MATCH (n:`{label}` {{id: $t}}) CALL vlkge.predict(n, 'NEIGHBOR_OF', "
                       "{k: 1000, direction: 'head'}) YIELD node, probability WHERE node.id = $h "
                       "RETURN probability AS p", h=head, t=tail)
    assert live and live[0]["p"] == pytest.approx(python, abs=1e-5)


def expected_figures(run_dir: Path) -> set[str]:
    """The figures a report of the module's sync has (a reliability diagram where the run is calibrated)."""
    calibrated = (run_dir / "train" / "calibration.json").is_file()
    return {"relation_mrr", "groups", "training_curve"} | ({"reliability"} if calibrated else set())


def test_report_of_the_sync_opens_in_a_browser(synced, tmp_path: Path) -> None:
    """The sync's report in headless Chromium: every figure and thumbnail decodes, the page is not blank."""
    _, _, state, _, run_dir = synced
    index = run_dir / "report" / "index.html"
    figures = expected_figures(run_dir)
    assert state.stages["report"]["path"] == str(index)
    assert state.stages["report"]["gallery"] == 6
    assert {p.stem for p in (run_dir / "report").glob("*.png")} == figures
    history = json.loads((run_dir / "train" / "history.json").read_text())
    assert [r["epoch"] for r in history] == list(range(1, 41)) and {"loss", "seconds"} <= set(history[0])
    assert [r["epoch"] for r in history if "valid_mrr" in r] == [20, 40]
    html = index.read_text(encoding="utf-8")
    sources = re.findall(r'<img src="([^"]{0,30})', html)
    assert sources and all(s.startswith("data:image/") for s in sources)  # self-contained: nothing to fetch
    assert len(sources) >= len(figures) + 6  # the figures, and at least each query entity's flag
    assert "(image: efficientnet-lite0, text: minilm) are not one vision-language model" in html  # no baseline

    dom = dump_dom(index)
    total = int(re.search(r'data-images="(\d+)"', dom).group(1))
    loaded = int(re.search(r'data-images-loaded="(\d+)"', dom).group(1))
    print(f"report: {loaded}/{total} images loaded, {len(index.read_bytes()) / 1e6:.2f} MB")
    assert total == loaded == len(sources)
    for name in figures:
        figure_id = name.replace("_", "-")
        assert f'id="fig-{figure_id}"' in dom
    assert dom.count('class="query"') == 6 and "test answer" in dom

    shot = Image.open(screenshot(index, tmp_path / "report.png")).convert("L")
    histogram = shot.histogram()
    ink = 1 - histogram[255] / sum(histogram)  # share of pixels that are not pure white
    print(f"screenshot {shot.size}: {ink:.1%} ink, {sum(1 for n in histogram if n)} grey levels")
    assert ink > 0.05 and sum(1 for n in histogram if n) > 100


def test_report_command_on_an_earlier_run_directory(synced, tmp_path: Path) -> None:
    """`vlkge-graph report RUN_DIR` on a run made before the training history and the report existed."""
    run_dir = synced[4]
    earlier = tmp_path / run_dir.name
    shutil.copytree(run_dir, earlier, ignore=shutil.ignore_patterns("report", "history.json", "checkpoints"))
    result = CliRunner().invoke(app, ["report", str(earlier), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert f"report of {earlier.name}" in result.output
    html = (earlier / "report" / "index.html").read_text(encoding="utf-8")
    assert "the training history was not recorded" in html
    assert {p.stem for p in (earlier / "report").glob("*.png")} == expected_figures(run_dir) - {"training_curve"}
    assert html.count('class="query"') == 6


def test_publish_stage_reads_artifacts_only(graph: Graph, synced) -> None:
    """A run directory moved elsewhere publishes from its artifacts: no encoder, no model (runs last: it
    publishes a new generation of the same parameters). A report that fails after it leaves the publish
    standing, and `--from report` redoes only the report."""
    label, cfg, state, _, run_dir = synced
    moved = run_dir.with_name(f"{run_dir.name}-moved")
    shutil.copytree(run_dir, moved, ignore=shutil.ignore_patterns("report"))
    (moved / "report").write_text("a file where the report directory goes")
    record = json.loads((moved / "run.json").read_text())
    (moved / "run.json").write_text(json.dumps({**record, "run_id": moved.name, "stages": {
        k: v for k, v in record["stages"].items() if k not in ("publish", "report")}}))
    before_report: Counter[str] = Counter()

    def report_after_publish(stage: Stage) -> dict[str, Any]:
        before_report.update(counts)
        return report_stage(stage)

    with spy_loads() as counts, pytest.MonkeyPatch.context() as patch:
        patch.setattr(sync_module, "STAGES", [*STAGES[:-1], ("report", report_after_publish)])
        with pytest.raises(ReportError, match=r"the report stage failed \(published; the publish stands\).*"
                                              r"sync --from report --run-dir"):
            sync(graph, cfg, start="publish", run_dir=moved)
    assert before_report == {}  # publish: no encoder, no model
    assert counts == {"make_model": 1}  # the report's gallery needs the model, no encoder
    again = RunState.load(moved)
    assert "report" not in again.stages
    assert again.stages["publish"]["candidates"] == state.stages["publish"]["candidates"]
    active = graph.query("MATCH (r:VlkgeRun {scope: $scope, active: true}) RETURN r.run_id AS id, r.gamma AS gamma, "
                         "r.dim AS dim", scope=state.scope)
    assert active == [{"id": moved.name, "gamma": None, "dim": 32}]
    same = graph.query(f"MATCH (n:`{label}`) WHERE n.vlkge_embedding_a IS NOT NULL AND n.vlkge_embedding_b IS NOT NULL "
                       "RETURN count(n) AS both, sum(CASE WHEN n.vlkge_embedding_a = n.vlkge_embedding_b THEN 1 ELSE 0 "
                       "END) AS equal")
    assert same[0]["both"] == 0  # the previous generation's slot was cleared after the switch
    (moved / "report").unlink()
    reported = sync(graph, cfg, start="report", run_dir=moved)
    assert list(reported.stages)[-2:] == ["publish", "report"] and (moved / "report" / "index.html").is_file()
