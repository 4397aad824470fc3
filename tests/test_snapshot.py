"""The snapshot format: round trip, content hashes, and clear errors for broken snapshots."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from vlkge_graph.errors import DataError
from vlkge_graph.etl.tables import TableSet
from vlkge_graph.snapshot import (
    FORMAT_VERSION,
    MANIFEST,
    SnapshotError,
    read_manifest,
    read_snapshot,
    write_snapshot,
)


def make_tables(tmp_path: Path) -> TableSet:
    flag = tmp_path / "flag.png"
    Image.new("RGB", (30, 20), (200, 0, 0)).save(flag)
    entities = pd.DataFrame({
        "id": ["a", "b", "c", "d"],
        "label": ["Country", "Country", "Language", "Region"],
        "name": ["Alpha", "Beta", "Gamma", None],
        "text": ["Alpha is a country.", None, "A language.", ""],
        "images": [[str(flag)], [], None, ["https://example.org/x.png", str(tmp_path / "gone.png")]],
        "population": [10, 20, 30, 40],
    })
    relations = pd.DataFrame({"relation": ["neighbor_of", "speaks"], "type": ["NEIGHBOR_OF", "SPEAKS"]})
    triples = pd.DataFrame({"head": ["a", "b", "a"], "relation": ["neighbor_of", "neighbor_of", "speaks"],
                            "tail": ["b", "a", "c"], "split": ["train", "valid", "test"]})
    return TableSet("toy", entities, relations, triples)


def test_round_trip_keeps_tables_and_adds_content_hashes(tmp_path: Path) -> None:
    tables = make_tables(tmp_path)
    snap = tmp_path / "snap"
    source = {"kind": "neo4j", "uri": "bolt://localhost:7687", "filter": {"labels": ["Country"]}}
    written = write_snapshot(tables, snap, source)
    back, manifest = read_snapshot(snap)

    assert manifest == written
    assert manifest.format_version == FORMAT_VERSION
    assert manifest.source == source and manifest.dataset == "toy"
    assert manifest.counts == {"entities": 4, "relations": 2, "triples": 3, "train": 1, "valid": 1,
                               "test": 1, "entities_with_text": 2, "entities_with_image": 2}
    ent = back.entities
    assert list(ent.columns) == ["id", "label", "name", "text", "images", "text_hash", "image_hash",
                                 "population"]
    assert ent["id"].tolist() == ["a", "b", "c", "d"]
    assert ent["name"].tolist() == ["Alpha", "Beta", "Gamma", None]
    assert ent["text"].tolist() == ["Alpha is a country.", None, "A language.", ""]
    assert ent["images"].tolist() == [[str(tmp_path / "flag.png")], [], [],
                                      ["https://example.org/x.png", str(tmp_path / "gone.png")]]
    assert ent["population"].tolist() == [10, 20, 30, 40]
    assert ent["text_hash"][0] == hashlib.sha256(b"Alpha is a country.").hexdigest()
    assert ent["text_hash"][1] is None and ent["text_hash"][3] is None  # absent and blank text
    file_digest = hashlib.sha256((tmp_path / "flag.png").read_bytes()).hexdigest()
    assert ent["image_hash"][0] == hashlib.sha256(file_digest.encode()).hexdigest()
    assert ent["image_hash"][1] is None and ent["image_hash"][2] is None
    pd.testing.assert_frame_equal(back.triples, tables.triples, check_dtype=False)
    pd.testing.assert_frame_equal(back.relations, tables.relations, check_dtype=False)

    # Writing the read tables again gives the same content hash: the hash is over values, not bytes.
    again = write_snapshot(back, tmp_path / "snap2", source)
    assert again.data_hash == manifest.data_hash


def test_image_hash_follows_file_content(tmp_path: Path) -> None:
    tables = make_tables(tmp_path)
    write_snapshot(tables, tmp_path / "s1", {})
    first, _ = read_snapshot(tmp_path / "s1")
    Image.new("RGB", (30, 20), (0, 0, 200)).save(tmp_path / "flag.png")  # same path, new picture
    Image.new("RGB", (8, 8)).save(tmp_path / "gone.png")  # a missing file appears
    write_snapshot(tables, tmp_path / "s2", {})
    second, _ = read_snapshot(tmp_path / "s2")
    assert first.entities["image_hash"][0] != second.entities["image_hash"][0]
    assert first.entities["image_hash"][3] != second.entities["image_hash"][3]
    assert first.entities["text_hash"].tolist() == second.entities["text_hash"].tolist()


def test_relative_image_paths_resolve_against_the_snapshot(tmp_path: Path) -> None:
    tables = make_tables(tmp_path)
    snap = tmp_path / "portable"
    (snap / "images").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(snap / "images" / "a.png")
    tables.entities.at[0, "images"] = ["images/a.png"]
    write_snapshot(tables, snap, {})
    moved = tmp_path / "moved"
    snap.rename(moved)
    back, _ = read_snapshot(moved)
    assert back.entities["images"][0] == [str(moved / "images" / "a.png")]
    assert Path(back.entities["images"][0][0]).is_file()
    assert not back.entities["image_hash"][0].startswith("missing")


def test_missing_incomplete_and_foreign_directories(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="does not exist"):
        read_snapshot(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SnapshotError, match="not a snapshot directory"):
        read_snapshot(tmp_path / "empty")
    snap = tmp_path / "snap"
    write_snapshot(make_tables(tmp_path), snap, {})
    (snap / MANIFEST).unlink()
    with pytest.raises(SnapshotError, match="incomplete snapshot"):
        read_snapshot(snap)


def test_unknown_version_and_bad_manifest(tmp_path: Path) -> None:
    snap = tmp_path / "snap"
    write_snapshot(make_tables(tmp_path), snap, {})
    data = json.loads((snap / MANIFEST).read_text())
    (snap / MANIFEST).write_text(json.dumps({**data, "format_version": FORMAT_VERSION + 1}))
    with pytest.raises(SnapshotError, match="newer vlkge-graph"):
        read_manifest(snap)
    (snap / MANIFEST).write_text(json.dumps({**data, "format_version": "one"}))
    with pytest.raises(SnapshotError, match="unknown snapshot format version"):
        read_manifest(snap)
    (snap / MANIFEST).write_text("{not json")
    with pytest.raises(SnapshotError, match="unreadable manifest"):
        read_manifest(snap)


def test_corrupt_tables_are_detected(tmp_path: Path) -> None:
    snap = tmp_path / "snap"
    tables = make_tables(tmp_path)
    write_snapshot(tables, snap, {})
    (snap / "triples.parquet").write_bytes(b"PAR1 garbage")
    with pytest.raises(SnapshotError, match="corrupt Parquet"):
        read_snapshot(snap)
    write_snapshot(tables, snap, {})
    edited = tables.triples.assign(tail=["b", "a", "a"])
    edited.to_parquet(snap / "triples.parquet", index=False)  # same shape, different facts
    with pytest.raises(SnapshotError, match="data hash"):
        read_snapshot(snap)
    read_snapshot(snap, verify=False)  # an explicit opt-out still reads it
    (snap / "relations.parquet").unlink()
    with pytest.raises(SnapshotError, match="missing from the snapshot"):
        read_snapshot(snap)


def test_invalid_tables_and_source_are_refused(tmp_path: Path) -> None:
    tables = make_tables(tmp_path)
    bad = TableSet("toy", tables.entities, tables.relations,
                   tables.triples.assign(head=["a", "zz", "a"]))
    with pytest.raises(DataError, match="unknown head"):
        write_snapshot(bad, tmp_path / "bad", {})
    with pytest.raises(DataError, match="JSON-serialisable"):
        write_snapshot(tables, tmp_path / "bad2", {"when": object()})
