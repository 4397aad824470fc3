"""The ``vlkge.*`` procedure plugin on the real server, against the real Python backbones.

Each test writes a small published state by hand, as docs/graph-model.md describes it: a ``(:VlkgeRun)`` of
scope = the test's unique label, with backbone parameters and its ``embedding_property`` slot,
``(:VlkgeRelation)`` vectors (and ``inverse_vector`` for a reciprocal run) taken from a Python ``KGEModel`` with
random weights, and the entity vectors in that slot (``vlkge_embedding_a`` unless told) on nodes under the
test's unique label. The plugin jar must be built before the server starts (``scripts/build-plugin.sh``); the
local server copies it into its plugins directory.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from neo4j.exceptions import ClientError

from vlkge_graph.graph.connection import Graph
from vlkge_graph.graph.generation import next_generation
from vlkge_graph.graph.server import PROJECT_PLUGIN_DIR
from vlkge_graph.models import KGEModel, build_model

pytestmark = pytest.mark.neo4j

TOL = 1e-4
RELATIONS = ("likes", "knows")
SLOT_A, SLOT_B = "vlkge_embedding_a", "vlkge_embedding_b"
#: (backbone, options) of every variant the plugin scores.
VARIANTS = [
    ("transe", {"p": 1, "gamma": 12.0, "normalize": True}),
    ("transe", {"p": 2, "gamma": 6.0, "normalize": False}),
    ("distmult", {}),
    ("complex", {}),
    ("rotate", {"p": 1, "gamma": 9.0}),
    ("rotate", {"p": 2, "gamma": 9.0}),
]
VARIANT_IDS = ["transe-p1-normalized", "transe-p2-raw", "distmult", "complex", "rotate-p1", "rotate-p2"]


def fact_type(relation: str) -> str:
    return f"VT_{relation.upper()}"


@pytest.fixture(scope="module")
def plugin(graph: Graph) -> Graph:
    """The graph, once the vlkge procedures are known to be installed in its server."""
    names = {r["name"] for r in graph.query("SHOW PROCEDURES YIELD name WHERE name STARTS WITH 'vlkge.' "
                                            "RETURN name")}
    if "vlkge.info" not in names:
        jars = sorted(PROJECT_PLUGIN_DIR.glob("vlkge-procedures*.jar"))
        if not jars:
            pytest.skip("the vlkge procedure plugin has not been built (no cypher/procedures/target/"
                        "vlkge-procedures*.jar): run scripts/build-plugin.sh, then rerun the tests")
        pytest.fail(f"the plugin jar {jars[-1]} exists but the server at {graph.uri} has no vlkge.* procedures: "
                    "it was started before the jar was built, or it is not the project's server. Run "
                    "scripts/build-plugin.sh before starting Neo4j (vlkge-graph neo4j start copies the jar into "
                    "its plugins directory) and restart it")
    return graph


@dataclass
class Published:
    """A hand-written published state: one run over ``n`` entities keyed 0..n-1 under ``label``; ``model`` is the
    Python KGEModel whose entity and relation parameters were written (entity ``i`` = node ``key: i``)."""

    label: str
    run_id: str
    generation: int
    backbone: str
    options: dict[str, Any]
    model: KGEModel
    slot: str = SLOT_A
    relation_ids: dict[str, int] = field(default_factory=lambda: {name: i for i, name in enumerate(RELATIONS)})

    @property
    def entities(self) -> torch.Tensor:
        """Every entity's vector (float64, the exact float32 values stored)."""
        with torch.no_grad():
            return self.model.entity_vectors()

    def score(self, head: int, relation: str, tail: int) -> float:
        """The triple's score as the KGEModel computes it (always forward)."""
        with torch.no_grad():
            return float(self.model(torch.tensor([[head, self.relation_ids[relation], tail]]))[0])

    def query_scores(self, key: int, relation: str, direction: str) -> torch.Tensor:
        """Scores of every entity completing the query about ``key``, as the KGEModel scores it (a reciprocal
        model scores a head query as the tail query with the inverse relation)."""
        with torch.no_grad():
            query = torch.tensor([[key, self.relation_ids[relation], key]])
            return self.model.score_queries(query, direction)[0].clone()

    def ranking(self, key: int, relation: str, direction: str, k: int, skip: set[int] = frozenset()) -> list[int]:
        """Top-k keys by the model's own query scoring, the query entity and ``skip`` left out."""
        scores = self.query_scores(key, relation, direction)
        for i in {key, *skip}:
            scores[i] = float("-inf")
        return [int(i) for i in torch.argsort(scores, descending=True, stable=True)[:k]]


