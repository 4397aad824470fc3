"""Publishing generations into the real Neo4j: atomic switch, clean-up, lock, and a real crash."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from vlkge_graph.config import Config
from vlkge_graph.errors import ConfigError
from vlkge_graph.etl.tables import TableSet
from vlkge_graph.graph.connection import Graph
from vlkge_graph.graph.load import load_tables
from vlkge_graph.graph.lock import LockBusyError, hold_lock
from vlkge_graph.graph.publish import (
    PublishSummary,
    RelationParams,
    RunRecord,
    _activate,
    publish,
    remove_inactive,
    unpublish,
)
from vlkge_graph.graph.schema import apply_schema


def make_graph(graph: Graph, label: str, n: int) -> TableSet:
    ids = [f"e{i}" for i in range(n)]
    tables = TableSet(
        "pub", pd.DataFrame({"id": ids, "label": ["Thing"] * n, "name": ids, "text": [None] * n,
                             "images": [[] for _ in ids]}),
        pd.DataFrame({"relation": ["likes"], "type": ["LIKES"]}),
        pd.DataFrame({"head": ids[:-1], "relation": ["likes"] * (n - 1), "tail": ids[1:],
                      "split": ["train"] * (n - 1)}))
    load_tables(graph, tables, label, progress=False)
    return tables


def make_run(label: str, scope: str, run_id: str, n: int, per_entity: int, seed: int):
    rng = np.random.default_rng(seed)
    entities = pd.DataFrame({"id": [f"e{i}" for i in range(n)], "label": [label] * n})
    heads = np.repeat(np.arange(n), per_entity)
    tails = (heads + 2 + np.tile(np.arange(per_entity), n)) % n
    cands = pd.DataFrame({"head": [f"e{i}" for i in heads], "tail": [f"e{i}" for i in tails],
                          "relation": "likes", "type": "LIKES", "score": rng.normal(size=len(heads)),
                          "probability": 0.5, "rank": np.tile(np.arange(1, per_entity + 1), n), "direction": "tail"})
    run = RunRecord(run_id=run_id, scope=scope, backbone="distmult", dim=4, entity_labels=[label],
                    metrics={"mrr": 0.5})
    relations = [RelationParams("likes", "LIKES", [1.0, 2.0, 3.0, 4.0])]
    return run, entities, rng.normal(size=(n, 4)).astype(np.float32), relations, cands


def publish_made(graph: Graph, made: tuple, **options) -> PublishSummary:
    """Publish what :func:`make_run` made."""
    run, entities, embeddings, relations, candidates = made
    return publish(graph, run, entities=entities, embeddings=embeddings, relations=relations, candidates=candidates,
                   progress=False, **options)


def visible(graph: Graph, scope: str) -> list[tuple]:
    """The scope's visible candidates (the documented pattern), each with the run id of the active run."""
    rows = graph.query(
        "MATCH (r:VlkgeRun {scope: $scope, active: true}) "
        "MATCH (h)-[c:VLKGE_CANDIDATE {generation: r.generation}]->(t) "
        "RETURN h.id AS h, t.id AS t, c.score AS s, c.rank AS k, r.run_id AS run ORDER BY h, t", scope=scope)
    return [tuple(r.values()) for r in rows]


def candidates_on(graph: Graph, label: str) -> int:
    """Every candidate from a node of ``label``, of whatever generation (leftovers included)."""
    return graph.query(f"MATCH (:`{label}`)-[c:VLKGE_CANDIDATE]->() RETURN count(c) AS n")[0]["n"]


