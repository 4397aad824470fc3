"""Bring your own triples: FB15k-237-shaped files load, train and sync with ``--triples`` and no mapping.

FB15k-237 itself cannot be downloaded here, so ``write_fb15k237_like`` writes files of its shape: the
ConvE distribution's ``train.txt / valid.txt / test.txt``, tab-separated ``/m/`` Freebase ids and real
FB15k-237 relation paths, the two that are longer than a readable type among them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from vlkge_graph.cli import app
from vlkge_graph.config import Config, PredictConfig, SyncConfig
from vlkge_graph.errors import ConfigError
from vlkge_graph.etl.readers import read_dataset
from vlkge_graph.etl.triples_files import label_for_folder, recipe_from_files
from vlkge_graph.graph.connection import Graph
from vlkge_graph.graph_filter import GraphFilter
from vlkge_graph.jobs.sync import sync
from vlkge_graph.relation_types import DERIVED_TYPE_LIMIT, relation_type_for

WORLD_CUP = ("/base/x2010fifaworldcupsouthafrica/world_cup_squad/current_world_cup_squad."
             "/base/x2010fifaworldcupsouthafrica/current_world_cup_squad/current_club")
CAPITAL = ("/location/capital_of_administrative_division/capital_of."
           "/location/administrative_division_capital_relationship/administrative_division")
#: (relation, head kind, tail kind, facts per head): real FB15k-237 relation paths.
RELATIONS = [
    ("/people/person/nationality", "person", "country", 1),
    ("/people/person/gender", "person", "gender", 1),
    ("/people/person/profession", "person", "profession", 2),
    ("/people/person/places_lived./people/place_lived/location", "person", "city", 1),
    ("/film/actor/film./film/performance/film", "person", "film", 3),
    ("/film/film/genre", "film", "genre", 2),
    ("/film/film/release_date_s./film/film_regional_release_date/film_release_region", "film", "country", 2),
    ("/award/award_nominee/award_nominations./award/award_nomination/award_nominee", "person", "person", 2),
    ("/location/location/contains", "country", "city", 3),
    ("/soccer/football_team/current_roster./sports/sports_team_roster/position", "club", "position", 2),
    (WORLD_CUP, "person", "club", 1),
    (CAPITAL, "city", "province", 1),
]
KINDS = {"person": 48, "country": 8, "gender": 2, "profession": 5, "city": 12, "film": 20, "genre": 5,
         "club": 6, "position": 3, "province": 6}
RECIPE = """
model: {backbone: distmult, dim: 16}
training: {mode: 1vsall, loss: cross_entropy, optimizer: adam, lr: 0.05, batch_size: 256, epochs: 3, seed: 3}
"""


def write_fb15k237_like(folder: Path, seed: int = 237) -> dict[str, int]:
    """train/valid/test.txt like the ConvE release of FB15k-237; every valid/test entity occurs in train."""
    rng = np.random.default_rng(seed)
    alphabet = np.array(list("0123456789bcdfghjklmnpqrstvwxyz_"))
    ids = {kind: [f"/m/0{''.join(rng.choice(alphabet, rng.integers(4, 7)))}" for _ in range(n)]
           for kind, n in KINDS.items()}
    facts = set()
    for relation, head_kind, tail_kind, per_head in RELATIONS:
        for head in ids[head_kind]:
            for tail in rng.choice(ids[tail_kind], per_head, replace=False):
                if tail != head:
                    facts.add((head, relation, str(tail)))
    ordered = sorted(facts)
    order = rng.permutation(len(ordered))
    held = [ordered[i] for i in order[:80]]
    train = [ordered[i] for i in order[80:]]
    seen = {e for h, _, t in train for e in (h, t)}
    held = [f for f in held if f[0] in seen and f[2] in seen]
    splits = {"train": train, "valid": held[: len(held) // 2], "test": held[len(held) // 2:]}
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        (folder / f"{split}.txt").write_text("".join(f"{h}\t{r}\t{t}\n" for h, r, t in rows), encoding="utf-8")
    return {split: len(rows) for split, rows in splits.items()}


def cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The real console entry point (error line and exit status as a user sees them)."""
    code = "import sys; from vlkge_graph.cli import main; sys.argv[0] = 'vlkge-graph'; main()"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture
def cli_env(neo4j_config: Config, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("NEO4J_URI", neo4j_config.neo4j.uri)
    monkeypatch.delenv("VLKGE_CONFIG", raising=False)
    root = str(Path(__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]),
            "COLUMNS": "250"}


