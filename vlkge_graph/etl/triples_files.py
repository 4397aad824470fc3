"""Plain triples files as a dataset without writing a recipe: ``load --triples`` and ``train --triples``.

The convention users know from PyKEEN's ``TriplesFactory.from_path``: one ``head relation tail`` per
line, one file per split. What this module infers, so that nothing needs hand-mapping:

- the format: ``.csv`` is comma-separated, ``.tsv`` tab-separated, anything else (``.txt``, gzipped or
  not) by its first line (a tab: tab-separated, else a comma: comma-separated); the first three fields
  are head, relation and tail, further ones are ignored;
- a header, when the first line names the columns (``head relation tail``, ``subject predicate object``,
  ``source relation target``, ...);
- the split from each file name (a word ``train``, ``valid``/``val``/``dev``, ``test``); a single file
  without one gets a seeded 80/10/10 split;
- the dataset label from the first file's folder (``FB15k-237/`` -> ``FB15k_237``) unless given;
- relationship types from the relation names (vlkge_graph/relation_types.py).

``--entities FILE`` adds a table with a header: ``id`` and any of ``name``, ``text``, ``image`` (paths
relative to the file, absolute, or URLs; several separated by ``|``) and ``label``; further columns
become text properties.
"""

from __future__ import annotations

import csv
import gzip
import re
from pathlib import Path

from vlkge_graph.errors import ConfigError, SourceMissingError
from vlkge_graph.etl.recipe import (
    EntitiesFile,
    EntityColumns,
    GraphSpec,
    Recipe,
    SplitSpec,
    TripleColumns,
    TriplesFile,
    check_recipe,
    file_format,
)
from vlkge_graph.identifiers import validate_identifier

_HEADER_WORDS = (
    {"head", "h", "subject", "s", "source", "src", "from", "head_id", "subject_id"},
    {"relation", "r", "predicate", "p", "rel", "relationship", "relation_type", "edge", "property", "type"},
    {"tail", "t", "object", "o", "target", "dst", "to", "tail_id", "object_id"},
)
_SPLIT_WORDS = {"train": "train", "training": "train", "valid": "valid", "validation": "valid", "val": "valid",
                "dev": "valid", "test": "test", "testing": "test"}
_ENTITY_COLUMNS = ("id", "label", "name", "text", "image")


def recipe_from_files(triples: list[str | Path], entities: str | Path | None = None,
                      label: str | None = None) -> Recipe:
    """An ETL recipe for plain triples files (and an optional entity table); see the module docstring."""
    if not triples:
        raise ConfigError("--triples: give at least one triples file")
    paths = [_existing(p, "--triples") for p in triples]
    splits = {path: _split_of(path) for path in paths}
    unnamed = [str(p) for p, split in splits.items() if split is None]
    if unnamed and len(paths) > 1:
        raise ConfigError(f"--triples: cannot tell the split of {', '.join(unnamed)} from its name; name each "
                          "file after its split (train, valid or test), or give a single file to split at random")
    specs = []
    for path in paths:
        fmt = _format(path)
        first = _first_row(path, fmt)
        if len(first) < 3:
            raise ConfigError(f"{path}:1: expected head, relation and tail separated by "
                              f"{'tabs' if fmt == 'tsv' else 'commas'}, got {len(first)} field(s)")
        header = all(cell.strip().lower() in words for cell, words in zip(first, _HEADER_WORDS, strict=False))
        specs.append(TriplesFile(path=str(path), format=fmt, header=header, split=splits[path],
                                 columns=TripleColumns(head=0, relation=1, tail=2)))
    folder = paths[0].parent.name
    recipe = Recipe(name=folder or paths[0].stem, graph=GraphSpec(label=label or label_for_folder(folder)),
                    triples=specs, entities=[_entities(entities)] if entities is not None else [],
                    split=SplitSpec() if unnamed else None,
                    description=f"triples files {', '.join(p.name for p in paths)} (--triples)")
    check_recipe(recipe, recipe.where)
    return recipe


def label_for_folder(folder: str) -> str:
    """A dataset label from a folder name: ``FB15k-237`` -> ``FB15k_237``, ``2024 data`` -> ``D_2024_data``."""
    cleaned = re.sub(r"[^A-Za-z0-9]+", "_", folder).strip("_") or "Triples"
    return f"D_{cleaned}" if cleaned[0].isdigit() else cleaned


def _entities(raw: str | Path) -> EntitiesFile:
    path = _existing(raw, "--entities")
    fmt = _format(path)
    header = [cell.strip() for cell in _first_row(path, fmt)]
    if "id" not in header:
        raise ConfigError(f"{path}:1: the entity table needs a header with an 'id' column (and any of "
                          f"{', '.join(_ENTITY_COLUMNS[1:])}); got {header}")
    for column in header:
        if column not in _ENTITY_COLUMNS:
            try:
                validate_identifier(column, "property name")
            except ConfigError as exc:
                raise ConfigError(f"{path}:1: column {column!r} would become a node property: {exc}") from exc
    columns = EntityColumns(**{c: c for c in _ENTITY_COLUMNS if c in header})
    return EntitiesFile(path=str(path), format=fmt, header=True, columns=columns,
                        image_separator="|" if "image" in header else None,
                        properties=[c for c in header if c not in _ENTITY_COLUMNS])


def _existing(raw: str | Path, option: str) -> Path:
    path = Path(raw).expanduser().resolve()
    if not path.is_file():
        raise SourceMissingError(f"{option}: no file {raw}")
    return path


def _split_of(path: Path) -> str | None:
    """The split a file name names (``train.txt``, ``fb15k_valid.tsv.gz``), None for none; two is an error."""
    stem = path.name.removesuffix(".gz").rsplit(".", 1)[0]
    found = {_SPLIT_WORDS[w] for w in re.split(r"[^a-z]+", stem.lower()) if w in _SPLIT_WORDS}
    if len(found) > 1:
        raise ConfigError(f"--triples: the name of {path} names several splits ({', '.join(sorted(found))})")
    return found.pop() if found else None


def _format(path: Path) -> str:
    """csv or tsv: from the extension when it says, else from the first line."""
    name = path.name.removesuffix(".gz").lower()
    if name.endswith((".csv", ".tsv")):
        return file_format(name, None)
    line = _first_line(path)
    if "\t" in line:
        return "tsv"
    if "," in line:
        return "csv"
    raise ConfigError(f"{path}:1: neither tabs nor commas separate the fields of the first line {line[:200]!r}")


def _first_line(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            for line in handle:
                if line.strip():
                    return line.rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from exc
    raise ConfigError(f"{path}: the file is empty")


def _first_row(path: Path, fmt: str) -> list[str]:
    line = _first_line(path)
    if fmt == "tsv":
        return line.split("\t")
    return next(csv.reader([line]))
