"""The project's names kept apart from the user's: a user's own ``HAS_RELATION`` facts are facts, and a graph
published before the relation-parameter relationship became ``VLKGE_HAS_RELATION`` keeps working after
the upgrade (``vlkge-graph init`` or the next publish renames the old relationships, and only those); so does
a graph whose candidates carry the run-id string instead of the run's generation number."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from tests.test_cli_failures import run_cli, user_data
from tests.test_publish import candidates_on, make_graph, make_run, publish_made, visible
from vlkge_graph.config import Config, SyncConfig
from vlkge_graph.etl.tables import TableSet
from vlkge_graph.graph.connection import Graph
from vlkge_graph.graph.load import load_tables
from vlkge_graph.graph.migrations import LEGACY_CANDIDATE_RUN_INDEX, migrate
from vlkge_graph.graph.queries import run_query
from vlkge_graph.graph_filter import GraphFilter, Modalities
from vlkge_graph.jobs.sync import sync
from vlkge_graph.snapshot import read_snapshot
from vlkge_graph.training.api import load_trained

RECIPE = """
dataset: unused
model: {backbone: distmult, dim: 8}
training: {mode: 1vsall, loss: cross_entropy, optimizer: adam, lr: 0.05, batch_size: 16, epochs: 2, seed: 1}
"""
LEGACY = "HAS_RELATION"


def plugin_installed(graph: Graph) -> bool:
    names = {r["name"] for r in graph.query("SHOW PROCEDURES YIELD name WHERE name STARTS WITH 'vlkge.' RETURN name")}
    if "vlkge.info" not in names:
        print(f"the vlkge.* procedures are not installed in the server at {graph.uri} (build the plugin with "
              "scripts/build-plugin.sh before the test session): the plugin's side of this test is left out")
    return "vlkge.info" in names


def test_a_users_has_relation_facts_are_exported_trained_on_and_predicted(
        graph: Graph, neo4j_config: Config, unique_label: str, tmp_path: Path) -> None:
    ids = [f"n{i}" for i in range(12)]
    heads = ids * 2
    tails = ids[1:] + ids[:1] + ids[3:] + ids[:3]
    tables = TableSet(
        "mine", pd.DataFrame({"id": ids, "label": "Part", "name": ids, "text": None, "images": [[] for _ in ids]}),
        pd.DataFrame({"relation": ["has_relation", "next"], "type": [LEGACY, "NEXT"]}),
        pd.DataFrame({"head": heads, "relation": ["has_relation"] * 12 + ["next"] * 12, "tail": tails,
                      "split": "train"}))
    load_tables(graph, tables, unique_label, progress=False)
    before = user_data(graph, unique_label)
    (tmp_path / "recipe.yaml").write_text(RECIPE)
    cfg = replace(neo4j_config, sync=SyncConfig(
        graph=GraphFilter(entity_labels=[unique_label], modalities=Modalities(text=[], image=[])),
        recipe=str(tmp_path / "recipe.yaml"), runs_dir=str(tmp_path / "runs")))
    state = sync(graph, cfg, device="cpu")
    run_dir = tmp_path / "runs" / state.run_id
    exported, _ = read_snapshot(run_dir / "snapshot")
    # the facts keep their type; the relation is named as loaded ("has_relation", see relation_names.py)
    name = "has_relation"
    assert (exported.triples["relation"] == name).sum() == 12  # every one of the user's facts
    assert exported.relation_types()[name] == LEGACY
    data = load_trained(run_dir / "train", dataset=str(run_dir / "snapshot"), device="cpu").data
    assert name in list(data.relation_ids)  # trained on
    assert name in set(pd.read_parquet(run_dir / "candidates.parquet")["relation"])
    published = graph.query("MATCH (:VlkgeRun {run_id: $run})-[:VLKGE_HAS_RELATION]->(x:VlkgeRelation) "
                            "RETURN x.relation AS relation, x.type AS type ORDER BY relation", run=state.run_id)
    assert [(r["relation"], r["type"]) for r in published] == [(name, LEGACY), ("next", "NEXT")]
    candidates = graph.query(f"MATCH (r:VlkgeRun {{run_id: $run}}) "
                             f"MATCH (:`{unique_label}`)-[c:VLKGE_CANDIDATE {{generation: r.generation}}]->() "
                             "WHERE c.type = $type RETURN count(c) AS n", run=state.run_id, type=LEGACY)
    assert candidates[0]["n"] > 0
    # publishing added only the project's own namespaced properties; the user's facts are all still there
    facts = graph.query(f"MATCH (:`{unique_label}`)-[r:{LEGACY}]->(:`{unique_label}`) RETURN count(r) AS n")
    assert facts == [{"n": 12}]
    graph.execute(f"MATCH (n:`{unique_label}`) REMOVE n.vlkge_embedding_a, n.vlkge_run_id "
                  f"WITH n MATCH (n)-[c:VLKGE_CANDIDATE]->() DELETE c")
    assert user_data(graph, unique_label)[0] == before[0]


def test_a_graph_published_before_the_rename_keeps_working_after_init(
        graph: Graph, neo4j_config: Config, unique_label: str, tmp_path: Path) -> None:
    make_graph(graph, unique_label, 6)
    publish_made(graph, make_run(unique_label, unique_label, f"{unique_label}-1", 6, 1, seed=3))
    # what an older version left: the run's relation parameters under the old name; and a user's own
    # HAS_RELATION facts between the user's nodes, and one from a user node to a VlkgeRelation node
    graph.execute("MATCH (r:VlkgeRun {run_id: $run})-[has:VLKGE_HAS_RELATION]->(x) "
                  "CREATE (r)-[:HAS_RELATION]->(x) DELETE has", run=f"{unique_label}-1")
    graph.execute(f"MATCH (a:`{unique_label}` {{id: 'e0'}}), (b:`{unique_label}` {{id: 'e1'}}), "
                  "(:VlkgeRun {run_id: $run})-->(x:VlkgeRelation) "
                  "CREATE (a)-[:HAS_RELATION {since: 1999}]->(b), (a)-[:HAS_RELATION {mine: true}]->(x)",
                  run=f"{unique_label}-1")
    plugin = plugin_installed(graph)
    score = (f"MATCH (h:`{unique_label}` {{id: 'e0'}}), (t:`{unique_label}` {{id: 'e2'}}) "
             "RETURN vlkge.score(h, 'likes', t, $run) AS s")
    if plugin:
        legacy_score = graph.query(score, run=f"{unique_label}-1")[0]["s"]  # read under the old name
    before = user_data(graph, unique_label)

    code, output = run_cli("init", uri=neo4j_config.neo4j.uri, cwd=tmp_path)
    assert code == 0, output
    assert "renamed" in output and "HAS_RELATION -> VLKGE_HAS_RELATION" in output
    rels = graph.query("MATCH (r:VlkgeRun {run_id: $run})-[has]->(:VlkgeRelation) RETURN type(has) AS type",
                       run=f"{unique_label}-1")
    assert rels == [{"type": "VLKGE_HAS_RELATION"}]
    assert user_data(graph, unique_label) == before  # the user's HAS_RELATION facts are all untouched
    assert graph.query(f"MATCH (:`{unique_label}`)-[r:HAS_RELATION]->() RETURN count(r) AS n") == [{"n": 2}]
    assert set(migrate(graph).values()) == {0}  # idempotent
    if plugin:
        assert graph.query(score, run=f"{unique_label}-1")[0]["s"] == legacy_score
    # the next generation publishes over it and removes the old one's relation parameters
    publish_made(graph, make_run(unique_label, unique_label, f"{unique_label}-2", 6, 1, seed=4))
    runs = graph.query("MATCH (r:VlkgeRun {scope: $scope}) OPTIONAL MATCH (r)-[:VLKGE_HAS_RELATION]->(x) "
                       "RETURN r.run_id AS run, r.active AS active, count(x) AS relations ORDER BY run",
                       scope=unique_label)
    assert runs == [{"run": f"{unique_label}-1", "active": False, "relations": 0},
                    {"run": f"{unique_label}-2", "active": True, "relations": 1}]


def publish_the_old_way(graph: Graph, label: str, made: tuple, status: str) -> None:
    """What a publish before generation numbers wrote: no ``generation`` anywhere, candidates carrying the run-id
    string, and the schema's index on it."""
    run, entities, embeddings, relations, candidates = made
    graph.execute(f"CREATE INDEX {LEGACY_CANDIDATE_RUN_INDEX} IF NOT EXISTS FOR ()-[c:VLKGE_CANDIDATE]-() "
                  "ON (c.run_id)")
    graph.execute("CREATE (r:VlkgeRun) SET r = $props, r.status = $status, r.active = ($status = 'published'), "
                  "r.embedding_property = 'vlkge_embedding_a', r.created_at = datetime(), r.published_at = datetime() "
                  "WITH r UNWIND $rels AS rel CREATE (r)-[:VLKGE_HAS_RELATION]->(x:VlkgeRelation {run_id: r.run_id}) "
                  "SET x += rel", props=run.properties(), status=status, rels=[r.properties() for r in relations])
    graph.execute(f"UNWIND $rows AS row MATCH (n:`{label}` {{id: row.id}}) "
                  "SET n.vlkge_embedding_a = row.e, n.vlkge_run_id = $run",
                  rows=[{"id": e, "e": v.tolist()} for e, v in zip(entities["id"], embeddings, strict=True)],
                  run=run.run_id)
    graph.execute(f"UNWIND $rows AS row MATCH (h:`{label}` {{id: row.head}}), (t:`{label}` {{id: row.tail}}) "
                  "CREATE (h)-[:VLKGE_CANDIDATE {relation: row.relation, type: row.type, score: row.score, "
                  "probability: row.probability, rank: row.rank, direction: row.direction, run_id: $run}]->(t)",
                  rows=candidates.to_dict("records"), run=run.run_id)