def test_files_become_a_recipe_without_any_mapping(tmp_path: Path) -> None:
    counts = write_fb15k237_like(tmp_path / "FB15k-237")
    files = [tmp_path / "FB15k-237" / f"{s}.txt" for s in ("test", "train", "valid")]
    recipe = recipe_from_files(files)
    assert recipe.graph.label == "FB15k_237" and recipe.name == "FB15k-237"
    assert [(Path(t.path).name, t.split, t.header, t.format) for t in recipe.triples] == [
        ("test.txt", "test", False, "tsv"), ("train.txt", "train", False, "tsv"), ("valid.txt", "valid", False, "tsv")]
    tables = read_dataset(recipe)
    assert tables.counts()["train"] == counts["train"] and tables.counts()["relations"] == len(RELATIONS)
    types = tables.relation_types()
    assert len(set(types.values())) == len(RELATIONS)
    for long_name in (WORLD_CUP, CAPITAL):
        assert types[long_name] == relation_type_for(long_name) and len(types[long_name]) <= DERIVED_TYPE_LIMIT
    assert types["/film/actor/film./film/performance/film"] == "FILM_ACTOR_FILM_FILM_PERFORMANCE_FILM"
    assert label_for_folder("2024 data") == "D_2024_data" and label_for_folder("--") == "Triples"


def test_headers_commas_entities_and_a_single_unsplit_file(tmp_path: Path) -> None:
    folder = tmp_path / "wikidata sample"
    folder.mkdir()
    rows = [("Q1", "P31", "Q5"), ("Q2", "http://schema.org/knows", "Q1"), ("Q3", "P31", "Q5")] * 4
    (folder / "facts.csv").write_text("subject,predicate,object\n" + "".join(f"{h},{r},{t}\n" for h, r, t in rows))
    (folder / "entities.tsv").write_text("id\tname\ttext\twikidata_url\nQ1\tUniverse\tall of space\thttp://x/Q1\n")
    recipe = recipe_from_files([folder / "facts.csv"], entities=folder / "entities.tsv", label="Wiki")
    assert recipe.triples[0].header and recipe.triples[0].split is None and recipe.split is not None
    tables = read_dataset(recipe)
    assert sorted(tables.relations["type"]) == ["P31", "SCHEMA_ORG_KNOWS"] and tables.counts()["triples"] == 12
    q1 = tables.entities.set_index("id").loc["Q1"]
    assert (q1["name"], q1["text"], q1["wikidata_url"]) == ("Universe", "all of space", "http://x/Q1")
    with pytest.raises(ConfigError, match=r"cannot tell the split of .*facts\.csv"):
        recipe_from_files([folder / "facts.csv", folder / "entities.tsv"])
    (folder / "bad.tsv").write_text("key\tname\nQ1\tx\n")
    with pytest.raises(ConfigError, match=r"bad\.tsv:1: the entity table needs a header with an 'id'"):
        recipe_from_files([folder / "facts.csv"], entities=folder / "bad.tsv")
    (folder / "bad.tsv").write_text("id\tofficial name\nQ1\tx\n")
    with pytest.raises(ConfigError, match=r"bad\.tsv:1: column 'official name' would become a node property"):
        recipe_from_files([folder / "facts.csv"], entities=folder / "bad.tsv")


def test_train_and_evaluate_from_triples_files_through_the_cli(tmp_path: Path) -> None:
    write_fb15k237_like(tmp_path / "FB15k-237")
    (tmp_path / "tiny.yaml").write_text(RECIPE)  # no dataset: --triples gives it
    out = tmp_path / "run"
    files = [str(tmp_path / "FB15k-237" / f"{s}.txt") for s in ("train", "valid", "test")]
    runner = CliRunner()
    trained = runner.invoke(app, ["train", "--recipe", str(tmp_path / "tiny.yaml"), "--output", str(out),
                                  "--device", "cpu", "--triples", *files])
    assert trained.exit_code == 0, trained.output
    metrics = json.loads((out / "metrics.json").read_text())
    per_relation = set(metrics["test"]["per_relation"])  # keyed by the files' relation names
    assert per_relation and per_relation <= {name for name, *_ in RELATIONS}
    assert metrics["data"]["relations"] == len(RELATIONS)
    assert yaml.safe_load((out / "dataset.yaml").read_text())["graph"]["label"] == "FB15k_237"
    evaluated = runner.invoke(app, ["evaluate", "--model", str(out), "--split", "valid"])
    assert evaluated.exit_code == 0, evaluated.output
    wrong = runner.invoke(app, ["train", "--recipe", str(tmp_path / "tiny.yaml"), "--output", str(out), *files])
    assert wrong.exit_code == 2 and "--triples takes the triples files" in wrong.output


