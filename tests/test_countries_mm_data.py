"""Fast checks (no Neo4j, no network) on the committed Countries-MM files in etl/data/countries-mm/."""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

DATA = Path(__file__).resolve().parents[1] / "etl" / "data" / "countries-mm"
RELATIONS = {"neighbor_of", "located_in", "official_language", "uses_currency"}
LABELS = {"Country", "Subregion", "Region", "Language", "Currency"}
ID_PREFIX = {"Country": "country:", "Subregion": "subregion:", "Region": "region:",
             "Language": "language:", "Currency": "currency:"}
#: (relation, head label, allowed tail labels)
SIGNATURES = {
    "neighbor_of": ({"Country"}, {"Country"}),
    "located_in": ({"Country", "Subregion"}, {"Subregion", "Region"}),
    "official_language": ({"Country"}, {"Language"}),
    "uses_currency": ({"Country"}, {"Currency"}),
}


def read(name: str) -> tuple[list[str], list[dict[str, str]]]:
    with open(DATA / name, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


@pytest.fixture(scope="module")
def entities() -> list[dict[str, str]]:
    columns, rows = read("entities.csv")
    assert columns[:5] == ["id", "label", "name", "text", "image"]
    return rows


@pytest.fixture(scope="module")
def triples() -> list[dict[str, str]]:
    columns, rows = read("triples.csv")
    assert columns == ["head", "relation", "tail"]
    return rows


def test_entity_ids_unique_and_well_formed(entities: list[dict[str, str]]) -> None:
    ids = Counter(e["id"] for e in entities)
    assert not [i for i, n in ids.items() if n > 1]
    assert {e["label"] for e in entities} == LABELS
    for e in entities:
        assert e["id"].startswith(ID_PREFIX[e["label"]]), e["id"]
        assert e["name"].strip(), e["id"]
        assert " " not in e["id"], e["id"]


def test_triples_reference_entities_with_the_documented_relations(
    entities: list[dict[str, str]], triples: list[dict[str, str]]
) -> None:
    label = {e["id"]: e["label"] for e in entities}
    assert {t["relation"] for t in triples} == RELATIONS
    for t in triples:
        assert t["head"] in label and t["tail"] in label, t
        heads, tails = SIGNATURES[t["relation"]]
        assert label[t["head"]] in heads and label[t["tail"]] in tails, t
        assert t["head"] != t["tail"], t
    keys = [(t["head"], t["relation"], t["tail"]) for t in triples]
    assert len(keys) == len(set(keys)), "duplicate triples"
    assert {e for t in triples for e in (t["head"], t["tail"])} == set(label), "isolated entities"


def test_relations_documented_in_readme(triples: list[dict[str, str]]) -> None:
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    per_relation = Counter(t["relation"] for t in triples)
    for relation, count in per_relation.items():
        assert re.search(rf"\| `{relation}` \| {count} \|", readme), relation
    for word in ("ODbL", "public domain", "WordNet 3.0", "world-countries@5.1.0", "iso-flags-png-320x240"):
        assert word in readme


def test_every_image_exists_and_is_a_small_rgb_png(entities: list[dict[str, str]]) -> None:
    images = [e["image"] for e in entities if e["image"]]
    assert images
    for path in images:
        assert not Path(path).is_absolute() and path.startswith("flags/"), path
        with Image.open(DATA / path) as image:
            image.load()
            assert image.format == "PNG" and image.mode == "RGB", path
            assert image.size == (64, 48), path
            colours = image.getcolors(64 * 48) or []
            assert len(colours) > 1, f"{path} is a single colour"
    on_disk = {f"flags/{p.name}" for p in (DATA / "flags").glob("*")}
    assert on_disk == set(images), "flags folder and entities.csv disagree"


def test_modality_asymmetry_is_present(entities: list[dict[str, str]]) -> None:
    countries = [e for e in entities if e["label"] == "Country"]
    assert any(e["text"] and e["image"] for e in countries), "countries with both"
    assert any(e["text"] and not e["image"] for e in countries), "countries with text, no image"
    assert any(e["image"] and not e["text"] for e in countries), "countries with image, no text"
    assert any(not e["text"] for e in entities), "entities lacking text"
    assert any(not e["image"] for e in entities), "entities lacking image"
    assert not any(e["image"] for e in entities if e["label"] != "Country")
    assert sum(bool(e["text"] and e["image"]) for e in countries) > 0.8 * len(countries)


def test_known_facts(entities: list[dict[str, str]], triples: list[dict[str, str]]) -> None:
    by_id = {e["id"]: e for e in entities}
    facts = {(t["head"], t["relation"], t["tail"]) for t in triples}
    assert ("country:FRA", "neighbor_of", "country:DEU") in facts
    assert ("country:FRA", "located_in", "subregion:Western_Europe") in facts
    assert ("subregion:Western_Europe", "located_in", "region:Europe") in facts
    assert ("country:FRA", "official_language", "language:fra") in facts
    assert ("country:FRA", "uses_currency", "currency:EUR") in facts
    assert by_id["country:FRA"]["name"] == "France"
    assert "republic in western Europe" in by_id["country:FRA"]["text"]
    assert by_id["country:FRA"]["image"] == "flags/fr.png"


def test_data_stays_small() -> None:
    total = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    assert total < 2 * 1024 * 1024, total
