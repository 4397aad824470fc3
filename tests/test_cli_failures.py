"""Bad input through the real CLI (a subprocess, as a user runs it) against the real Neo4j.

Every expected failure ends in one readable message and exit status 2, never a traceback (``--verbose``
adds it), and leaves every user node, relationship and property as it was (a checksum before and after).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from vlkge_graph.config import Config
from vlkge_graph.graph.connection import Graph

ROOT = Path(__file__).resolve().parents[1]

RECIPE = """\
name: hostile
graph: {{label: {label}}}
triples:
  - {{path: triples.csv, split: train}}
entities:
  - path: entities.csv
    label: Thing
    columns: {{id: id, name: name, image: picture}}
    properties: {{pop: int}}
"""
ENTITIES = "id,name,picture,pop\na,A,,1\nb,B,,2\nc,C,,3\n"
TRIPLES = "head,relation,tail\na,likes,b\nb,likes,c\n"


def run_cli(*args: str, uri: str, cwd: Path, **env: str) -> tuple[int, str]:
    """``vlkge-graph ARGS`` in a fresh process: (exit status, stdout and stderr)."""
    environ = {k: v for k, v in os.environ.items() if k not in ("VLKGE_CONFIG", "NEO4J_DATABASE")}
    environ.update(NEO4J_URI=uri, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
                   COLUMNS="200", **env)
    done = subprocess.run([sys.executable, "-m", "vlkge_graph.cli", *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout + done.stderr


def user_data(graph: Graph, label: str) -> tuple[str, int, int]:
    """A checksum of every node with ``label``, its labels and properties, and of every relationship that
    touches one (type, ends, properties); and the database's node and relationship counts."""
    nodes = graph.query(f"MATCH (n:`{label}`) RETURN elementId(n) AS id, labels(n) AS labels, "
                        "properties(n) AS props ORDER BY id")
    rels = graph.query(f"MATCH (a:`{label}`)-[r]-() WITH DISTINCT r RETURN elementId(r) AS id, type(r) AS type, "
                       "elementId(startNode(r)) AS h, elementId(endNode(r)) AS t, properties(r) AS props ORDER BY id")
    digest = hashlib.sha256(json.dumps([nodes, rels], sort_keys=True, default=str).encode()).hexdigest()
    counts = graph.query("MATCH (n) WITH count(n) AS n MATCH ()-[r]->() RETURN n, count(r) AS r")[0]
    return digest, counts["n"], counts["r"]


def expect_failure(code: int, output: str, *messages: str) -> None:
    assert code == 2, output
    assert "Traceback" not in output, output
    assert output.count("error:") == 1, output
    for message in messages:
        assert message in output, output


@pytest.fixture
def workdir(graph: Graph, neo4j_config: Config, unique_label: str, tmp_path: Path) -> Path:
    """A good dataset already loaded under the test's label (the user's data), and its recipe files."""
    (tmp_path / "recipe.yaml").write_text(RECIPE.format(label=unique_label))
    (tmp_path / "entities.csv").write_text(ENTITIES)
    (tmp_path / "triples.csv").write_text(TRIPLES)
    code, output = run_cli("load", "recipe.yaml", uri=neo4j_config.neo4j.uri, cwd=tmp_path)
    assert code == 0 and "warning" not in output, output
    return tmp_path


