"""Read any dataset recipe into the standard TableSet, without Neo4j.

The loader and the trainer both read datasets through ``read_dataset``, so a dataset is parsed, checked
and completed (WordNet texts, images, split) the same way wherever it is used.

Bad input is reported, never guessed around: malformed lines, missing columns, empty ids, unknown split
values, integers beyond 64 bits, conflicting duplicate entities and unsafe labels raise a DataError naming
file and line, before anything is written anywhere. Missing, unreadable or too large image files only lose
their image: one DataWarning sums them up with the first examples. Ids and relation names lose surrounding
whitespace (`` a`` is ``a``), and triples naming ids that no entities file lists are created or refused
(``entity_defaults.from_triples``); both are reported with file and line.
"""

from __future__ import annotations

import csv
import glob
import gzip
import logging
import os
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from vlkge_graph.errors import ConfigError, DataError, DataWarning, SourceMissingError
from vlkge_graph.etl import wordnet
from vlkge_graph.etl.recipe import EntitiesFile, Recipe, SplitSpec, TriplesFile, file_format, load_recipe
from vlkge_graph.etl.tables import SPLITS, TRIPLE_COLUMNS, TableSet, _sample
from vlkge_graph.identifiers import validate_identifier
from vlkge_graph.image_limit import pixel_limit, too_large
from vlkge_graph.relation_types import relation_types

log = logging.getLogger(__name__)

_EXAMPLES = 5  # offending lines quoted in one message
_CHUNK = 200_000  # records per DataFrame while parsing, so huge files never sit in Python lists whole
_URL = r"^[A-Za-z][A-Za-z0-9+.-]*://"
_POS_WORDS = {"n": "noun", "v": "verb", "a": "adjective", "r": "adverb"}
#: Neo4j stores 64-bit signed integers.
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


def read_dataset(recipe_or_path: Recipe | str | Path, image_root: str | None = None,
                 max_image_pixels: int | None = None) -> TableSet:
    """Read a recipe (object, name in ``etl/`` or YAML path) into a validated TableSet.

    ``image_root`` overrides every image root of the recipe (entity tables and ``images.root_env``).
    Images over the recipe's ``max_image_pixels``, else ``max_image_pixels``, else PIL's default limit
    are dropped as too large. Raises DataError / ConfigError / SourceMissingError naming file and line
    or key; lost images, stripped ids and entities created from triples only give a DataWarning.
    """
    recipe = recipe_or_path if isinstance(recipe_or_path, Recipe) else load_recipe(recipe_or_path)
    image_root = os.path.abspath(image_root) if image_root else None
    parts = [_read_triples(recipe, spec) for spec in recipe.triples]
    triples = pd.concat([frame for frame, _ in parts], ignore_index=True)
    sources = {relation: where for _, firsts in reversed(parts) for relation, where in firsts.items()}
    if triples.empty:
        raise DataError(f"{recipe.name}: the triples files hold no triples")
    if recipe.split is not None:
        triples = _draw_split(triples, recipe.split)
    tables = [_read_entities(recipe, spec, image_root) for spec in recipe.entities]
    entities = _complete_entities(recipe, _merge_entities(recipe, tables), triples)
    with pixel_limit(recipe.max_image_pixels or max_image_pixels):
        entities = _attach_images(recipe, entities, image_root)
    relations = _relations(recipe, triples["relation"], sources)
    return TableSet(recipe.name, entities, relations, triples[list(TRIPLE_COLUMNS)]).validate()


# --- delimited files -------------------------------------------------------------------------------


