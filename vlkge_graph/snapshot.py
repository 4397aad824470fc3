"""The snapshot directory: the one hand-off format between the exporter (Neo4j) and the trainer.

A snapshot is a directory holding ``entities.parquet``, ``relations.parquet``, ``triples.parquet`` and
``manifest.json``. It can be copied from a database host to a GPU box; the entity table carries a
content hash per modality (``text_hash``, ``image_hash``) so the trainer's feature cache re-encodes
only what changed. The manifest is written last: a directory without one is an interrupted export.

Image references may be relative paths: they are read relative to the snapshot directory, so an
exporter can copy image files (or image bytes from the graph) into ``<snapshot>/images/`` and the
snapshot stays portable.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from vlkge_graph import __version__
from vlkge_graph.content_hash import entity_hashes, image_refs, resolve_ref
from vlkge_graph.errors import DataError
from vlkge_graph.etl.tables import ENTITY_COLUMNS, RELATION_COLUMNS, TRIPLE_COLUMNS, TableSet

FORMAT = "vlkge-snapshot"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
TABLE_FILES = {"entities": "entities.parquet", "relations": "relations.parquet",
               "triples": "triples.parquet"}
#: Entity columns the snapshot adds: sha256 of the text / of the image files (None: modality absent).
HASH_COLUMNS = ("text_hash", "image_hash")
#: Entity columns that hold optional strings; read back as ``object`` columns with None for missing.
_NULLABLE_STRINGS = ("name", "text", *HASH_COLUMNS)


class SnapshotError(DataError):
    """A snapshot directory is missing, incomplete, corrupt or of an unknown format version."""


@dataclass(frozen=True)
class Manifest:
    """What a snapshot holds and where it came from; ``data_hash`` identifies its content."""

    dataset: str
    source: dict[str, Any]
    counts: dict[str, int]
    data_hash: str
    created_at: str
    format_version: int = FORMAT_VERSION
    generator: str = f"vlkge-graph {__version__}"
    format: str = field(default=FORMAT)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Manifest:
        """Parse a manifest, rejecting other formats and versions this code cannot read."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise SnapshotError(f"{where}: not a vlkge-graph snapshot manifest (format != {FORMAT!r})")
        version = data.get("format_version")
        if not isinstance(version, int) or version < 1:
            raise SnapshotError(f"{where}: unknown snapshot format version {version!r}")
        if version > FORMAT_VERSION:
            raise SnapshotError(
                f"{where}: snapshot format version {version} was written by a newer vlkge-graph "
                f"({data.get('generator')}); this one reads up to version {FORMAT_VERSION}: upgrade it"
            )
        missing = [k for k in ("dataset", "source", "counts", "data_hash", "created_at") if k not in data]
        if missing:
            raise SnapshotError(f"{where}: manifest lacks {missing}")
        known = {f: data[f] for f in cls.__dataclass_fields__ if f in data}
        return cls(**known)


def write_snapshot(tables: TableSet, directory: str | Path, source: dict[str, Any]) -> Manifest:
    """Write ``tables`` as a snapshot into ``directory`` (created; other files there are kept).

    ``source`` describes where the data came from (e.g. the Neo4j URI and graph filter); it is stored
    verbatim in the manifest, so it must be JSON-serialisable. Content hashes are recomputed from the
    texts and image files; relative image paths are read relative to ``directory``.
    """
    directory = Path(directory)
    tables.validate()
    directory.mkdir(parents=True, exist_ok=True)
    entities = _entities_for_writing(tables.entities, directory)
    frames = {"entities": entities, "relations": tables.relations.reset_index(drop=True),
              "triples": tables.triples.reset_index(drop=True)}
    counts = {**tables.counts(),
              "entities_with_text": int(entities["text_hash"].notna().sum()),
              "entities_with_image": int(entities["image_hash"].notna().sum())}
    manifest = Manifest(dataset=tables.name, source=source, counts=counts, data_hash=data_hash(frames),
                        created_at=datetime.now(UTC).isoformat(timespec="seconds"))
    try:
        manifest_text = json.dumps(manifest.to_dict(), indent=2, sort_keys=True)
    except TypeError as exc:
        raise DataError(f"snapshot source description is not JSON-serialisable: {exc}") from exc
    (directory / MANIFEST).unlink(missing_ok=True)  # marks the snapshot incomplete until the end
    for name, frame in frames.items():
        _write_parquet(frame, directory / TABLE_FILES[name])
    _atomic_write(directory / MANIFEST, manifest_text.encode())
    return manifest


