"""Loading a table set into the real Neo4j: idempotence, no overwrites, unsafe identifiers refused."""

from __future__ import annotations

import pandas as pd
import pytest

from vlkge_graph.errors import ConfigError, DataError
from vlkge_graph.etl.tables import TableSet
from vlkge_graph.graph.connection import Graph
from vlkge_graph.graph.load import load_tables


def tiny_tables(rel_type: str = "LOCATED_IN") -> TableSet:
    entities = pd.DataFrame({
        "id": ["fr", "de", "eu"], "label": ["Country", "Country", "Region"],
        "name": ["France", "Germany", "Europe"], "text": ["A republic.", None, "A continent."],
        "images": [["/x/fr.png"], [], []], "area": [551695.0, 357114.0, float("nan")],
    })
    relations = pd.DataFrame({"relation": ["located_in", "neighbor_of"], "type": [rel_type, "NEIGHBOR_OF"]})
    triples = pd.DataFrame({"head": ["fr", "de", "fr"], "relation": ["located_in", "located_in", "neighbor_of"],
                            "tail": ["eu", "eu", "de"], "split": ["train", "valid", "test"]})
    return TableSet("tiny", entities, relations, triples)


def test_load_writes_nodes_relationships_and_is_idempotent(graph: Graph, unique_label: str) -> None:
    first = load_tables(graph, tiny_tables(), unique_label, progress=False)
    assert (first.nodes_created, first.relationships_created) == (3, 3)
    again = load_tables(graph, tiny_tables(), unique_label, progress=False)
    assert (again.nodes_created, again.relationships_created, again.conflicts) == (0, 0, 0)
    rows = graph.query(f"MATCH (n:`{unique_label}`) RETURN n.id AS id, labels(n) AS labels, n.text AS text, "
                       "n.images AS images, n.area AS area ORDER BY id")
    by_id = {r["id"]: r for r in rows}
    assert set(by_id) == {"fr", "de", "eu"}
    assert "Country" in by_id["fr"]["labels"] and "Region" in by_id["eu"]["labels"]
    assert by_id["de"]["text"] is None and by_id["de"]["images"] is None  # missing stays missing
    assert by_id["fr"]["images"] == ["/x/fr.png"] and by_id["eu"]["area"] is None
    rels = graph.query(f"MATCH (h:`{unique_label}`)-[r]->(t:`{unique_label}`) "
                       "RETURN h.id AS h, type(r) AS type, t.id AS t, r.split AS split ORDER BY h, type")
    assert rels == [{"h": "de", "type": "LOCATED_IN", "t": "eu", "split": "valid"},
                    {"h": "fr", "type": "LOCATED_IN", "t": "eu", "split": "train"},
                    {"h": "fr", "type": "NEIGHBOR_OF", "t": "de", "split": "test"}]


def test_rerun_after_an_interrupted_load_adds_no_duplicate(graph: Graph, unique_label: str) -> None:
    """A fresh type is written with CREATE; once some facts of it exist, the re-run must merge."""
    partial = tiny_tables()
    partial.triples = partial.triples.iloc[:1]  # as if the load died after the first batch
    load_tables(graph, partial, unique_label, progress=False)
    summary = load_tables(graph, tiny_tables(), unique_label, progress=False)
    assert summary.relationships_created == 2
    counts = graph.query(f"MATCH (h:`{unique_label}`)-[r]->(t) RETURN h.id AS h, type(r) AS type, t.id AS t, "
                         "count(*) AS n ORDER BY h, type")
    assert [c["n"] for c in counts] == [1, 1, 1]


def test_existing_properties_are_never_overwritten(graph: Graph, unique_label: str) -> None:
    graph.execute(f"CREATE (:`{unique_label}` {{id: 'fr', name: 'République française', mine: 1}})")
    summary = load_tables(graph, tiny_tables(), unique_label, progress=False)
    assert summary.conflicts == 1
    row = graph.query(f"MATCH (n:`{unique_label}` {{id: 'fr'}}) RETURN n.name AS name, n.mine AS mine")
    assert row == [{"name": "République française", "mine": 1}]