def publish(graph: Graph, label: str, backbone: str, options: dict[str, Any], n: int = 40, dim: int = 8,
            seed: int = 0, reciprocal: bool = False, slot: str = SLOT_A) -> Published:
    """Write run, relations and entity embeddings (into ``slot``) following docs/graph-model.md."""
    torch.manual_seed(seed)
    model = build_model(backbone, n, len(RELATIONS), dim, reciprocal=reciprocal, backbone_options=options).double()
    weights = model.backbone.relations.weight
    with torch.no_grad():
        if backbone != "rotate":  # the default init (std 0.1) gives nearly flat scores; spread them out
            torch.nn.init.normal_(weights, std=0.7)
        weights.copy_(weights.float().double())  # float32 values, as a publish stores them
        model.entities.structure.weight.copy_(torch.randn(n, dim).float().double())
        if model.entities.imaginary is not None:
            model.entities.imaginary.weight.copy_(torch.randn(n, dim).float().double())
    model.eval()
    run_id = f"test-{backbone}-{uuid.uuid4().hex[:10]}"
    generation = next_generation(graph)
    props = {"run_id": run_id, "generation": generation, "scope": label, "status": "published", "active": False,
             "embedding_property": slot, "reciprocal": reciprocal, "backbone": backbone, "dim": dim,
             "gamma": options.get("gamma"), "p": options.get("p"), "normalize": options.get("normalize"),
             "encoder_image": "efficientnet-lite0", "encoder_text": "all-MiniLM-L6-v2", "fusion": "average",
             "data_hash": "test", "metrics": '{"mrr": 0.25, "hits@10": 0.5}', "config": '{"epochs": 1}',
             "entity_key": "key", "entity_labels": [label]}
    rels = []
    for i, name in enumerate(RELATIONS):
        rel = {"relation": name, "type": fact_type(name), "vector": weights[i].tolist()}
        if reciprocal:
            rel["inverse_vector"] = weights[i + len(RELATIONS)].tolist()
        rels.append(rel)
    graph.execute(
        "CREATE (r:VlkgeRun) SET r = $props, r.created_at = datetime(), r.published_at = datetime() "
        "WITH r UNWIND $rels AS rel CREATE (r)-[:VLKGE_HAS_RELATION]->(x:VlkgeRelation {run_id: r.run_id}) "
        "SET x += rel",
        props={k: v for k, v in props.items() if v is not None}, rels=rels)
    p = Published(label, run_id, generation, backbone, options, model, slot)
    graph.execute(f"UNWIND $rows AS row MERGE (n:{label} {{key: row.key}}) "
                  f"SET n.{slot} = row.e, n.vlkge_run_id = $run",
                  rows=[{"key": i, "e": v.tolist()} for i, v in enumerate(p.entities)], run=run_id)
    return p


@pytest.fixture
def runs(plugin: Graph) -> Iterator[list[str]]:
    """Run ids a test creates; their run and relation nodes are removed afterwards."""
    created: list[str] = []
    yield created
    plugin.execute("MATCH (r:VlkgeRun) WHERE r.run_id IN $ids OPTIONAL MATCH (r)-[:VLKGE_HAS_RELATION]->(rel) "
                   "DETACH DELETE r, rel", ids=created)


@pytest.fixture
def state(plugin: Graph, unique_label: str, runs: list[str]) -> Published:
    published = publish(plugin, unique_label, "distmult", {}, seed=1)
    runs.append(published.run_id)
    return published


def predict(graph: Graph, p: Published, key: int, relation: str, **config: Any) -> list[dict[str, Any]]:
    config.setdefault("runId", p.run_id)
    return graph.query(f"MATCH (n:{p.label} {{key: $key}}) CALL vlkge.predict(n, $relation, $config) "
                       "YIELD node, score, probability, rank RETURN node.key AS key, score, probability, rank",
                       key=key, relation=relation, config=config)