def test_generations_switch_and_clean_up(graph: Graph, unique_label: str) -> None:
    make_graph(graph, unique_label, 30)
    scope = unique_label
    run1 = make_run(unique_label, scope, f"{scope}-1", 30, 3, seed=1)
    s1 = publish(graph, run1[0], entities=run1[1], embeddings=run1[2], relations=run1[3], candidates=run1[4],
                 progress=False)
    assert len(visible(graph, scope)) == 90 and s1.embedding_property == "vlkge_embedding_a"
    emb = graph.query(f"MATCH (n:`{unique_label}` {{id: 'e0'}}) RETURN n.vlkge_embedding_a AS v")[0]["v"]
    assert np.allclose(emb, run1[2][0], atol=1e-6)
    run2 = make_run(unique_label, scope, f"{scope}-2", 30, 2, seed=2)
    s2 = publish(graph, run2[0], entities=run2[1], embeddings=run2[2], relations=run2[3], candidates=run2[4],
                 progress=False)
    assert s2.embedding_property == "vlkge_embedding_b" and s2.removed_previous == 90
    assert {r[4] for r in visible(graph, scope)} == {f"{scope}-2"} and len(visible(graph, scope)) == 60
    assert candidates_on(graph, unique_label) == 60  # the old generation is gone
    old_slot = graph.query(f"MATCH (n:`{unique_label}`) WHERE n.vlkge_embedding_a IS NOT NULL RETURN count(n) AS n")
    assert old_slot == [{"n": 0}]
    runs = graph.query("MATCH (r:VlkgeRun {scope: $s}) RETURN r.run_id AS id, r.status AS st, r.active AS a, "
                       "r.generation AS g ORDER BY id", s=scope)
    assert runs == [{"id": f"{scope}-1", "st": "superseded", "a": False, "g": s1.generation},
                    {"id": f"{scope}-2", "st": "published", "a": True, "g": s2.generation}]
    assert isinstance(s1.generation, int) and s2.generation > s1.generation  # from the database's one counter
    keys = graph.query(f"MATCH (:`{unique_label}`)-[c:VLKGE_CANDIDATE]->() RETURN DISTINCT keys(c) AS k")
    assert [sorted(r["k"]) for r in keys] == [sorted(["relation", "type", "score", "probability", "rank",
                                                      "direction", "generation"])]  # no run_id string
    again = publish(graph, run2[0], entities=run2[1], embeddings=run2[2], relations=run2[3], candidates=run2[4],
                    progress=False)
    assert again.candidates == 0 and again.generation == s2.generation and len(visible(graph, scope)) == 60
    users = graph.query(f"MATCH (:`{unique_label}`)-[r:LIKES]->() RETURN count(r) AS n")
    assert users == [{"n": 29}]  # users' facts untouched


def test_second_publisher_fails_clearly_while_lock_is_held(graph: Graph, unique_label: str) -> None:
    make_graph(graph, unique_label, 5)
    run = make_run(unique_label, unique_label, f"{unique_label}-1", 5, 1, seed=3)
    with hold_lock(graph, f"publish:{unique_label}", lease_s=60), pytest.raises(LockBusyError, match="holds"):
        publish(graph, run[0], entities=run[1], embeddings=run[2], relations=run[3], candidates=run[4],
                progress=False)
    with hold_lock(graph, f"publish:{unique_label}", lease_s=0.5, holder="dead-process"):
        pass
    graph.execute("MATCH (l:VlkgeLock {name: $n}) SET l.holder = 'dead', l.expires_at = datetime() - "
                  "duration('PT1S')", n=f"publish:{unique_label}")
    publish(graph, run[0], entities=run[1], embeddings=run[2], relations=run[3], candidates=run[4], progress=False)
    assert len(visible(graph, unique_label)) == 5  # an expired lease is taken over


def test_a_lock_whose_holder_process_died_is_taken_at_once(graph: Graph, unique_label: str) -> None:
    """A holder killed with its lease still running (kill -9) does not make the next run wait the lease out;
    a live holder on this host, or one on another host, still does."""
    apply_schema(graph)
    name = f"{unique_label}:killed"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid is gone (reused pids are the documented limit)
    host = socket.gethostname()
    for holder, free in [(f"{host}:{dead.pid}:x", True), (f"{host}:{os.getpid()}:x", False),
                         (f"elsewhere:{dead.pid}:x", False)]:
        graph.execute("MERGE (l:VlkgeLock {name: $n}) SET l.holder = $h, l.expires_at = datetime() + "
                      "duration('PT10M')", n=name, h=holder)
        if free:
            with hold_lock(graph, name, lease_s=60):
                pass
        else:
            with pytest.raises(LockBusyError, match="holds"), hold_lock(graph, name, lease_s=60):
                pass
    graph.execute("MATCH (l:VlkgeLock {name: $n}) SET l.holder = null, l.expires_at = null", n=name)


def test_locks_are_taken_all_or_none_and_by_one_taker_at_a_time(graph: Graph, unique_label: str) -> None:
    apply_schema(graph)  # as publish does: the lock names' uniqueness
    a, b, c = (f"{unique_label}:{x}" for x in "abc")
    with hold_lock(graph, [a, b], lease_s=60, holder="first"):
        with pytest.raises(LockBusyError, match=f"'{b}'"), hold_lock(graph, [b, c], lease_s=60, holder="second"):
            pass
        holders = graph.query("MATCH (l:VlkgeLock) WHERE l.name IN $n RETURN l.name AS name, l.holder AS holder "
                              "ORDER BY name", n=[a, b, c])
        assert holders == [{"name": a, "holder": "first"}, {"name": b, "holder": "first"},
                           {"name": c, "holder": None}]  # the free one was not taken either
    # Eight takers at once, one lock: exactly one wins (each reads the holder only after write-locking).
    name, start = f"{unique_label}:race", threading.Barrier(8)

    def take(i: int) -> bool:
        start.wait()
        try:
            with hold_lock(graph, name, lease_s=60, holder=f"taker-{i}"):
                time.sleep(3)  # longer than any taker needs to try, even on a loaded machine
                return True
        except LockBusyError:
            return False

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(take, range(8))) == 1