def test_a_graph_whose_candidates_carry_run_ids_keeps_working_after_init(
        graph: Graph, neo4j_config: Config, unique_label: str, tmp_path: Path) -> None:
    make_graph(graph, unique_label, 8)
    # a superseded run whose candidates were not all removed yet, then the active one
    old, current = (make_run(unique_label, unique_label, f"{unique_label}-{i}", 8, per, seed=10 + i)
                    for i, per in ((1, 1), (2, 2)))
    publish_the_old_way(graph, unique_label, old, "superseded")
    publish_the_old_way(graph, unique_label, current, "published")
    expected = sorted((h, t, float(s), int(k), current[0].run_id) for h, t, s, k in
                      current[4][["head", "tail", "score", "rank"]].itertuples(index=False))
    plugin = plugin_installed(graph)
    of_e0 = (f"MATCH (n:`{unique_label}` {{id: 'e0'}}) CALL vlkge.candidates(n, {{direction: 'tail'}}) "
             "YIELD other, score RETURN other.id AS other, score")
    if plugin:
        legacy = graph.query(of_e0)  # the plugin reads candidates by run_id until the graph is migrated
        assert sorted(r["other"] for r in legacy) == sorted(t for h, t, *_ in expected if h == "e0")
    facts = f"MATCH (n:`{unique_label}`) OPTIONAL MATCH (n)-[f:LIKES]->() RETURN n.id AS id, properties(n) AS p, " \
            "count(f) AS facts ORDER BY id"
    before = graph.query(facts)

    code, output = run_cli("init", uri=neo4j_config.neo4j.uri, cwd=tmp_path)
    assert code == 0, output
    assert "candidates now carry generation instead of run_id" in output
    runs = graph.query("MATCH (r:VlkgeRun {scope: $scope}) RETURN r.run_id AS run, r.generation AS g ORDER BY run",
                       scope=unique_label)
    assert [r["run"] for r in runs] == [old[0].run_id, current[0].run_id] and 0 < runs[0]["g"] < runs[1]["g"]
    left = graph.query(f"MATCH (:`{unique_label}`)-[c:VLKGE_CANDIDATE]->() RETURN c.run_id IS NULL AS converted, "
                       "c.generation AS g, count(c) AS n ORDER BY g")
    assert left == [{"converted": True, "g": runs[0]["g"], "n": 8}, {"converted": True, "g": runs[1]["g"], "n": 16}]
    assert visible(graph, unique_label) == expected  # the documented pattern
    top = run_query(graph, "top-candidates", {"label": unique_label, "key": "e0", "limit": 100})
    assert sorted(r["other_key"] for r in top if r["outgoing"]) == sorted(t for h, t, *_ in expected if h == "e0")
    history = run_query(graph, "run-history", {"scope": unique_label})
    assert {(r["run_id"], r["generation"]) for r in history} == {(r["run"], r["g"]) for r in runs}
    if plugin:
        assert sorted(graph.query(of_e0), key=str) == sorted(legacy, key=str)
    assert graph.query("SHOW INDEXES YIELD name WHERE name STARTS WITH 'vlkge_candidate_' RETURN name ORDER BY name") \
        == [{"name": "vlkge_candidate_generation"}, {"name": "vlkge_candidate_relation_score"}]
    assert graph.query(facts) == before  # the user's nodes and facts are untouched
    assert set(migrate(graph).values()) == {0}  # idempotent

    # the next generation publishes over it and removes both old ones (the superseded one's before writing)
    new = publish_made(graph, make_run(unique_label, unique_label, f"{unique_label}-3", 8, 1, seed=13))
    assert new.generation > runs[1]["g"] and new.removed_previous == 16
    assert candidates_on(graph, unique_label) == 8 == len(visible(graph, unique_label))