def keys(rows: list[dict[str, Any]]) -> list[int]:
    return [r["key"] for r in rows]


def error_of(graph: Graph, cypher: str, **params: Any) -> str:
    with pytest.raises(ClientError) as info:
        graph.query(cypher, **params)
    return str(info.value.message)


# ---- vlkge.score ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("backbone", "options"), VARIANTS, ids=VARIANT_IDS)
def test_score_equals_the_python_backbone(plugin: Graph, unique_label: str, runs: list[str], backbone: str,
                                          options: dict[str, Any]) -> None:
    p = publish(plugin, unique_label, backbone, options, n=12, seed=2)
    runs.append(p.run_id)
    rows = plugin.query(f"MATCH (a:{p.label}), (b:{p.label}) WHERE a.key < 4 AND b.key >= 8 "
                        "RETURN a.key AS h, b.key AS t, vlkge.score(a, 'likes', b, $run) AS byName, "
                        "vlkge.score(a, $type, b, $run) AS byType", run=p.run_id, type=fact_type("likes"))
    assert len(rows) == 16
    for row in rows:
        expected = p.score(row["h"], "likes", row["t"])
        assert row["byName"] == pytest.approx(expected, abs=TOL)
        assert row["byType"] == pytest.approx(expected, abs=TOL)


# ---- vlkge.predict ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("backbone", "options"), VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize("direction", ["tail", "head"])
@pytest.mark.parametrize("reciprocal", [False, True], ids=["forward", "reciprocal"])
def test_predict_top_k_equals_the_torch_ranking(plugin: Graph, unique_label: str, runs: list[str], backbone: str,
                                                options: dict[str, Any], direction: str, reciprocal: bool) -> None:
    p = publish(plugin, unique_label, backbone, options, n=50, seed=3, reciprocal=reciprocal)
    runs.append(p.run_id)
    rows = predict(plugin, p, 7, "knows", k=6, direction=direction)
    assert keys(rows) == p.ranking(7, "knows", direction, 6)
    expected_scores = p.query_scores(7, "knows", direction)  # reciprocal head queries: with inverse_vector
    for rank, row in enumerate(rows, start=1):
        other = row["key"]
        assert row["score"] == pytest.approx(float(expected_scores[other]), abs=TOL)
        if not reciprocal or direction == "tail":
            expected = p.score(7, "knows", other) if direction == "tail" else p.score(other, "knows", 7)
            assert row["score"] == pytest.approx(expected, abs=TOL)
        assert row["probability"] == pytest.approx(1 / (1 + math.exp(-row["score"])), abs=1e-12)
        assert row["rank"] == rank


def test_predict_excludes_existing_facts_and_rejected_pairs(plugin: Graph, state: Published) -> None:
    p = state
    before = keys(predict(plugin, p, 0, "likes", k=5))
    fact, rejected, other_relation = before[:3]
    plugin.execute(f"MATCH (a:{p.label} {{key: 0}}), (b:{p.label} {{key: $fact}}), (c:{p.label} {{key: $rej}}), "
                   f"(d:{p.label} {{key: $other}}) CREATE (a)-[:{fact_type('likes')}]->(b) "
                   "CREATE (a)-[:VLKGE_REJECTED {relation: 'likes', type: $type, reason: 'no'}]->(c) "
                   "CREATE (a)-[:VLKGE_REJECTED {relation: 'knows', type: $other_type}]->(d)",
                   fact=fact, rej=rejected, other=other_relation, type=fact_type("likes"),
                   other_type=fact_type("knows"))
    after = keys(predict(plugin, p, 0, "likes", k=5))
    assert fact not in after and rejected not in after
    assert after == p.ranking(0, "likes", "tail", 5, skip={fact, rejected})
    assert other_relation in after  # a rejection for another relation does not apply
    assert keys(predict(plugin, p, 0, "likes", k=5, excludeExisting=False)) == before