def huge_png(path: Path, width: int, height: int) -> None:
    """A valid 1-bit PNG of ``width`` x ``height`` pixels, written row by row (never held in memory whole)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    pack = zlib.compressobj(9)
    row = b"\0" * (1 + (width + 7) // 8)
    data = b"".join(pack.compress(row) for _ in range(height)) + pack.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", data) + chunk(b"IEND", b""))


def test_an_integer_beyond_64_bits_is_a_clear_error(graph: Graph, neo4j_config: Config, unique_label: str,
                                                    workdir: Path) -> None:
    before = user_data(graph, unique_label)
    (workdir / "entities.csv").write_text(ENTITIES + "d,D,,99999999999999999999\n")
    code, output = run_cli("load", "recipe.yaml", uri=neo4j_config.neo4j.uri, cwd=workdir)
    expect_failure(code, output, f"{workdir / 'entities.csv'}: property pop: integer out of range",
                   "at line 5 ('99999999999999999999')")
    assert user_data(graph, unique_label) == before


def test_a_20000_pixel_square_image_is_dropped_and_reported_and_the_limit_can_be_raised(
        graph: Graph, neo4j_config: Config, unique_label: str, workdir: Path) -> None:
    huge_png(workdir / "huge.png", 20_000, 20_000)
    huge_png(workdir / "small.png", 40, 40)
    before = user_data(graph, unique_label)
    (workdir / "entities.csv").write_text(ENTITIES + "d,D,huge.png,4\ne,E,small.png,5\n")
    (workdir / "triples.csv").write_text(TRIPLES + "c,likes,d\nd,likes,e\n")
    code, output = run_cli("load", "recipe.yaml", uri=neo4j_config.neo4j.uri, cwd=workdir)
    assert code == 0 and "Traceback" not in output, output
    assert "dropped 1 of 2 image references (1 too large)" in output, output
    assert f"{workdir / 'entities.csv'}:5: {workdir / 'huge.png'} (too large: " in output
    assert "400,000,000 pixels, over the limit of 89,478,485; raise max_image_pixels" in output
    images = dict((r["id"], r["images"]) for r in graph.query(
        f"MATCH (n:`{unique_label}`) WHERE n.id IN ['d', 'e'] RETURN n.id AS id, n.images AS images"))
    assert images == {"d": None, "e": [str(workdir / "small.png")]}  # d has no image modality
    _, nodes, rels = user_data(graph, unique_label)
    assert (nodes, rels) == (before[1] + 2, before[2] + 2)  # only the two new entities and facts were added
    # a configuration limit below 40 x 40 drops the small one too when loading elsewhere; the recipe's wins
    (workdir / "vlkge.yaml").write_text("max_image_pixels: 1000\n")
    code, output = run_cli("load", "recipe.yaml", "--label", f"{unique_label}B", uri=neo4j_config.neo4j.uri,
                           cwd=workdir)
    assert code == 0 and "dropped 2 of 2 image references (2 too large)" in output, output
    (workdir / "recipe.yaml").write_text(RECIPE.format(label=unique_label) + "max_image_pixels: 500000000\n")
    code, output = run_cli("load", "recipe.yaml", "--label", f"{unique_label}C", uri=neo4j_config.neo4j.uri,
                           cwd=workdir)
    assert code == 0 and "warning" not in output, output
    huge = graph.query(f"MATCH (n:`{unique_label}C` {{id: 'd'}}) RETURN n.images AS images")
    assert huge == [{"images": [str(workdir / "huge.png")]}]


def test_ids_missing_from_the_entities_file_are_reported_or_refused(graph: Graph, neo4j_config: Config,
                                                                    unique_label: str, workdir: Path) -> None:
    (workdir / "triples.csv").write_text(TRIPLES + "c,likes,zzz_typo\n")
    before = user_data(graph, unique_label)
    recipe = RECIPE.format(label=unique_label) + "entity_defaults: {from_triples: refuse}\n"
    (workdir / "recipe.yaml").write_text(recipe)
    code, output = run_cli("load", "recipe.yaml", uri=neo4j_config.neo4j.uri, cwd=workdir)
    expect_failure(code, output, "1 id(s) in the triples are in no entities file: "
                                 f"'zzz_typo' ({workdir / 'triples.csv'}:4)")
    assert user_data(graph, unique_label) == before
    (workdir / "recipe.yaml").write_text(RECIPE.format(label=unique_label))  # default: created, with a warning
    code, output = run_cli("load", "recipe.yaml", uri=neo4j_config.neo4j.uri, cwd=workdir)
    assert code == 0 and "Traceback" not in output, output
    assert f"warning: hostile: 1 id(s) in the triples are in no entities file: 'zzz_typo' " \
           f"({workdir / 'triples.csv'}:4); created with label 'Entity'" in output
    assert graph.query(f"MATCH (n:`{unique_label}`:Entity) RETURN n.id AS id") == [{"id": "zzz_typo"}]


def test_keys_with_surrounding_whitespace_are_stripped_and_counted(graph: Graph, neo4j_config: Config,
                                                                   unique_label: str, workdir: Path) -> None:
    (workdir / "triples.csv").write_text(TRIPLES + " a,likes ,c\nc,likes,\tb \n")
    (workdir / "entities.csv").write_text(ENTITIES + " c,C,,3\n")
    code, output = run_cli("load", "recipe.yaml", uri=neo4j_config.neo4j.uri, cwd=workdir)
    assert code == 0 and "Traceback" not in output, output
    triples = workdir / "triples.csv"
    assert f"warning: {triples}: columns.head: stripped surrounding whitespace from 1 value(s) at line 4 (' a')" \
        in output
    assert f"{triples}: columns.relation: stripped surrounding whitespace from 1 value(s) at line 4" in output
    assert f"{triples}: columns.tail: stripped surrounding whitespace from 1 value(s) at line 5 ('\\tb ')" in output
    assert f"{workdir / 'entities.csv'}: columns.id: stripped surrounding whitespace from 1 value(s) at line 5 " \
           "(' c')" in output
    ids = sorted(r["id"] for r in graph.query(f"MATCH (n:`{unique_label}`) RETURN n.id AS id"))
    assert ids == ["a", "b", "c"]
    facts = graph.query(f"MATCH (h:`{unique_label}`)-[r]->(t) RETURN h.id + '-' + type(r) + '-' + t.id AS f "
                        "ORDER BY f")
    assert [r["f"] for r in facts] == ["a-LIKES-b", "a-LIKES-c", "b-LIKES-c", "c-LIKES-b"]


def test_a_sync_where_that_is_not_a_read_only_predicate_fails_before_any_stage(
        graph: Graph, neo4j_config: Config, unique_label: str, workdir: Path) -> None:
    before = user_data(graph, unique_label)
    config = workdir / "sync.yaml"
    for where, said in [
        ("r.weight >", "Neo4j refused it: Invalid input"),
        ("true) SET h.hacked = true WITH heads, last, h, r, t WHERE (true", "a query of type 'rw'"),
        ("true) RETURN 1 AS last //", "it changes what the export query returns"),
        ("x.weight > 1", "Variable `x` not defined"),
    ]:
        config.write_text(json.dumps({"sync": {"graph": {"entity_labels": [unique_label], "where": where},
                                               "runs_dir": str(workdir / "runs")}}))
        code, output = run_cli("sync", "--config", str(config), "--dry-run", uri=neo4j_config.neo4j.uri,
                               cwd=workdir)
        expect_failure(code, output, f"error: {config}: sync.graph.where: {where!r} must be a read-only Cypher "
                                     "predicate over h, r and t", said)
        assert not (workdir / "runs").exists()  # no stage started
    assert user_data(graph, unique_label) == before


def test_server_down_refusing_or_misconfigured(graph: Graph, neo4j_config: Config, unique_label: str,
                                               workdir: Path) -> None:
    before = user_data(graph, unique_label)
    uri = neo4j_config.neo4j.uri
    code, output = run_cli("load", "recipe.yaml", uri="bolt://127.0.0.1:9", cwd=workdir)
    expect_failure(code, output, "error: Neo4j at bolt://127.0.0.1:9 is not reachable")
    code, output = run_cli("init", uri="localhost:7687", cwd=workdir)
    expect_failure(code, output, "error: Neo4j URI 'localhost:7687' is not usable")
    code, output = run_cli("load", "recipe.yaml", uri=uri, cwd=workdir, NEO4J_DATABASE="nosuchdb")
    expect_failure(code, output, "error: Neo4j refused the request (Neo.ClientError.Database.DatabaseNotFound)")
    (workdir / "vlkge.yaml").write_text("sync:\n  grahp: {}\n")
    code, output = run_cli("sync", uri=uri, cwd=workdir)
    expect_failure(code, output, "error: vlkge.yaml: sync: unknown key(s) ['grahp']")
    (workdir / "vlkge.yaml").unlink()
    code, output = run_cli("load", "no-such-recipe", uri=uri, cwd=workdir)
    expect_failure(code, output, "error: no recipe 'no-such-recipe'")
    code, output = run_cli("--verbose", "load", "no-such-recipe", uri=uri, cwd=workdir)
    assert code == 2 and "Traceback" in output and "error: no recipe 'no-such-recipe'" in output  # --verbose
    assert user_data(graph, unique_label) == before