def test_two_scopes_publishing_on_one_label_at_once_never_both_publish(graph: Graph, unique_label: str) -> None:
    make_graph(graph, unique_label, 300)
    runs = [make_run(unique_label, f"{unique_label}{x}", f"{unique_label}{x}-1", 300, 5, seed=i)
            for i, x in enumerate("AB")]
    start = threading.Barrier(2)

    def attempt(made: tuple) -> str:
        start.wait()
        try:
            publish_made(graph, made, batch_size=100)
            return "published"
        except (LockBusyError, ConfigError):
            return "refused"

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(attempt, runs))
    assert sorted(outcomes) == ["published", "refused"]
    winner = runs[outcomes.index("published")]
    active = graph.query("MATCH (r:VlkgeRun {active: true}) WHERE r.scope STARTS WITH $l RETURN r.run_id AS id",
                         l=unique_label)
    assert active == [{"id": winner[0].run_id}]
    emb = graph.query(f"MATCH (n:`{unique_label}`) WHERE n.id = 'e7' RETURN n.vlkge_embedding_a AS a, "
                      "n.vlkge_embedding_b AS b")[0]
    assert emb["b"] is None and np.allclose(emb["a"], winner[2][7], atol=1e-6)  # the winner's vectors only


def test_a_second_scope_on_the_same_label_is_refused_until_the_first_is_retired(graph: Graph,
                                                                               unique_label: str) -> None:
    make_graph(graph, unique_label, 6)
    first = make_run(unique_label, unique_label, f"{unique_label}-1", 6, 2, seed=4)
    publish_made(graph, first)
    before = visible(graph, unique_label)
    other_scope = f"{unique_label}Other"
    second = make_run(unique_label, other_scope, f"{other_scope}-1", 6, 3, seed=5)
    with pytest.raises(ConfigError, match=rf"carry the embeddings of scope '{unique_label}'.*Nothing was written"):
        publish_made(graph, second)
    assert visible(graph, unique_label) == before and visible(graph, other_scope) == []
    assert graph.query("MATCH (r:VlkgeRun {scope: $s}) RETURN count(r) AS n", s=other_scope) == [{"n": 0}]
    emb = graph.query(f"MATCH (n:`{unique_label}` {{id: 'e0'}}) RETURN n.vlkge_embedding_a AS v")[0]["v"]
    assert np.allclose(emb, first[2][0], atol=1e-6)  # the first scope's embeddings are intact

    # Retiring the first scope frees the label: its links, slots and marks go, its run history stays.
    assert unpublish(graph, unique_label) == 12
    left = graph.query(f"MATCH (n:`{unique_label}`) RETURN count(n.vlkge_embedding_a) + count(n.vlkge_embedding_b) "
                       "+ count(n.vlkge_run_id) AS props, count(n) AS nodes")
    assert left == [{"props": 0, "nodes": 6}]
    assert candidates_on(graph, unique_label) == 0
    assert graph.query("MATCH (r:VlkgeRun {scope: $s}) RETURN r.status AS st, r.active AS a", s=unique_label) == [
        {"st": "retired", "a": False}]
    assert graph.query(f"MATCH (:`{unique_label}`)-[r:LIKES]->() RETURN count(r) AS n") == [{"n": 5}]  # users' facts
    publish_made(graph, second)
    assert len(visible(graph, other_scope)) == 18
    with pytest.raises(ConfigError, match="no runs"):
        unpublish(graph, f"{unique_label}Unknown")


CRASH_SCRIPT = textwrap.dedent("""
    import sys
    from vlkge_graph.config import Config, Neo4jConfig
    from vlkge_graph.graph.connection import connect
    from vlkge_graph.graph.publish import publish
    sys.path.insert(0, sys.argv[3])
    from test_publish import make_run
    label, run_id = sys.argv[1], sys.argv[2]
    run = make_run(label, label, run_id, 400, 50, seed=7)
    with connect(Config(neo4j=Neo4jConfig(uri=sys.argv[4])), start_local=False) as graph:
        publish(graph, run[0], entities=run[1], embeddings=run[2], relations=run[3], candidates=run[4],
                batch_size=200, lock_lease_s=2, progress=False)
""")


