"""Recipe schema: every shipped recipe parses, and each kind of mistake names the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlkge_graph.errors import ConfigError, SourceMissingError
from vlkge_graph.etl.recipe import RECIPE_DIR, find_recipe, load_recipe, recipe_names
from vlkge_graph.etl.sources import shared_dir

SHIPPED = {"countries-mm", "kinships", "nations", "umls", "wikiart-mkg", "wn18rr", "wn9-img"}

MINIMAL = """\
name: tiny
graph: {label: Tiny}
triples:
  - {path: triples.csv, split: train}
"""


def write(tmp_path: Path, text: str, name: str = "tiny.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_every_shipped_recipe_parses(name: str) -> None:
    recipe = load_recipe(name)
    assert recipe.name == name
    assert recipe.file == RECIPE_DIR / f"{name}.yaml"
    assert recipe.graph.key == "id"
    assert recipe.source_hint


def test_recipe_names_lists_the_shipped_recipes() -> None:
    assert set(recipe_names()) >= SHIPPED


def test_found_by_bare_name_or_by_path(tmp_path: Path) -> None:
    assert find_recipe("wn18rr") == RECIPE_DIR / "wn18rr.yaml"
    path = write(tmp_path, MINIMAL)
    assert load_recipe(path).name == "tiny"
    assert load_recipe(str(path)).file == path.resolve()
    with pytest.raises(ConfigError, match=r"no recipe 'nope'.*wn18rr"):
        find_recipe("nope")


def test_shipped_recipes_encode_the_documented_choices() -> None:
    wn9 = load_recipe("wn9-img")
    assert wn9.triples[0].columns.split == "mode"
    assert wn9.triples[0].split_values == {"val": "valid"}
    assert wn9.images is not None and wn9.images.root_env == "IMAGENET_ROOT"
    assert wn9.images.pattern == "{id}/*.JPEG"
    assert [t.split for t in load_recipe("wn18rr").triples] == ["train", "valid", "test"]
    countries = load_recipe("countries-mm")
    assert countries.split is not None and countries.split.ratios == {"train": 0.8, "valid": 0.1, "test": 0.1}


@pytest.mark.parametrize(("text", "expected"), [
    (MINIMAL + "colour: blue\n", r"tiny\.yaml:+ unknown key\(s\) \['colour'\]"),
    (MINIMAL.replace("split: train", "split: train, colums: {}"), r"triples\[0\]: unknown key\(s\) \['colums'\]"),
    (MINIMAL.replace("graph: {label: Tiny}", "graph: {key: id}"), r"tiny\.yaml: graph\.label: required"),
    (MINIMAL.replace("name: tiny", "name: [1]"), r"tiny\.yaml: name: expected str"),
    (MINIMAL.replace("split: train", "split: dev"), r"triples\[0\]\.split: 'dev' is not one of"),
    (MINIMAL + "entities: {path: e.csv}\n", r"entities: expected a list"),
    (MINIMAL.replace("{label: Tiny}", "{label: 'Bad Label'}"), r"graph\.label: unsafe label 'Bad Label'"),
    (MINIMAL.replace("{label: Tiny}", "{label: 'X`) DETACH DELETE n //'}"), r"graph\.label: unsafe label"),
    (MINIMAL + "relations: {mapping: {r: 'HAS PART'}}\n", r"relations\.mapping\.r: unsafe relationship type"),
    (MINIMAL + "entity_defaults: {text_from_name: true}\n", r"entity_defaults\.text_from_name: needs"),
    (MINIMAL.replace(", split: train", ""), r"tiny\.yaml: split: some triples files"),
    (MINIMAL + "split: {ratios: {train: 0.8, valid: 0.1}}\n", r"split: every triples file already"),
    (MINIMAL.replace(", split: train", "") + "split: {ratios: {train: 0.5, test: 0.1}}\n",
     r"split\.ratios: need .* summing to 1"),
    (MINIMAL.replace("split: train", "split: train, header: false"), r"columns\.head: 'head' is a header name"),
    (MINIMAL.replace("split: train", "split: train, columns: {split: mode}"), r"triples\[0\]\.split: give either"),
    (MINIMAL.replace("triples.csv", "'${home}/t.csv'"), r"triples\[0\]\.path: unknown placeholder \$\{home\}"),
    (MINIMAL.replace("triples.csv", "facts.dat"), r"triples\[0\]\.format: cannot tell csv or tsv"),
    (MINIMAL + "images: {pattern: '*.jpg'}\n", r"images\.pattern: must contain \{id\}"),
    (MINIMAL + "images: {pattern: '{wnid}/*.jpg'}\n", r"images\.pattern: only \{id\}"),
    (MINIMAL + "entities: [{path: e.csv, properties: [name]}]\n", r"entities\[0\]\.properties\.name: is reserved"),
    (MINIMAL + "entities: [{path: e.csv, properties: {pop: number}}]\n",
     r"entities\[0\]\.properties: .* matches no allowed type"),
    (MINIMAL + "entities: [{path: e.csv, label: A, columns: {label: kind}}]\n", r"entities\[0\]\.label: give either"),
    (MINIMAL + "entities: [{path: e.csv, image_root: imgs}]\n", r"entities\[0\]\.columns\.image: image_root"),
    (MINIMAL + "file: other.yaml\n", r"unknown key\(s\) \['file'\]"),
    (MINIMAL + "entity_defaults: {from_triples: refuse}\n", r"entity_defaults\.from_triples: refuse needs an entities"),
    (MINIMAL + "entity_defaults: {from_triples: drop}\n", r"entity_defaults\.from_triples: 'drop' is not one of"),
    (MINIMAL + "max_image_pixels: 0\n", r"max_image_pixels: must be a positive number"),
    ("- just\n- a list\n", r"top level must be a mapping"),
    ("name: [unclosed\n", r"not valid YAML"),
])
def test_mistakes_name_the_file_and_the_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=expected) as info:
        load_recipe(path)
    assert str(path) in str(info.value)


def test_paths_resolve_relative_to_the_recipe_and_through_placeholders(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = load_recipe(write(tmp_path, MINIMAL))
    assert recipe.resolve("triples.csv") == tmp_path / "triples.csv"
    assert recipe.resolve("${shared}/datasets/x.csv") == shared_dir() / "datasets" / "x.csv"
    monkeypatch.setenv("TINY_ROOT", str(tmp_path / "data"))
    assert recipe.resolve("${env:TINY_ROOT}/a.csv") == tmp_path / "data" / "a.csv"
    monkeypatch.delenv("TINY_ROOT")
    with pytest.raises(SourceMissingError, match="environment variable TINY_ROOT is not set"):
        recipe.resolve("${env:TINY_ROOT}/a.csv")


def test_pykeen_placeholder_points_into_the_wheel() -> None:
    pytest.importorskip("pykeen", reason="pykeen (a dev dependency) ships Nations, UMLS and Kinships")
    path = load_recipe("nations").resolve("${pykeen}/nations/train.txt")
    assert path.is_file() and path.parent.name == "nations"