def test_predict_sees_new_entities_at_once(plugin: Graph, state: Published) -> None:
    p = state
    predict(plugin, p, 0, "likes")
    r = p.model.backbone.relations.weight[p.relation_ids["likes"]]
    best = (p.entities[0] * r * 50).tolist()  # DistMult's best tail lies along h * r
    plugin.execute(f"CREATE (:{p.label} {{key: 999, vlkge_embedding_a: $e}})", e=best)
    assert keys(predict(plugin, p, 0, "likes"))[0] == 999
    plugin.execute(f"MATCH (n:{p.label} {{key: 999}}) SET n.vlkge_embedding_a = $e", e=[-x for x in best])
    assert 999 not in keys(predict(plugin, p, 0, "likes"))
    plugin.execute(f"MATCH (n:{p.label} {{key: 999}}) SET n.vlkge_embedding_b = $e", e=best)  # another slot
    assert 999 not in keys(predict(plugin, p, 0, "likes"))


def test_predict_target_label_and_active_run(plugin: Graph, state: Published, runs: list[str]) -> None:
    p = state
    subset = f"{p.label}Sub"
    plugin.execute(f"MATCH (n:{p.label}) WHERE n.key < 10 SET n:{subset}")
    found = keys(predict(plugin, p, 20, "likes", k=50, targetLabel=subset))
    assert sorted(found) == list(range(10))
    with active(plugin, p.run_id):
        rows = plugin.query(f"MATCH (n:{p.label} {{key: 20}}) CALL vlkge.predict(n, 'likes', {{k: 5}}) "
                            "YIELD node RETURN node.key AS key")
        assert keys(rows) == p.ranking(20, "likes", "tail", 5)


# ---- vlkge.candidates / accept / reject ----------------------------------------------------------------


def add_candidate(graph: Graph, p: Published, head: int, tail: int, relation: str, score: float,
                  generation: int | None = None) -> None:
    graph.execute(f"MATCH (a:{p.label} {{key: $h}}), (b:{p.label} {{key: $t}}) "
                  "CREATE (a)-[:VLKGE_CANDIDATE {relation: $rel, type: $type, score: $score, "
                  "probability: 1 / (1 + exp(-$score)), rank: 1, direction: 'tail', generation: $g}]->(b)",
                  h=head, t=tail, rel=relation, type=fact_type(relation), score=score,
                  g=p.generation if generation is None else generation)


def candidates(graph: Graph, p: Published, key: int, **config: Any) -> list[tuple[int, str, float]]:
    config.setdefault("runId", p.run_id)
    rows = graph.query(f"MATCH (n:{p.label} {{key: $key}}) CALL vlkge.candidates(n, $config) "
                       "YIELD candidate, other, relation, score "
                       "RETURN other.key AS other, relation, score, type(candidate) AS type", key=key, config=config)
    assert all(r["type"] == "VLKGE_CANDIDATE" for r in rows)
    return [(r["other"], r["relation"], r["score"]) for r in rows]


def test_candidates_filters_and_order(plugin: Graph, state: Published) -> None:
    p = state
    add_candidate(plugin, p, 0, 1, "likes", 2.0)
    add_candidate(plugin, p, 0, 2, "likes", -1.0)
    add_candidate(plugin, p, 0, 3, "knows", 0.5)
    add_candidate(plugin, p, 4, 0, "likes", 1.0)
    add_candidate(plugin, p, 0, 5, "likes", 9.0, generation=next_generation(plugin))  # another run's: not visible
    assert candidates(plugin, p, 0) == [(1, "likes", 2.0), (4, "likes", 1.0), (3, "knows", 0.5),
                                        (2, "likes", -1.0)]
    assert candidates(plugin, p, 0, relation="likes", minScore=0.0) == [(1, "likes", 2.0), (4, "likes", 1.0)]
    assert candidates(plugin, p, 0, direction="head") == [(4, "likes", 1.0)]
    assert candidates(plugin, p, 0, direction="tail", relation=fact_type("knows")) == [(3, "knows", 0.5)]