def test_fb15k237_files_load_and_sync_keeping_full_relation_names(graph: Graph, neo4j_config: Config,
                                                                   cli_env: dict[str, str], tmp_path: Path) -> None:
    """`load --triples` (label from the folder), then a sync: candidates and vlkge.info show the full
    Freebase paths; the shortened types are only the facts' relationship types."""
    folder = tmp_path / f"FB15k-237-{uuid.uuid4().hex[:8]}"
    counts = write_fb15k237_like(folder)
    label = label_for_folder(folder.name)
    files = [str(folder / f"{s}.txt") for s in ("train", "valid", "test")]
    loaded = cli("load", "--triples", *files, cwd=tmp_path, env=cli_env)
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    facts = graph.query(f"MATCH (:`{label}`)-[r]->(:`{label}`) RETURN count(r) AS n")[0]["n"]
    assert facts == sum(counts.values())
    world_cup_type = relation_type_for(WORLD_CUP)
    names = graph.query("MATCH (m:VlkgeRelationName {label: $label}) RETURN m.type AS type, m.relation AS relation",
                        label=label)
    assert len(names) == len(RELATIONS) and {"type": world_cup_type, "relation": WORLD_CUP} in names
    assert graph.query(f"MATCH (:`{label}`)-[r:`{world_cup_type}`]->() RETURN count(r) AS n")[0]["n"] > 0
    again = cli("load", "--triples", *files, cwd=tmp_path, env=cli_env)  # loading twice changes nothing
    assert again.returncode == 0 and graph.query(
        f"MATCH (:`{label}`)-[r]->() RETURN count(r) AS n")[0]["n"] == facts

    (tmp_path / "tiny.yaml").write_text(RECIPE)
    cfg = replace(neo4j_config, sync=SyncConfig(
        graph=GraphFilter(entity_labels=[label]), recipe=str(tmp_path / "tiny.yaml"),
        predict=PredictConfig(k=2, relations=[world_cup_type, CAPITAL]), runs_dir=str(tmp_path / "runs")))
    state = sync(graph, cfg, device="cpu")
    published = graph.query(f"MATCH (r:VlkgeRun {{run_id: $run}}) "
                            f"MATCH (:`{label}`)-[c:VLKGE_CANDIDATE {{generation: r.generation}}]->() "
                            "RETURN DISTINCT c.relation AS relation, c.type AS type ORDER BY relation",
                            run=state.run_id)
    assert published == [{"relation": WORLD_CUP, "type": world_cup_type},
                         {"relation": CAPITAL, "type": relation_type_for(CAPITAL)}]
    info = graph.query("CALL vlkge.info($run) YIELD relations RETURN relations", run=state.run_id)[0]["relations"]
    assert WORLD_CUP in info and CAPITAL in info and world_cup_type not in info and len(info) == len(RELATIONS)
    head = graph.query(f"MATCH (h:`{label}`)-[c:VLKGE_CANDIDATE {{relation: $rel}}]->() RETURN h.id AS id LIMIT 1",
                       rel=WORLD_CUP)[0]["id"]
    for name_or_type in (WORLD_CUP, world_cup_type):  # the plugin takes the name or the type
        rows = graph.query(f"MATCH (n:`{label}` {{id: $id}}) CALL vlkge.predict(n, $rel, {{k: 2}}) YIELD node "
                           "RETURN count(node) AS n", id=head, rel=name_or_type)
        assert rows == [{"n": 2}]


def test_project_names_are_refused_at_load_and_in_the_sync_filter(graph: Graph, cli_env: dict[str, str],
                                                                    unique_label: str, tmp_path: Path) -> None:
    """A relation that would become VLKGE_CANDIDATE (a predicted link to every query, never exported as a
    fact) is refused naming file and line, and so is a sync filter on the project's types; the user's
    data stays exactly as it was."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "train.txt").write_text("/m/01\t/people/person/nationality\t/m/02\n/m/03\tknows\t/m/01\n")
    first = cli("load", "--triples", str(folder / "train.txt"), "--label", unique_label, cwd=tmp_path, env=cli_env)
    assert first.returncode == 0, first.stdout + first.stderr

    def snapshot() -> list[dict[str, object]]:
        return graph.query(f"MATCH (n:`{unique_label}`) OPTIONAL MATCH (n)-[r]->(m) "
                           "RETURN n.id AS id, properties(n) AS props, type(r) AS type, properties(r) AS rprops, "
                           "m.id AS other ORDER BY id, type, other")
    before = snapshot()
    (folder / "test.txt").write_text("/m/01\tknows\t/m/03\n/m/02\t/people/person/nationality\t/m/01\n"
                                     "/m/02\tvlkge_candidate\t/m/03\n")
    bad = cli("load", "--triples", str(folder / "train.txt"), str(folder / "test.txt"), "--label", unique_label,
              cwd=tmp_path, env=cli_env)
    message = " ".join((bad.stdout + bad.stderr).split())
    assert bad.returncode == 2, message
    assert f"error: {folder / 'test.txt'}:3: relation 'vlkge_candidate' would be relationship type " \
           "'VLKGE_CANDIDATE', in the project's own namespace" in message
    assert "Traceback" not in message and snapshot() == before

    (tmp_path / "vlkge.yaml").write_text(yaml.safe_dump({"sync": {
        "graph": {"entity_labels": [unique_label], "relationship_types": ["KNOWS", "VLKGE_CANDIDATE"]},
        "recipe": str(tmp_path / "none.yaml"), "runs_dir": str(tmp_path / "runs")}}))
    refused = cli("sync", "--config", str(tmp_path / "vlkge.yaml"), cwd=tmp_path, env=cli_env)
    message = " ".join((refused.stdout + refused.stderr).split())
    assert refused.returncode == 2, message
    assert "sync.graph: graph.relationship_types: 'VLKGE_CANDIDATE' is in the project's own namespace" in message
    assert "Traceback" not in message
    assert snapshot() == before and not (tmp_path / "runs").exists()
    assert graph.query("MATCH (r:VlkgeRun {scope: $s}) RETURN count(r) AS n", s=unique_label) == [{"n": 0}]