@dataclass
class _Table:
    """A parsed delimited file: string cells, and the line each record starts on, for messages."""

    file: str
    frame: pd.DataFrame
    lines: np.ndarray

    def column(self, column: str | int, key: str) -> pd.Series:
        """One column by header name or 0-based position; DataError naming the file if absent."""
        names = list(self.frame.columns)
        if isinstance(column, int):
            if column >= len(names):
                raise DataError(f"{self.file}: {key} is column {column} (0-based), but the lines have "
                                f"{len(names)} fields")
            return self.frame.iloc[:, column]
        if column not in names:
            raise DataError(f"{self.file}: no column {column!r} (needed for {key}); the header has "
                            f"{', '.join(map(repr, names))}")
        return self.frame[column]

    def fail(self, mask: pd.Series | np.ndarray, message: str, values: pd.Series | None = None) -> None:
        """Raise a DataError quoting the first lines where ``mask`` holds, if any."""
        if np.asarray(mask).any():
            raise DataError(f"{self.file}: {message} at {self.lines_of(mask, values)}")

    def lines_of(self, mask: pd.Series | np.ndarray, values: pd.Series | None = None) -> str:
        """The first lines where ``mask`` holds (with their values), and how many more there are."""
        hits = np.flatnonzero(np.asarray(mask))
        quoted = [f"line {self.lines[i]}" + (f" ({values.iloc[i]!r})" if values is not None else "")
                  for i in hits[:_EXAMPLES]]
        more = f" and {len(hits) - _EXAMPLES} more" if len(hits) > _EXAMPLES else ""
        return ", ".join(quoted) + more

    def key_column(self, column: str | int, key: str) -> pd.Series:
        """An id or relation-name column with surrounding whitespace stripped; a DataWarning says how many
        cells lost some, at which lines (`` a`` and ``a`` are one entity)."""
        raw = self.column(column, key)
        stripped = raw.str.strip()
        changed = stripped != raw
        if changed.any():
            warnings.warn(f"{self.file}: {key}: stripped surrounding whitespace from {int(changed.sum())} "
                          f"value(s) at {self.lines_of(changed, raw)}", DataWarning, stacklevel=3)
        return stripped


def _read_delimited(path: Path, fmt: str, header: bool) -> _Table:
    """Parse a CSV/TSV (optionally gzipped) with exact line numbers; any ragged record is an error."""
    shown = str(path)
    tsv = fmt == "tsv"
    names: list[str] | None = None
    width = 0
    rows: list[list[str]] = []
    lines: list[int] = []
    frames: list[pd.DataFrame] = []
    line_chunks: list[np.ndarray] = []
    bad: list[tuple[int, int]] = []
    start = 1  # the line the current record starts on (records may span lines inside quotes)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter="\t" if tsv else ",",
                                quoting=csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL, strict=not tsv)
            for row in reader:
                if row and header and names is None:
                    names, width = row, len(row)
                elif row and (len(row) == width or not width):
                    width = len(row)
                    rows.append(row)
                    lines.append(start)
                    if len(rows) == _CHUNK:
                        frames.append(pd.DataFrame(rows, columns=range(width), dtype=str))
                        line_chunks.append(np.asarray(lines, dtype=np.int64))
                        rows, lines = [], []
                elif row:
                    bad.append((start, len(row)))
                start = reader.line_num + 1
    except UnicodeDecodeError as exc:
        raise DataError(f"{shown}: not UTF-8 text ({exc})") from exc
    except csv.Error as exc:
        raise DataError(f"{shown}:{start}: {exc}") from exc
    except OSError as exc:
        raise DataError(f"{shown}: cannot read ({exc})") from exc
    if bad:
        quoted = ", ".join(f"line {line} has {n}" for line, n in bad[:_EXAMPLES])
        more = f" ({len(bad)} malformed lines in all)" if len(bad) > _EXAMPLES else ""
        raise DataError(f"{shown}: malformed lines: expected {width} fields; {quoted}{more}")
    if names is not None and len(set(names)) != len(names):
        raise DataError(f"{shown}: duplicate column names in the header {names}")
    frames.append(pd.DataFrame(rows, columns=range(width), dtype=str))
    line_chunks.append(np.asarray(lines, dtype=np.int64))
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    frame.columns = names if names is not None else list(range(width))
    return _Table(shown, frame, np.concatenate(line_chunks))


def _source(recipe: Recipe, raw: str) -> Path:
    """A recipe path resolved to an existing file, or SourceMissingError with the recipe's hint."""
    path = recipe.resolve(raw)
    if not path.is_file():
        raise SourceMissingError(f"{recipe.name}: source file {path} is missing. {recipe.source_hint}".strip())
    return path


# --- triples ---------------------------------------------------------------------------------------