@pytest.mark.parametrize("bad", ["LOCATED IN", "X`]->() DETACH DELETE n //", "1ABC", ""])
def test_unsafe_relationship_types_are_refused_before_any_write(graph: Graph, unique_label: str,
                                                                bad: str) -> None:
    with pytest.raises(ConfigError, match="unsafe"):
        load_tables(graph, tiny_tables(rel_type=bad), unique_label, progress=False)
    assert graph.query(f"MATCH (n:`{unique_label}`) RETURN count(n) AS n") == [{"n": 0}]


def test_unsafe_dataset_label_is_refused(graph: Graph) -> None:
    with pytest.raises(ConfigError, match="dataset label"):
        load_tables(graph, tiny_tables(), "Bad`Label", progress=False)


def test_inconsistent_tables_are_refused_before_any_write(graph: Graph, unique_label: str) -> None:
    tables = tiny_tables()
    tables.triples.loc[0, "tail"] = "atlantis"
    with pytest.raises(DataError, match="atlantis"):
        load_tables(graph, tables, unique_label, progress=False)
    assert graph.query(f"MATCH (n:`{unique_label}`) RETURN count(n) AS n") == [{"n": 0}]


def test_project_namespace_is_refused_before_any_write(graph: Graph, unique_label: str) -> None:
    """Users' data may not take the project's names: a VLKGE_* fact would pass for a predicted link."""
    with pytest.raises(DataError, match=r"^tiny: relation 'located_in' would be relationship type 'vlkge_x', in "
                                        r"the project's own namespace"):
        load_tables(graph, tiny_tables(rel_type="vlkge_x"), unique_label, progress=False)
    with pytest.raises(ConfigError, match=r"dataset label 'VlkgeData' is in the project's own namespace"):
        load_tables(graph, tiny_tables(), "VlkgeData", progress=False)
    owned = tiny_tables()
    owned.entities = owned.entities.rename(columns={"area": "vlkge_embedding_a"})
    with pytest.raises(ConfigError, match=r"property 'vlkge_embedding_a' is in the project's own namespace"):
        load_tables(graph, owned, unique_label, progress=False)
    assert graph.query(f"MATCH (n:`{unique_label}`) RETURN count(n) AS n") == [{"n": 0}]
    assert graph.query("MATCH (m:VlkgeRelationName {label: $l}) RETURN count(m) AS n", l=unique_label) == [{"n": 0}]


def test_relation_names_are_recorded_and_a_reload_may_not_change_them(graph: Graph, unique_label: str) -> None:
    load_tables(graph, tiny_tables(), unique_label, progress=False)
    names = graph.query("MATCH (m:VlkgeRelationName {label: $l}) RETURN m.relation AS relation, m.type AS type "
                        "ORDER BY relation", l=unique_label)
    assert names == [{"relation": "located_in", "type": "LOCATED_IN"},
                     {"relation": "neighbor_of", "type": "NEIGHBOR_OF"}]
    with pytest.raises(DataError, match=r"relation 'located_in' was loaded into \w+ as relationship type "
                                        r"'LOCATED_IN'; this load would make it 'IN_REGION'"):
        load_tables(graph, tiny_tables(rel_type="IN_REGION"), unique_label, progress=False)
    renamed = tiny_tables()
    renamed.relations.loc[0, "relation"] = "part_of"
    renamed.triples["relation"] = renamed.triples["relation"].replace({"located_in": "part_of"})
    with pytest.raises(DataError, match=r"relationship type 'LOCATED_IN' already holds relation 'located_in'"):
        load_tables(graph, renamed, unique_label, progress=False)
    assert graph.query(f"MATCH (:`{unique_label}`)-[r]->() RETURN count(r) AS n") == [{"n": 3}]
