"""Change detection against a real sync: every kind of edit made directly in Cypher, and the cheap path."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.jobs_fixtures import load_tiny, tiny_scope, tiny_sync_config
from vlkge_graph.config import Config
from vlkge_graph.graph.connection import Graph
from vlkge_graph.jobs.changes import FINGERPRINT_FILE, NoBaselineError, active_run_dir, detect_changes
from vlkge_graph.jobs.fingerprint import plugin_available, server_fingerprint, tables_fingerprint
from vlkge_graph.jobs.sync import sync


@pytest.fixture(scope="module")
def synced(graph: Graph, neo4j_config: Config, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Config]:
    if not plugin_available(graph):
        pytest.skip("the test server has no vlkge.fingerprint: build the plugin (scripts/build-plugin.sh) before "
                    "the test session")
    label = f"Chg{uuid.uuid4().hex[:10]}"
    load_tiny(graph, label)
    cfg = tiny_sync_config(neo4j_config, label, tmp_path_factory.mktemp("changes"))
    sync(graph, cfg, device="cpu")
    return label, cfg


@pytest.fixture
def unchanged_after(graph: Graph, synced: tuple[str, Config]) -> Iterator[None]:
    """Each test edits the graph and undoes its edit; afterwards the fingerprints must agree again."""
    yield
    after = detect_changes(graph, synced[1].sync)
    assert (after.changed, after.method) == (False, "fingerprint"), after.summary()


def node(label: str, key: str) -> str:
    return f"MATCH (n:`{label}` {{id: '{key}'}}) "


def test_right_after_a_sync_nothing_changed_by_fingerprint_alone(graph: Graph, synced) -> None:
    cfg = synced[1]
    changes = detect_changes(graph, cfg.sync)
    assert not changes.changed and changes.method == "fingerprint" and changes.current is None
    assert changes.base == changes.now == {"entities": 24, "facts": 36}
    assert "unchanged since run" in changes.summary()
    cached = json.loads((active_run_dir(graph, cfg.sync) / FINGERPRINT_FILE).read_text())
    assert cached["snapshot"]["entities"] == 24
    # the server digests the graph exactly as Python digests the export
    from vlkge_graph.graph.export import export_tables

    tables = export_tables(graph, cfg.sync.graph, "x")
    assert server_fingerprint(graph, cfg.sync.graph) == tables_fingerprint(
        tables.entities, tables.triples, dict(zip(tables.relations["relation"], tables.relations["type"], strict=True)))


def test_text_set_in_cypher(graph: Graph, synced, unchanged_after) -> None:
    label, cfg = synced
    graph.execute(node(label, "e03") + "SET n.text = 'a new description'")
    graph.execute(node(label, "e04") + "SET n.text = 'text where there was none'")
    try:
        changes = detect_changes(graph, cfg.sync)
        assert changes.method == "diff" and changes.changed_text == ["e03", "e04"]
        assert changes.counts() == {"new_entities": 0, "removed_entities": 0, "changed_entities": 2, "new_facts": 0,
                                    "removed_facts": 0}
    finally:
        graph.execute(node(label, "e03") + "SET n.text = 'thing number 3'")
        graph.execute(node(label, "e04") + "REMOVE n.text")


def test_images_set_in_cypher(graph: Graph, synced, unchanged_after) -> None:
    label, cfg = synced
    graph.execute(node(label, "e08") + "SET n.images = ['/pictures/8.png', '/pictures/8b.png']")
    graph.execute(node(label, "e01") + "SET n.images = '/pictures/1.png'")  # a plain string counts too
    try:
        changes = detect_changes(graph, cfg.sync)
        assert changes.changed_images == ["e01", "e08"] and changes.changed_text == []
    finally:
        graph.execute(node(label, "e08") + "SET n.images = ['/pictures/8.png']")
        graph.execute(node(label, "e01") + "REMOVE n.images")


def test_node_created_and_fact_added_in_cypher(graph: Graph, synced, unchanged_after) -> None:
    label, cfg = synced
    graph.execute(f"CREATE (:`{label}`:Thing {{id: 'new1', text: 'a newcomer'}})")
    graph.execute(node(label, "new1") + f"MATCH (m:`{label}` {{id: 'e05'}}) CREATE (n)-[:NEAR]->(m)")
    graph.execute(node(label, "e02") + f"MATCH (m:`{label}` {{id: 'e09'}}) CREATE (n)-[:NEXT]->(m)")
    try:
        changes = detect_changes(graph, cfg.sync)
        assert changes.new_entities == ["new1"] and changes.removed_entities == []
        # facts come back with the relation names the load recorded (types NEXT / NEAR)
        assert sorted(map(tuple, changes.new_facts.values.tolist())) == [("e02", "next", "e09"),
                                                                        ("new1", "near", "e05")]
        assert changes.removed_facts.empty and changes.now == {"entities": 25, "facts": 38}
        assert changes.drift == pytest.approx(2 / 36)
        assert changes.current is not None and "new1" in set(changes.current.entities["id"])
    finally:
        graph.execute(node(label, "new1") + "DETACH DELETE n")
        graph.execute(node(label, "e02") + f"MATCH (n)-[r:NEXT]->(:`{label}` {{id: 'e09'}}) DELETE r")


def test_fact_deleted_and_node_deleted_in_cypher(graph: Graph, synced, unchanged_after) -> None:
    label, cfg = synced
    graph.execute(node(label, "e10") + f"MATCH (n)-[r:NEXT]->(:`{label}` {{id: 'e11'}}) DELETE r")
    gone = graph.query(node(label, "e20") + "MATCH (n)-[r:NEXT|NEAR]-(m) RETURN startNode(r).id AS h, type(r) AS t, "
                       "endNode(r).id AS o")
    graph.execute(node(label, "e20") + "DETACH DELETE n")
    try:
        changes = detect_changes(graph, cfg.sync)
        assert changes.removed_entities == ["e20"] and changes.new_entities == []
        removed = set(map(tuple, changes.removed_facts.values.tolist()))
        assert removed == {("e10", "next", "e11"), *((g["h"], g["t"].lower(), g["o"]) for g in gone)}
        assert changes.new_facts.empty and changes.drift == 0
    finally:
        graph.execute(f"CREATE (:`{label}`:Thing {{id: 'e20', name: 'e20', images: ['/pictures/20.png']}})")
        graph.execute(f"UNWIND $facts AS f MATCH (h:`{label}` {{id: f.h}}), (o:`{label}` {{id: f.o}}) "
                      "CREATE (h)-[:$(f.t)]->(o)", facts=gone)
        graph.execute(node(label, "e10") + f"MATCH (m:`{label}` {{id: 'e11'}}) CREATE (n)-[:NEXT]->(m)")


def test_what_a_sync_ignores_is_no_change(graph: Graph, synced) -> None:
    """Other properties, the project's own writes, a duplicate of an existing fact, relationships to
    non-entities: the fingerprints stay equal, so no export is needed."""
    label, cfg = synced
    graph.execute(node(label, "e06") + "SET n.name = 'renamed', n.colour = 'blue', n.vlkge_note = 1")
    graph.execute(node(label, "e06") + f"MATCH (m:`{label}` {{id: 'e07'}}) CREATE (n)-[:NEXT]->(m)")  # twice now
    graph.execute(node(label, "e06") + "CREATE (n)-[:SEEN_IN]->(:Elsewhere {id: 'x'})")
    try:
        changes = detect_changes(graph, cfg.sync)
        assert (changes.changed, changes.method) == (False, "fingerprint"), changes.summary()
    finally:
        graph.execute(node(label, "e06") + "SET n.name = 'e06' REMOVE n.colour, n.vlkge_note")
        graph.execute(node(label, "e06") + f"MATCH (n)-[r:NEXT]->(:`{label}` {{id: 'e07'}}) "
                      "WITH r SKIP 1 DELETE r")
        graph.execute(node(label, "e06") + "MATCH (n)-[:SEEN_IN]->(x:Elsewhere) DETACH DELETE x")


def test_a_rename_is_a_change_when_the_recipe_encodes_names(graph: Graph, neo4j_config: Config,
                                                           unique_label: str, tmp_path: Path) -> None:
    """With ``features.name`` a node's name is an input of its features: renaming it in Cypher is an edit
    (found by the fingerprint, listed by the diff, re-embedded by a refresh); undoing it is no change."""
    from vlkge_graph.jobs.refresh import Change, refresh

    cfg = tiny_scope(graph, neo4j_config, unique_label, tmp_path)
    recipe = Path(cfg.sync.recipe)
    recipe.write_text(recipe.read_text() + "features: {text: minilm, name: minilm}\n")
    sync(graph, cfg, device="cpu")
    assert not detect_changes(graph, cfg.sync).changed
    vector = (f"MATCH (r:VlkgeRun {{active: true, scope: $scope}}) MATCH (n:`{unique_label}` {{id: $id}}) "
              "RETURN n[r.embedding_property] AS v")
    before = {k: graph.query(vector, scope=cfg.sync.scope_name, id=k)[0]["v"] for k in ("e05", "e06")}
    graph.execute(node(unique_label, "e06") + "SET n.name = 'the sixth thing'")
    changes = detect_changes(graph, cfg.sync)
    assert changes.method == "diff" and changes.changed_names == ["e06"] and changes.changed_text == []
    assert changes.counts()["changed_entities"] == 1
    state = refresh(graph, cfg, changes, device="cpu")
    assert Change.load(Path(cfg.sync.runs_dir) / state.run_id).edited == ["e06"]
    after = {k: graph.query(vector, scope=cfg.sync.scope_name, id=k)[0]["v"] for k in ("e05", "e06")}
    assert after["e05"] == before["e05"] and after["e06"] != before["e06"]
    graph.execute(node(unique_label, "e06") + "SET n.name = 'e06'")
    undone = detect_changes(graph, cfg.sync)
    assert undone.changed_names == ["e06"]  # against the refresh's snapshot, the old name is the edit
    graph.execute(node(unique_label, "e06") + "SET n.name = 'the sixth thing'")
    redone = detect_changes(graph, cfg.sync)
    assert (redone.changed, redone.method) == (False, "fingerprint"), redone.summary()


def test_without_the_plugin_the_diff_gives_the_same_answer(graph: Graph, synced, unchanged_after) -> None:
    label, cfg = synced
    assert not detect_changes(graph, cfg.sync, use_plugin=False).changed
    graph.execute(node(label, "e12") + "SET n.text = 'edited'")
    try:
        with_plugin = detect_changes(graph, cfg.sync)
        without = detect_changes(graph, cfg.sync, use_plugin=False)
        assert without.method == "diff" and without.counts() == with_plugin.counts()
        assert without.changed_text == ["e12"]
        quick = detect_changes(graph, cfg.sync, detail=False)
        assert quick.changed and quick.method == "fingerprint" and not quick.detailed and quick.changed_text == []
        assert "not compared in detail" in quick.summary()
    finally:
        graph.execute(node(label, "e12") + "SET n.text = 'thing number 12'")


def test_a_changed_filter_counts_as_a_change(graph: Graph, synced) -> None:
    from dataclasses import replace

    cfg = synced[1]
    narrower = replace(cfg.sync, graph=replace(cfg.sync.graph, relationship_types=["NEXT"]))
    changes = detect_changes(graph, narrower)
    assert changes.changed and changes.filter_changed and len(changes.removed_facts) == 12
    assert "the graph filter changed" in changes.summary()


def test_no_active_run_or_no_run_directory_says_what_to_do(graph: Graph, neo4j_config: Config, synced,
                                                           unique_label: str, tmp_path: Path) -> None:
    load_tiny(graph, unique_label, n=6)
    cfg = tiny_sync_config(neo4j_config, unique_label, tmp_path)
    with pytest.raises(NoBaselineError, match="has no active run in this database: run a sync first"):
        detect_changes(graph, cfg.sync)
    from dataclasses import replace

    elsewhere = replace(synced[1].sync, runs_dir=str(tmp_path / "elsewhere"))
    with pytest.raises(NoBaselineError, match=r"has no snapshot in .*elsewhere"):
        detect_changes(graph, elsewhere)


def test_snapshot_fingerprint_matches_the_export_of_a_wordnet_like_text(graph: Graph, unique_label: str) -> None:
    """Texts with newlines, blanks, non-ASCII, several text properties and list/array images: the server's
    normalisation is the exporter's."""
    from vlkge_graph.graph.export import export_tables
    from vlkge_graph.graph_filter import GraphFilter, Modalities

    if not plugin_available(graph):
        pytest.skip("the test server has no vlkge.fingerprint: build the plugin before the test session")
    graph.execute(f"CREATE (:`{unique_label}` {{id: 1, a: 'naïve\\nline', b: '   ', pic: ['x.png', '', 'y.png'], "
                  "name: 'Zoë'}), "
                  f"(:`{unique_label}` {{id: 2, a: 42, b: 'only b', pic: 'z.png', name: '  '}}), "
                  f"(:`{unique_label}` {{id: 3, a: ' both ', b: 'parts\\t'}})")
    graph.execute(f"MATCH (x:`{unique_label}` {{id: 1}}), (y:`{unique_label}` {{id: 3}}) CREATE (x)-[:R]->(y)")
    flt = GraphFilter(entity_labels=[unique_label], modalities=Modalities(text=["a", "b"], image=["pic"]))
    tables = export_tables(graph, flt, "x")
    assert tables.entities.set_index("id").loc["3", "text"] == " both \nparts\t"
    types = dict(zip(tables.relations["relation"], tables.relations["type"], strict=True))
    assert server_fingerprint(graph, flt) == tables_fingerprint(tables.entities, tables.triples, types)
    with_names = server_fingerprint(graph, flt, names=True)
    assert with_names == tables_fingerprint(tables.entities, tables.triples, types, names=True)
    assert with_names != server_fingerprint(graph, flt)  # the names are digested
    assert isinstance(tables.triples, pd.DataFrame)