def _read_triples(recipe: Recipe, spec: TriplesFile) -> tuple[pd.DataFrame, dict[str, str]]:
    """One triples file in TableSet columns, plus ``_where`` (file) and ``_line`` for messages; and
    ``file:line`` of each relation's first use."""
    path = _source(recipe, spec.path)
    table = _read_delimited(path, file_format(spec.path, spec.format), spec.header)
    out = pd.DataFrame({end: table.key_column(getattr(spec.columns, end), f"columns.{end}").astype(object)
                        for end in ("head", "relation", "tail")})
    for end in out.columns:
        table.fail(out[end] == "", f"empty {end}")
    if spec.columns.split is not None:
        raw = table.column(spec.columns.split, "columns.split")
        split = raw.replace(spec.split_values).astype(object)
        table.fail(~split.isin(SPLITS), f"unknown split value (known: {', '.join(SPLITS)}; map others "
                                        "with split_values)", raw)
    else:
        split = pd.Series(spec.split, index=out.index, dtype=object)
    out["split"] = split
    out["_where"] = pd.Categorical([table.file] * len(out))
    out["_line"] = table.lines
    first = (~out["relation"].duplicated()).to_numpy()
    lines = table.lines[first]
    return out, {rel: f"{table.file}:{line}" for rel, line in zip(out["relation"][first], lines, strict=True)}


def _draw_split(triples: pd.DataFrame, spec: SplitSpec) -> pd.DataFrame:
    """Seeded random split of the triples that came without one; deterministic for a given file."""
    todo = triples["split"].isna().to_numpy()
    n = int(todo.sum())
    order = np.random.default_rng(spec.seed).permutation(n)
    labels = np.empty(n, dtype=object)
    begin = 0
    for name in SPLITS:
        size = n - begin if name == SPLITS[-1] else round(n * spec.ratios.get(name, 0.0))
        labels[order[begin:begin + size]] = name
        begin += size
    split = triples["split"].to_numpy(dtype=object, copy=True)
    split[todo] = labels
    if spec.train_covers_entities:
        train = split == "train"
        seen = pd.concat([triples["head"][train], triples["tail"][train]]).unique()
        covered = triples["head"].isin(seen).to_numpy() & triples["tail"].isin(seen).to_numpy()
        split[todo & ~train & ~covered] = "train"
    return triples.assign(split=split)


# --- entities --------------------------------------------------------------------------------------


def _read_entities(recipe: Recipe, spec: EntitiesFile, image_root: str | None) -> pd.DataFrame:
    """One entity table in TableSet columns, plus ``_images`` (resolved paths) and ``_where`` (file:line)."""
    path = _source(recipe, spec.path)
    table = _read_delimited(path, file_format(spec.path, spec.format), spec.header)
    cols = spec.columns
    ids = table.key_column(cols.id, "columns.id")
    table.fail(ids == "", "empty id")
    out = pd.DataFrame({"id": ids})
    if cols.label is not None:
        labels = table.column(cols.label, "columns.label")
        for label in labels.unique():
            if label:
                try:
                    validate_identifier(label, "label")
                except ConfigError as exc:
                    table.fail(labels == label, str(exc))
        out["label"] = _nullable(labels)
    else:
        out["label"] = spec.label
    for key in ("name", "text"):
        column = getattr(cols, key)
        out[key] = _nullable(table.column(column, f"columns.{key}")) if column is not None else None
    properties = spec.properties if isinstance(spec.properties, dict) else dict.fromkeys(spec.properties, "str")
    for prop, kind in properties.items():
        out[prop] = _typed(table, table.column(prop, f"properties.{prop}"), kind, prop)
    out["_images"] = None
    if cols.image is not None:
        root = image_root or str(recipe.resolve(spec.image_root) if spec.image_root else path.parent)
        out["_images"] = _resolve_images(table.column(cols.image, "columns.image"), root, spec.image_separator)
    out["_where"] = table.file + ":" + pd.Series(table.lines, index=out.index).astype(str)
    return out