def test_accept_creates_the_fact_and_removes_the_candidate(plugin: Graph, state: Published) -> None:
    p = state
    add_candidate(plugin, p, 0, 1, "likes", 2.0)
    row = plugin.execute(f"MATCH (:{p.label} {{key: 0}})-[c:VLKGE_CANDIDATE]->(:{p.label} {{key: 1}}) "
                         "CALL vlkge.accept(c) YIELD relationship "
                         "RETURN type(relationship) AS type, properties(relationship) AS props")[0]
    assert row["type"] == fact_type("likes")
    assert row["props"]["vlkge_run_id"] == p.run_id
    assert row["props"]["vlkge_score"] == 2.0
    assert row["props"]["vlkge_accepted_at"] is not None
    assert candidates(plugin, p, 0) == []
    assert 1 not in keys(predict(plugin, p, 0, "likes", k=100))


def test_reject_records_the_decision_and_the_pair_is_not_proposed_again(plugin: Graph, state: Published) -> None:
    p = state
    top = keys(predict(plugin, p, 0, "likes", k=1))[0]
    add_candidate(plugin, p, 0, top, "likes", 3.0)
    row = plugin.execute(f"MATCH (:{p.label} {{key: 0}})-[c:VLKGE_CANDIDATE]->() "
                         "CALL vlkge.reject(c, 'not plausible') YIELD rejected "
                         "RETURN type(rejected) AS type, properties(rejected) AS props")[0]
    assert row["type"] == "VLKGE_REJECTED"
    props = row["props"]
    assert (props["relation"], props["type"], props["reason"], props["run_id"], props["score"]) == (
        "likes", fact_type("likes"), "not plausible", p.run_id, 3.0)
    assert props["rejected_at"] is not None
    assert candidates(plugin, p, 0) == []
    assert top not in keys(predict(plugin, p, 0, "likes", k=100))


# ---- vlkge.similar ----------------------------------------------------------------------------------


def cosine_ranking(p: Published, key: int, k: int, among: set[int]) -> list[int]:
    sims = torch.nn.functional.cosine_similarity(p.entities[key : key + 1], p.entities)
    order = [int(i) for i in torch.argsort(sims, descending=True) if int(i) in among and int(i) != key]
    return order[:k]


def similar(graph: Graph, p: Published, key: int, k: int) -> list[dict[str, Any]]:
    return graph.query(f"MATCH (n:{p.label} {{key: $key}}) CALL vlkge.similar(n, $k, $run) YIELD node, score "
                       "RETURN node.key AS key, score", key=key, k=k, run=p.run_id)


def test_similar_returns_the_nearest_by_cosine(plugin: Graph, state: Published) -> None:
    p = state
    rows = similar(plugin, p, 0, 5)
    assert keys(rows) == cosine_ranking(p, 0, 5, set(range(len(p.entities))))
    sims = torch.nn.functional.cosine_similarity(p.entities[0:1], p.entities).detach()
    for row in rows:
        assert row["score"] == pytest.approx(float(sims[row["key"]]), abs=1e-6)


def test_similar_uses_the_runs_vector_index(plugin: Graph, state: Published) -> None:
    p = state
    indexed = f"{p.label}Idx"  # only even keys: the index cannot return odd ones, an exact scan would
    plugin.execute("MATCH (r:VlkgeRun {run_id: $run}) SET r.entity_labels = [$label, $indexed]", run=p.run_id,
                   label=p.label, indexed=indexed)
    index = f"vlkge_{p.slot}_{indexed}"  # the publisher's name: vlkge_<slot>_<Label>
    plugin.execute(f"MATCH (n:{p.label}) WHERE n.key % 2 = 0 SET n:{indexed}")
    assert keys(similar(plugin, p, 0, 4)) == cosine_ranking(p, 0, 4, set(range(len(p.entities))))  # exact scan
    plugin.execute(f"CREATE VECTOR INDEX {index} IF NOT EXISTS FOR (n:{indexed}) ON n.{p.slot} "
                   "OPTIONS {indexConfig: {`vector.dimensions`: 8, `vector.similarity_function`: 'cosine'}}")
    try:
        plugin.execute("CALL db.awaitIndexes(120)")
        evens = set(range(0, len(p.entities), 2))
        assert keys(similar(plugin, p, 0, 4)) == cosine_ranking(p, 0, 4, evens)
    finally:
        plugin.execute(f"DROP INDEX {index} IF EXISTS")


# ---- vlkge.info -------------------------------------------------------------------------------------


