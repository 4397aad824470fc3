"""Export from the real Neo4j: round trip with the loader, filters, splits and early config errors."""

from __future__ import annotations

import pytest

from tests.test_graph_load import tiny_tables
from vlkge_graph.errors import ConfigError
from vlkge_graph.graph.connection import Graph
from vlkge_graph.graph.export import export_tables
from vlkge_graph.graph.load import load_tables
from vlkge_graph.graph_filter import GraphFilter, Modalities


def test_export_round_trips_what_the_loader_wrote(graph: Graph, unique_label: str) -> None:
    source = tiny_tables()
    load_tables(graph, source, unique_label, progress=False)
    # project-owned relationships must never come back as facts
    graph.execute(f"MATCH (a:`{unique_label}` {{id: 'de'}}), (b:`{unique_label}` {{id: 'eu'}}) "
                  "CREATE (a)-[:VLKGE_CANDIDATE {generation: 0}]->(b), (a)-[:VLKGE_REJECTED]->(b)")
    tables = export_tables(graph, GraphFilter(entity_labels=[unique_label]), "tiny", page=2)
    got = {tuple(r) for r in tables.triples[["head", "relation", "tail", "split"]].itertuples(index=False)}
    assert got == {("fr", "located_in", "eu", "train"), ("de", "located_in", "eu", "valid"),
                   ("fr", "neighbor_of", "de", "test")}  # the dataset's names, recorded by the load
    assert tables.relations.to_dict("records") == [{"relation": "located_in", "type": "LOCATED_IN"},
                                                   {"relation": "neighbor_of", "type": "NEIGHBOR_OF"}]
    ents = tables.entities.set_index("id")
    assert sorted(ents.index) == ["de", "eu", "fr"]
    assert ents.loc["fr", "text"] == "A republic." and ents.loc["de", "text"] is None
    assert ents.loc["fr", "images"] == ["/x/fr.png"] and ents.loc["eu", "images"] == []


def test_where_filter_hides_facts_and_splits_are_deterministic(graph: Graph, unique_label: str) -> None:
    graph.execute(f"UNWIND range(0, 199) AS i CREATE (:`{unique_label}` {{id: i, name: 'n' + i}})")
    graph.execute(f"MATCH (a:`{unique_label}`), (b:`{unique_label}`) WHERE b.id = (a.id + 1) % 200 "
                  "CREATE (a)-[:NEXT {holdout: a.id % 10 = 0}]->(b)")
    flt = GraphFilter(entity_labels=[unique_label], where="NOT r.holdout", modalities=Modalities(text=[], image=[]))
    first = export_tables(graph, flt, "ring", page=37)  # integer keys, several pages
    assert len(first.entities) == 200 and len(first.triples) == 180
    assert "0" not in set(first.triples["head"])  # held-out facts stay hidden
    again = export_tables(graph, flt, "ring", page=200)
    assert first.triples.sort_values("head").equals(again.triples.sort_values("head"))
    shares = first.triples["split"].value_counts(normalize=True)
    assert 0.65 < shares["train"] < 0.92 and shares.get("test", 0) > 0


def test_config_that_does_not_match_the_graph_fails_early(graph: Graph, unique_label: str) -> None:
    with pytest.raises(ConfigError, match="no node has the label"):
        export_tables(graph, GraphFilter(entity_labels=[unique_label]), "x")
    graph.execute(f"CREATE (:`{unique_label}` {{id: 'a'}}), (:`{unique_label}` {{name: 'keyless'}})")
    with pytest.raises(ConfigError, match="lack the key property 'id'"):
        export_tables(graph, GraphFilter(entity_labels=[unique_label]), "x")
    graph.execute(f"MATCH (n:`{unique_label}`) WHERE n.id IS NULL SET n.id = 'b'")
    with pytest.raises(ConfigError, match="no relationship of type 'NO_SUCH_TYPE'"):
        export_tables(graph, GraphFilter(entity_labels=[unique_label], relationship_types=["NO_SUCH_TYPE"]), "x")
    with pytest.raises(ConfigError, match="unsafe"):
        GraphFilter(entity_labels=["Bad Label"])