def _typed(table: _Table, raw: pd.Series, kind: str, prop: str) -> pd.Series:
    """A property column as Python values of the declared type, None where the cell is empty."""
    blank = raw == ""
    if kind == "str":
        return _nullable(raw)
    if kind == "bool":
        lowered = raw.str.lower()
        values = lowered.map({"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False})
        table.fail(~blank & values.isna(), f"property {prop}: not a boolean (true/false)", raw)
        return values.astype(object).where(~blank, None)
    if kind == "int":
        return _integers(table, raw, prop)
    numbers = pd.to_numeric(raw.where(~blank), errors="coerce")
    table.fail(~blank & numbers.isna(), f"property {prop}: not a number", raw)
    return numbers.astype(object).where(~blank, None)


def _integers(table: _Table, raw: pd.Series, prop: str) -> pd.Series:
    """Integer cells as exact Python ints (digits are never rounded through a float); a whole number
    written as a float (``2.0``, ``1e3``) is accepted. Beyond 64 bits is an error: Neo4j cannot store it."""
    blank = raw == ""
    digits = raw.str.fullmatch(r"[+-]?\d+")
    other = ~blank & ~digits
    numbers = pd.to_numeric(raw.where(other), errors="coerce")
    table.fail(other & numbers.isna(), f"property {prop}: not a number", raw)
    table.fail(other & (numbers % 1 != 0), f"property {prop}: not an integer", raw)
    values = [int(text) if is_digits else int(number) if is_other else None
              for text, is_digits, is_other, number in zip(raw, digits, other, numbers, strict=True)]
    table.fail([v is not None and not _INT_MIN <= v <= _INT_MAX for v in values],
               f"property {prop}: integer out of range (Neo4j stores 64-bit integers, {_INT_MIN} to {_INT_MAX})",
               raw)
    return pd.Series(values, index=raw.index, dtype=object)


def _merge_entities(recipe: Recipe, tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate entity tables; rows sharing an id merge when they agree and are an error otherwise."""
    if not tables:
        return pd.DataFrame(columns=["id", "label", "name", "text", "_images", "_where"])
    frame = pd.concat(tables, ignore_index=True)
    repeated = frame["id"].duplicated(keep=False)
    if not repeated.any():
        return frame
    values = [c for c in frame.columns if c not in ("id", "_where")]
    dups = frame[repeated]
    distinct = dups.groupby("id", sort=False)[values].nunique()
    conflicts = distinct[(distinct > 1).any(axis=1)]
    if len(conflicts):
        notes = []
        for entity_id, row in conflicts.head(_EXAMPLES).iterrows():
            column = row[row > 1].index[0]
            rows = dups[(dups["id"] == entity_id) & dups[column].notna()]
            found = "; ".join(f"{w}: {v!r}" for w, v in zip(rows["_where"], rows[column], strict=True))
            notes.append(f"id {entity_id!r} has different {column.lstrip('_')} values ({found})")
        more = f" ({len(conflicts)} ids in all)" if len(conflicts) > _EXAMPLES else ""
        raise DataError(f"{recipe.name}: conflicting duplicate entities: {' | '.join(notes)}{more}")
    return frame.groupby("id", sort=False, as_index=False).first()  # first non-null value per column


def _complete_entities(recipe: Recipe, entities: pd.DataFrame, triples: pd.DataFrame) -> pd.DataFrame:
    """Add entities known only from triples, then fill labels, names and texts from the recipe defaults."""
    defaults = recipe.entity_defaults
    mentioned = pd.Series(pd.unique(pd.concat([triples["head"], triples["tail"]], ignore_index=True)))
    new_ids = mentioned[~mentioned.isin(entities["id"])]
    if recipe.entities and len(new_ids):
        _report_unlisted(recipe, triples, new_ids)
    extra = pd.DataFrame({"id": new_ids.to_numpy(dtype=object), "label": defaults.label})
    if defaults.name_from_id:
        extra["name"] = extra["id"].str.replace("_", " ")
    if defaults.text_from_name:
        extra["text"] = extra["name"]
    entities = pd.concat([entities, extra], ignore_index=True)
    entities["label"] = entities["label"].fillna(defaults.label)
    if recipe.wordnet is not None:
        entities = _wordnet_fill(recipe, entities)
    for column in entities.columns:
        if column not in ("id", "_images"):
            entities[column] = _nullable(entities[column])
    return entities


def _report_unlisted(recipe: Recipe, triples: pd.DataFrame, unlisted: pd.Series) -> None:
    """Ids in the triples that no entities file lists (a typo, often): refused, or created with a warning,
    as ``entity_defaults.from_triples`` says; the first ones are quoted with file and line."""
    shown = []
    for entity_id in unlisted.iloc[:_EXAMPLES]:
        first = triples[(triples["head"] == entity_id) | (triples["tail"] == entity_id)].iloc[0]
        shown.append(f"{entity_id!r} ({first['_where']}:{first['_line']})")
    more = f" and {len(unlisted) - _EXAMPLES} more" if len(unlisted) > _EXAMPLES else ""
    what = f"{len(unlisted)} id(s) in the triples are in no entities file: {', '.join(shown)}{more}"
    mode = recipe.entity_defaults.from_triples
    if mode == "refuse":
        raise DataError(f"{recipe.where}: {what}; fix them, list them in an entities file, or set "
                        "entity_defaults.from_triples: warn")
    created = f"{recipe.name}: {what}; created with label {recipe.entity_defaults.label!r}"
    if mode == "create":
        log.info("%s (entity_defaults.from_triples: create)", created)
    else:
        warnings.warn(f"{created} (entity_defaults.from_triples: refuse makes this an error, create a "
                      "note)", DataWarning, stacklevel=4)


@cache
def _wordnet_frame() -> pd.DataFrame:
    """All WordNet 3.0 synsets (offset, part of speech, first lemma, gloss) in n, v, a, r order."""
    rows = [(s.offset, pos, s.name, s.gloss) for pos in _POS_WORDS for s in wordnet.synsets(pos).values()]
    frame = pd.DataFrame(rows, columns=["offset", "wn_pos", "wn_name", "wn_gloss"])
    frame["wn_name"] = frame["wn_name"].str.replace(r"\((?:a|p|ip)\)$", "", regex=True)  # adj. markers
    return frame


def _wordnet_fill(recipe: Recipe, entities: pd.DataFrame) -> pd.DataFrame:
    """Fill missing names and texts from WordNet for ids ``n########`` or bare 8-digit offsets.

    A bare offset is looked up in every part of speech; where several synsets share it (WN18RR has 232
    such ids, inherited from WN18) the node stands for all of them: their glosses are joined, each
    marked with its part of speech, and the name is the first in noun, verb, adjective, adverb order.
    ``name_in_text``: each gloss starts with its own synset's name (``verb: pay: act or give ...``).
    """
    spec = recipe.wordnet
    assert spec is not None
    parts = entities["id"].str.extract(r"^(?:(?P<pos>[nvar])(?P<prefixed>\d{8})|(?P<bare>\d{8}))$")
    query = pd.DataFrame({"id": entities["id"], "offset": parts["prefixed"].fillna(parts["bare"]),
                          "pos": parts["pos"]}).dropna(subset=["offset"])
    hits = query.merge(_wordnet_frame(), on="offset", how="inner", sort=False)
    hits = hits[hits["pos"].isna() | (hits["pos"] == hits["wn_pos"])]
    rank = {pos: i for i, pos in enumerate(_POS_WORDS)}
    hits = hits.sort_values("wn_pos", key=lambda s: s.map(rank), kind="stable")
    if spec.name_in_text:
        hits["wn_gloss"] = hits["wn_name"] + ": " + hits["wn_gloss"]
    first = hits.drop_duplicates("id").set_index("id")
    texts = first["wn_gloss"]
    shared = hits[hits["id"].duplicated(keep=False)]
    if len(shared):
        marked = shared["wn_pos"].map(_POS_WORDS) + ": " + shared["wn_gloss"]
        texts = texts.copy()
        texts.update(marked.groupby(shared["id"], sort=False).agg("\n".join))
    missing = entities["id"][~entities["id"].isin(first.index)]
    if len(missing):
        warnings.warn(f"{recipe.name}: {len(missing)} of {len(entities)} entity ids have no WordNet 3.0 "
                      f"synset (e.g. {', '.join(map(repr, missing.iloc[:_EXAMPLES]))}); they keep no WordNet "
                      "name or text", DataWarning, stacklevel=4)
    if spec.name:
        entities["name"] = entities["name"].fillna(entities["id"].map(first["wn_name"]))
    if spec.text:
        entities["text"] = entities["text"].fillna(entities["id"].map(texts))
    return entities


# --- images ----------------------------------------------------------------------------------------


def _resolve_images(raw: pd.Series, root: str, separator: str | None) -> pd.Series:
    """Cells -> absolute paths (relative ones joined to ``root``) or URLs, newline-joined; None if empty.

    One string per entity keeps the duplicate check and the merge vectorised; ``_attach_images`` splits it.
    """
    flat = (raw.str.split(separator).explode() if separator else raw).str.strip()
    flat = flat[flat.notna() & (flat != "")]
    keep = flat.str.contains(_URL) | flat.str.startswith("/")
    flat = flat.where(keep, root.rstrip("/") + "/" + flat)
    joined = flat.groupby(level=0).agg("\n".join) if separator else flat
    return _nullable(joined.reindex(raw.index))


def _attach_images(recipe: Recipe, entities: pd.DataFrame, image_root: str | None) -> pd.DataFrame:
    """Collect table images and pattern images, drop the unusable ones (with a warning), set ``images``."""
    refs = entities[["id", "_images", "_where"]].assign(_images=entities["_images"].str.split("\n"))
    refs = refs.explode("_images").dropna(subset=["_images"])
    refs = refs.rename(columns={"_images": "path"})
    found = _pattern_images(recipe, entities["id"], image_root)
    refs = pd.concat([refs, found], ignore_index=True).drop_duplicates(["id", "path"])
    local = refs["path"][~refs["path"].str.contains(_URL)].unique()
    problems = {path: problem for path in local if (problem := _image_problem(path))}
    if problems:
        bad = refs[refs["path"].isin(problems.keys())]
        kinds = pd.Series([problems[p][0] for p in bad["path"]]).value_counts()
        shown = "; ".join(f"{w}: {p} ({': '.join(filter(None, problems[p]))})" for w, p in
                          zip(bad["_where"].iloc[:_EXAMPLES], bad["path"].iloc[:_EXAMPLES], strict=True))
        warnings.warn(f"{recipe.name}: dropped {len(bad)} of {len(refs)} image references "
                      f"({', '.join(f'{n} {k}' for k, n in kinds.items())}); first: {shown}",
                      DataWarning, stacklevel=3)
        refs = refs[~refs["path"].isin(problems.keys())]
    images = refs.groupby("id", sort=False)["path"].agg(list).to_dict()
    out = entities.drop(columns=["_images", "_where"])
    out["images"] = [images.get(i, []) for i in out["id"]]
    return out


def _pattern_images(recipe: Recipe, ids: pd.Series, image_root: str | None) -> pd.DataFrame:
    """Images matched by ``images.pattern`` under the root; none at all when no root is given."""
    empty = pd.DataFrame(columns=["id", "path", "_where"])
    spec = recipe.images
    if spec is None:
        return empty
    root = image_root or (os.environ.get(spec.root_env) if spec.root_env else None)
    if not root:
        return empty
    if not os.path.isdir(root):
        raise SourceMissingError(f"{recipe.name}: image root {root} is not a folder")
    matched: list[tuple[str, str]] = []
    unmatched: list[str] = []
    for entity_id in ids:
        if "/" in entity_id or entity_id.startswith("."):  # an id must not lead out of the root
            unmatched.append(entity_id)
            continue
        paths = sorted(glob.glob(os.path.join(glob.escape(root), spec.pattern.format(id=glob.escape(entity_id)))))
        if not paths:
            unmatched.append(entity_id)
        matched.extend((entity_id, os.path.abspath(p)) for p in paths[:spec.limit])
    if unmatched:
        warnings.warn(f"{recipe.name}: {len(unmatched)} of {len(ids)} entities have no image matching "
                      f"{spec.pattern!r} under {root} (e.g. {', '.join(map(repr, unmatched[:_EXAMPLES]))})",
                      DataWarning, stacklevel=4)
    frame = pd.DataFrame(matched, columns=["id", "path"])
    frame["_where"] = "images.pattern for id " + frame["id"]
    return frame


def _image_problem(path: str) -> tuple[str, str] | None:
    """Why an image file cannot be used, as (kind, detail): ``missing``, ``unreadable`` or ``too large``
    (over the pixel limit: a probable decompression bomb); None if it opens."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.verify()
    except FileNotFoundError:
        return "missing", ""
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        return "too large", too_large(exc)
    except (OSError, ValueError, SyntaxError) as exc:
        return "unreadable", type(exc).__name__
    return None


# --- relations and helpers -------------------------------------------------------------------------


def _relations(recipe: Recipe, used: pd.Series, sources: dict[str, str]) -> pd.DataFrame:
    """Relation names -> relationship types (the recipe's mapping first, derived types otherwise), with
    ``source``: where each type comes from (its mapping key, or the first line using the relation)."""
    names = sorted(used.unique())
    mapping = recipe.relations.mapping
    unused = sorted(set(mapping) - set(names))
    if unused:
        raise ConfigError(f"{recipe.where}: relations.mapping.{unused[0]}: no triple uses relation "
                          f"{unused[0]!r} (the data has {_sample(names, 10)})")
    try:
        types = relation_types(names, mapping)
    except ConfigError as exc:
        raise ConfigError(f"{recipe.where}: {exc}") from exc
    where = [f"{recipe.where}: relations.mapping.{name}" if name in mapping else sources[name] for name in names]
    return pd.DataFrame({"relation": names, "type": [types[n] for n in names], "source": where})


def _nullable(values: pd.Series) -> pd.Series:
    """An object column with None for empty strings and NaN/NA, the missing value consumers expect."""
    values = values.astype(object)
    return values.where(values.notna() & (values != ""), None)