class active:
    """Make one run the active run of its scope for a block (as a publish does), then restore the scope's runs."""

    def __init__(self, graph: Graph, run_id: str) -> None:
        self.graph, self.run_id = graph, run_id

    def __enter__(self) -> None:
        self.scope = self.graph.query("MATCH (r:VlkgeRun {run_id: $id}) RETURN r.scope AS scope",
                                      id=self.run_id)[0]["scope"]
        self.before = [r["id"] for r in self.graph.query("MATCH (r:VlkgeRun {scope: $scope, active: true}) "
                                                         "RETURN r.run_id AS id", scope=self.scope)]
        self.graph.execute("MATCH (r:VlkgeRun {scope: $scope}) SET r.active = (r.run_id = $id), r.published_at = "
                           "CASE r.run_id WHEN $id THEN datetime() ELSE r.published_at END",
                           scope=self.scope, id=self.run_id)

    def __exit__(self, *exc: object) -> None:
        self.graph.execute("MATCH (r:VlkgeRun {scope: $scope}) SET r.active = (r.run_id IN $ids)",
                           scope=self.scope, ids=self.before)


INFO = ("CALL vlkge.info() YIELD runId, generation, scope, status, active, backbone, dim, gamma, p, normalize, "
        "reciprocal, embeddingProperty, encoderImage, encoderText, fusion, metrics, config, entityLabels, relations, "
        "createdAt, publishedAt WHERE scope IN $scopes RETURN * ORDER BY scope")


def test_info_returns_one_row_per_active_run(plugin: Graph, unique_label: str, runs: list[str]) -> None:
    p = publish(plugin, unique_label, "transe", {"p": 1, "gamma": 12.0, "normalize": True}, n=3)
    q = publish(plugin, f"{unique_label}Other", "complex", {}, n=3, reciprocal=True, slot=SLOT_B)
    runs.extend([p.run_id, q.run_id])
    with active(plugin, p.run_id), active(plugin, q.run_id):
        info = plugin.query(INFO, scopes=[p.label, q.label])
    assert [row["runId"] for row in info] == [p.run_id, q.run_id]  # both scopes' runs are active at once
    row = info[0]
    assert (row["runId"], row["generation"], row["scope"], row["status"], row["active"], row["backbone"],
            row["dim"]) == (p.run_id, p.generation, unique_label, "published", True, "transe", 8)
    assert (row["gamma"], row["p"], row["normalize"], row["reciprocal"], row["embeddingProperty"]) == (
        12.0, 1, True, False, SLOT_A)
    assert (row["encoderImage"], row["encoderText"], row["fusion"]) == ("efficientnet-lite0", "all-MiniLM-L6-v2",
                                                                        "average")
    assert row["metrics"] == {"mrr": 0.25, "hits@10": 0.5}
    assert row["config"] == {"epochs": 1}
    assert row["entityLabels"] == [unique_label]
    assert row["relations"] == sorted(RELATIONS)
    assert row["createdAt"] is not None and row["publishedAt"] is not None
    other = info[1]
    assert (other["scope"], other["backbone"], other["reciprocal"], other["embeddingProperty"]) == (
        q.label, "complex", True, SLOT_B)
    by_id = plugin.query("CALL vlkge.info($run) YIELD runId, active RETURN runId, active", run=p.run_id)
    assert by_id == [{"runId": p.run_id, "active": False}]