def read_manifest(directory: str | Path) -> Manifest:
    """The manifest of the snapshot in ``directory``, with a clear error if there is none."""
    directory = Path(directory)
    path = directory / MANIFEST
    if not directory.is_dir():
        raise SnapshotError(f"no snapshot at {directory}: the directory does not exist")
    if not path.is_file():
        if any((directory / f).exists() for f in TABLE_FILES.values()):
            raise SnapshotError(f"{directory}: incomplete snapshot (no {MANIFEST}; the export was "
                                "interrupted): export it again")
        raise SnapshotError(f"{directory} is not a snapshot directory (no {MANIFEST})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SnapshotError(f"{path}: unreadable manifest: {exc}") from exc
    return Manifest.from_dict(data, str(path))


def read_snapshot(directory: str | Path, verify: bool = True) -> tuple[TableSet, Manifest]:
    """Read a snapshot; with ``verify`` the counts and the data hash must match the manifest.

    Relative image paths come back resolved against ``directory`` (absolute), so consumers can open
    them directly.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    frames = {name: _read_parquet(directory / file) for name, file in TABLE_FILES.items()}
    for name, columns in (("entities", (*ENTITY_COLUMNS, *HASH_COLUMNS)), ("relations", RELATION_COLUMNS),
                          ("triples", TRIPLE_COLUMNS)):
        missing = [c for c in columns if c not in frames[name].columns]
        if missing:
            raise SnapshotError(f"{directory / TABLE_FILES[name]}: lacks column(s) {missing}")
    entities = frames["entities"]
    entities["images"] = [image_refs(v) for v in entities["images"]]
    for column in _NULLABLE_STRINGS:
        entities[column] = _none_for_missing(entities[column])
    if verify:
        _verify(directory, manifest, frames)
    entities["images"] = [[resolve_ref(r, directory) for r in refs] for refs in entities["images"]]
    tables = TableSet(manifest.dataset, entities, frames["relations"], frames["triples"])
    try:
        tables.validate()
    except DataError as exc:
        raise SnapshotError(f"{directory}: corrupt snapshot: {exc}") from exc
    return tables, manifest


def data_hash(frames: dict[str, pd.DataFrame]) -> str:
    """sha256 over the tables' values (not their Parquet bytes), stable across a write/read round trip."""
    digest = hashlib.sha256()
    for name in sorted(frames):
        frame = frames[name]
        digest.update(f"\x02{name}\x02{len(frame)}".encode())
        for column in frame.columns:
            digest.update(f"\x03{column}\x03".encode())
            digest.update(_column_bytes(frame[column], list_column=column == "images"))
    return digest.hexdigest()


def _column_bytes(series: pd.Series, list_column: bool) -> bytes:
    if list_column:
        values = ["\x1f".join(image_refs(v)) for v in series]
    elif not series.isna().any() and pd.api.types.is_string_dtype(series):
        values = series.tolist()  # fast path for the large id columns of the triples
    else:
        values = ["\x00" if _is_missing(v) else _canonical(v) for v in series.tolist()]
    return "\x1e".join(values).encode("utf-8", "surrogatepass")


def _canonical(value: Any) -> str:
    if isinstance(value, str):
        return value
    if hasattr(value, "tolist"):  # numpy arrays and scalars from Parquet list columns
        value = value.tolist()
    return json.dumps(value, sort_keys=True, default=str)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _none_for_missing(series: pd.Series) -> pd.Series:
    return pd.Series([None if _is_missing(v) else v for v in series], index=series.index, dtype=object)


def _entities_for_writing(entities: pd.DataFrame, directory: Path) -> pd.DataFrame:
    frame = entities.drop(columns=[c for c in HASH_COLUMNS if c in entities.columns]).reset_index(drop=True)
    frame["images"] = pd.Series([image_refs(v) for v in frame["images"]], dtype=object)
    for column in ("name", "text"):
        frame[column] = _none_for_missing(frame[column])
    texts, images = entity_hashes(frame, base=directory)
    extras = [c for c in frame.columns if c not in ENTITY_COLUMNS]
    frame = frame[[*ENTITY_COLUMNS, *extras]]
    frame.insert(len(ENTITY_COLUMNS), "text_hash", pd.Series(texts, dtype=object))
    frame.insert(len(ENTITY_COLUMNS) + 1, "image_hash", pd.Series(images, dtype=object))
    return frame


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    try:
        frame.to_parquet(tmp, index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(f"cannot store {path.name}: a column holds values Parquet cannot type: {exc}") from exc
    os.replace(tmp, path)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _read_parquet(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise SnapshotError(f"{path}: missing from the snapshot (corrupt or partially copied)")
    try:
        return pd.read_parquet(path)
    except (OSError, pa.ArrowException) as exc:
        raise SnapshotError(f"{path}: corrupt Parquet file: {exc}") from exc


def _verify(directory: Path, manifest: Manifest, frames: dict[str, pd.DataFrame]) -> None:
    for name in TABLE_FILES:
        expected = manifest.counts.get(name)
        if expected is not None and expected != len(frames[name]):
            raise SnapshotError(f"{directory}: corrupt snapshot: {TABLE_FILES[name]} has "
                                f"{len(frames[name])} rows, the manifest says {expected}")
    actual = data_hash(frames)
    if actual != manifest.data_hash:
        raise SnapshotError(f"{directory}: corrupt snapshot: the tables' data hash {actual[:12]} differs "
                            f"from the manifest's {manifest.data_hash[:12]} (modified after export?)")