def test_killed_publish_leaves_previous_generation_and_rerun_completes(
        graph: Graph, unique_label: str, neo4j_config: Config) -> None:
    make_graph(graph, unique_label, 400)
    first = make_run(unique_label, unique_label, f"{unique_label}-old", 400, 2, seed=5)
    publish(graph, first[0], entities=first[1], embeddings=first[2], relations=first[3], candidates=first[4],
            progress=False)
    before = visible(graph, unique_label)
    new_id = f"{unique_label}-new-{uuid.uuid4().hex[:4]}"
    proc = subprocess.Popen([sys.executable, "-c", CRASH_SCRIPT, unique_label, new_id, os.path.dirname(__file__),
                             graph.uri], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    written = 0
    while time.monotonic() < deadline and written == 0 and proc.poll() is None:
        written = graph.query("MATCH (r:VlkgeRun {run_id: $r}) MATCH ()-[c:VLKGE_CANDIDATE {generation: r.generation}]"
                              "->() RETURN count(c) AS n", r=new_id)
        written = written[0]["n"] if written else 0
        time.sleep(0.05)
    assert proc.poll() is None, f"publisher ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 0 < written < 20_000
    assert visible(graph, unique_label) == before  # the previous generation is intact and still the visible one
    new = make_run(unique_label, unique_label, new_id, 400, 50, seed=7)
    publish(graph, new[0], entities=new[1], embeddings=new[2], relations=new[3], candidates=new[4], progress=False)
    after = visible(graph, unique_label)
    expected = sorted((h, t, float(s), int(k), new_id) for h, t, s, k in
                      new[4][["head", "tail", "score", "rank"]].itertuples(index=False))
    assert len(after) == 20_000 and after == expected  # same final state as an uninterrupted run
    assert candidates_on(graph, unique_label) == 20_000  # no leftovers of the killed attempt or the old run


def test_runs_sharing_a_generation_keep_its_candidates_until_a_new_generation(graph: Graph,
                                                                              unique_label: str) -> None:
    """A refresh run continues its parent's generation: superseding the parent must not remove the candidates
    the two share; the next full publish (a new generation) and unpublish remove them all."""
    make_graph(graph, unique_label, 8)
    scope = unique_label
    parent = publish_made(graph, make_run(unique_label, scope, f"{scope}-parent", 8, 2, seed=8))
    # what a refresh writes: a run node holding the parent's generation, its relation parameters, more candidates
    graph.execute("MATCH (p:VlkgeRun {run_id: $parent}) "
                  "CREATE (r:VlkgeRun) SET r = p {.*, run_id: $run, active: false, status: 'publishing'} "
                  "CREATE (r)-[:VLKGE_HAS_RELATION]->(:VlkgeRelation {run_id: $run, relation: 'likes', type: 'LIKES'})",
                  parent=f"{scope}-parent", run=f"{scope}-refresh")
    graph.execute(f"MATCH (h:`{unique_label}` {{id: 'e0'}}), (t:`{unique_label}` {{id: 'e5'}}) "
                  "CREATE (h)-[:VLKGE_CANDIDATE {relation: 'likes', type: 'LIKES', score: 9.0, probability: 0.9, "
                  "rank: 1, direction: 'tail', generation: $g}]->(t)", g=parent.generation)
    graph.write(_activate, scope, f"{scope}-refresh")
    with hold_lock(graph, f"publish:{scope}", lease_s=60) as lease:
        removed = remove_inactive(graph, lease, scope, keep=f"{scope}-refresh", slots=[], labels=[unique_label],
                                   batch_size=5)
    assert removed == 0
    shown = visible(graph, scope)
    assert len(shown) == 17 and {row[4] for row in shown} == {f"{scope}-refresh"}
    relations = graph.query("MATCH (r:VlkgeRun {scope: $s}) OPTIONAL MATCH (r)-[:VLKGE_HAS_RELATION]->(x) "
                            "RETURN r.run_id AS run, count(x) AS n ORDER BY run", s=scope)
    assert relations == [{"run": f"{scope}-parent", "n": 0}, {"run": f"{scope}-refresh", "n": 1}]  # by run

    # a full publish is a new generation: the shared one goes, in batches
    full = publish_made(graph, make_run(unique_label, scope, f"{scope}-full", 8, 1, seed=9), batch_size=5)
    assert full.generation > parent.generation and full.removed_previous == 17
    assert candidates_on(graph, unique_label) == 8 == len(visible(graph, scope))
    assert unpublish(graph, scope, batch_size=5) == 8 and candidates_on(graph, unique_label) == 0