def test_nodes_use_the_active_run_of_their_scope(plugin: Graph, unique_label: str, runs: list[str]) -> None:
    """Two scopes with an active run each: calls without runId use the run whose entity_labels cover the node."""
    p = publish(plugin, unique_label, "distmult", {}, n=30, seed=4)
    q = publish(plugin, f"{unique_label}Other", "complex", {}, n=30, seed=5, reciprocal=True, slot=SLOT_B)
    runs.extend([p.run_id, q.run_id])
    add_candidate(plugin, p, 0, 1, "likes", 1.0)
    add_candidate(plugin, q, 0, 1, "knows", 2.0)
    with active(plugin, p.run_id), active(plugin, q.run_id):
        for run in (p, q):
            rows = plugin.query(f"MATCH (n:{run.label} {{key: 3}}) CALL vlkge.predict(n, 'likes', "
                                "{k: 5, direction: 'head'}) YIELD node RETURN node.key AS key")
            assert keys(rows) == run.ranking(3, "likes", "head", 5)
            score = plugin.query(f"MATCH (a:{run.label} {{key: 3}}), (b:{run.label} {{key: 4}}) "
                                 "RETURN vlkge.score(a, 'knows', b) AS s")[0]["s"]
            assert score == pytest.approx(run.score(3, "knows", 4), abs=TOL)
            near = plugin.query(f"MATCH (n:{run.label} {{key: 0}}) CALL vlkge.similar(n, 3) YIELD node "
                                "RETURN node.key AS key")
            assert keys(near) == cosine_ranking(run, 0, 3, set(range(30)))
        assert [c[:2] for c in candidates(plugin, p, 0, runId=None)] == [(1, "likes")]
        assert [c[:2] for c in candidates(plugin, q, 0, runId=None)] == [(1, "knows")]
        plugin.execute(f"CREATE (:{unique_label}Outside {{key: 0, vlkge_embedding_a: [1.0, 2.0]}})")
        msg = error_of(plugin, f"MATCH (n:{unique_label}Outside) CALL vlkge.predict(n, 'likes') YIELD node "
                       "RETURN node")
        assert "no active run covers" in msg and f"{unique_label}Outside" in msg


# ---- errors -----------------------------------------------------------------------------------------


def test_clear_errors(plugin: Graph, state: Published) -> None:
    p = state
    plugin.execute(f"CREATE (:{p.label} {{key: 500}})")
    pair = f"MATCH (a:{p.label} {{key: 0}}), (b:{p.label} {{key: 500}}) "
    msg = error_of(plugin, pair + "RETURN vlkge.score(a, 'likes', b, $run)", run=p.run_id)
    assert "has no vlkge_embedding_a property" in msg and p.run_id in msg
    msg = error_of(plugin, pair + "CALL vlkge.predict(b, 'likes', {runId: $run}) YIELD node RETURN node",
                   run=p.run_id)
    assert "has no vlkge_embedding_a property" in msg
    msg = error_of(plugin, pair + "CALL vlkge.similar(b, 3, $run) YIELD node RETURN node", run=p.run_id)
    assert "has no vlkge_embedding_a property" in msg

    one = f"MATCH (a:{p.label} {{key: 0}}), (b:{p.label} {{key: 1}}) "
    msg = error_of(plugin, one + "RETURN vlkge.score(a, 'hates', b, $run)", run=p.run_id)
    assert "unknown relation 'hates'" in msg and "likes" in msg
    msg = error_of(plugin, one + "CALL vlkge.predict(a, 'hates', {runId: $run}) YIELD node RETURN node",
                   run=p.run_id)
    assert "unknown relation 'hates'" in msg

    msg = error_of(plugin, one + "RETURN vlkge.score(a, 'likes', b, 'no-such-run')")
    assert "missing run" in msg and "no-such-run" in msg

    plugin.execute(f"MATCH (n:{p.label} {{key: 1}}) SET n.vlkge_embedding_a = [1.0, 2.0, 3.0]")
    msg = error_of(plugin, one + "RETURN vlkge.score(a, 'likes', b, $run)", run=p.run_id)
    assert "dimension mismatch" in msg

    msg = error_of(plugin, one + "CALL vlkge.predict(a, 'likes', {runId: $run, topK: 3}) YIELD node RETURN node",
                   run=p.run_id)
    assert "unknown config key 'topK'" in msg


def test_procedure_modes(plugin: Graph) -> None:
    rows = plugin.query("SHOW PROCEDURES YIELD name, mode WHERE name STARTS WITH 'vlkge.' RETURN name, mode")
    assert {r["name"]: r["mode"] for r in rows} == {
        "vlkge.predict": "READ", "vlkge.candidates": "READ", "vlkge.similar": "READ", "vlkge.info": "READ",
        "vlkge.accept": "WRITE", "vlkge.reject": "WRITE"}
    assert plugin.query("SHOW FUNCTIONS YIELD name WHERE name = 'vlkge.score' RETURN name") == [{"name": "vlkge.score"}]
