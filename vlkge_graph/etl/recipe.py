"""ETL recipes: the YAML files in ``etl/`` that describe how a dataset's files become a TableSet.

A recipe only describes; ``readers.read_dataset`` does the reading. Everything that can be checked
without the data (keys, types, identifiers, placeholders, split ratios) is checked here, so a typo
fails at once with the file and the dotted key, not halfway through reading a large dataset.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal, NoReturn

import yaml

from vlkge_graph.errors import ConfigError, SourceMissingError
from vlkge_graph.etl.sources import PROJECT_ROOT, pykeen_dataset_dir, shared_dir
from vlkge_graph.etl.tables import ENTITY_COLUMNS
from vlkge_graph.identifiers import validate_identifier
from vlkge_graph.strict import build, read_yaml

RECIPE_DIR = PROJECT_ROOT / "etl"

Split = Literal["train", "valid", "test"]
Format = Literal["csv", "tsv"]
PropertyType = Literal["str", "int", "float", "bool"]
#: A column by header name, or by 0-based position (the only way for files without a header).
Column = str | int

_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class GraphSpec:
    """Where the dataset lives in Neo4j: ``label`` is put on every node and scopes the MERGE key."""

    label: str
    key: str = "id"


@dataclass(frozen=True)
class TripleColumns:
    head: Column = "head"
    relation: Column = "relation"
    tail: Column = "tail"
    split: Column | None = None


@dataclass(frozen=True)
class TriplesFile:
    """One delimited file of facts; its split comes from a column, a fixed value, or ``Recipe.split``."""

    path: str
    format: Format | None = None  # default: from the extension (.csv -> csv, .tsv/.txt -> tsv)
    header: bool = True
    columns: TripleColumns = field(default_factory=TripleColumns)
    split: Split | None = None
    split_values: dict[str, Split] = field(default_factory=dict)  # e.g. {val: valid}


@dataclass(frozen=True)
class EntityColumns:
    id: Column = "id"
    label: Column | None = None
    name: Column | None = None
    text: Column | None = None
    image: Column | None = None  # a path (relative to image_root), an absolute path or a URL


@dataclass(frozen=True)
class EntitiesFile:
    """One delimited table of entities with their modalities and extra properties."""

    path: str
    format: Format | None = None
    header: bool = True
    columns: EntityColumns = field(default_factory=EntityColumns)
    label: str | None = None  # fixed label for every row (or columns.label, or entity_defaults.label)
    image_root: str | None = None  # default: the folder of this file
    image_separator: str | None = None  # when one cell lists several images
    #: Extra columns written as node properties: a list (kept as text) or {column: type}.
    properties: list[str] | dict[str, PropertyType] = field(default_factory=list)


@dataclass(frozen=True)
class EntityDefaults:
    """What entities known only from triples get (``label`` also goes to table rows without one)."""

    label: str = "Entity"
    name_from_id: bool = False  # "acquired_abnormality" -> name "acquired abnormality"
    text_from_name: bool = False  # that name doubles as the text modality (needs name_from_id)
    #: Ids in the triples that no entities file lists (a typo?), when the recipe has entities files: ``warn``
    #: creates them with these defaults and warns with file and line; ``create`` only logs their number
    #: (a format where some entities live only in the triples, as WikiArt-MKG's attributes); ``refuse``
    #: refuses the dataset.
    from_triples: Literal["warn", "create", "refuse"] = "warn"


@dataclass(frozen=True)
class WordNetSpec:
    """Fill names (first lemma) and texts (gloss) from WordNet 3.0 for ids that are synset offsets."""

    name: bool = True
    text: bool = True
    #: Start each gloss with its synset's readable name (``dog: a member of the genus Canis ...``), as
    #: BLP's entity descriptions do; false (default) keeps the gloss alone, the paper's WN18RR texts.
    name_in_text: bool = False


@dataclass(frozen=True)
class ImagePattern:
    """Images found by globbing ``pattern`` (with ``{id}``) under a root given by the user."""

    pattern: str
    root_env: str | None = None  # environment variable holding the root; read_dataset(image_root=) wins
    limit: int | None = None  # keep at most this many images per entity (sorted by path)


@dataclass(frozen=True)
class RelationsSpec:
    #: Dataset relation name -> Neo4j relationship type; unmapped names get relation_type_for(name).
    mapping: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SplitSpec:
    """A seeded random split for triples that come without one."""

    ratios: dict[Split, float] = field(default_factory=lambda: {"train": 0.8, "valid": 0.1, "test": 0.1})
    seed: int = 42
    #: Move valid/test triples whose entities never occur in train into train (transductive models
    #: cannot score entities they never trained on).
    train_covers_entities: bool = True


@dataclass(frozen=True)
class RecipeSpec:
    """The keys of a recipe file."""

    name: str
    graph: GraphSpec
    triples: list[TriplesFile]
    description: str = ""
    source_hint: str = ""  # how to obtain missing source files; shown in SourceMissingError
    entities: list[EntitiesFile] = field(default_factory=list)
    entity_defaults: EntityDefaults = field(default_factory=EntityDefaults)
    wordnet: WordNetSpec | None = None
    images: ImagePattern | None = None
    relations: RelationsSpec = field(default_factory=RelationsSpec)
    split: SplitSpec | None = None
    #: Images with more pixels are dropped as too large (probable decompression bombs); default: the
    #: configuration's max_image_pixels, else PIL's limit (about 89 megapixels).
    max_image_pixels: int | None = None


@dataclass(frozen=True)
class Recipe(RecipeSpec):
    """A recipe and the file it came from, against which its relative paths resolve."""

    file: Path | None = None

    @property
    def where(self) -> str:
        """How errors name this recipe: its file, or its name when built in code."""
        return str(self.file) if self.file else f"recipe {self.name!r}"

    def resolve(self, raw: str) -> Path:
        """A recipe path with placeholders expanded; relative paths are relative to the recipe file.

        ``${shared}`` is the shared material folder, ``${pykeen}/<name>`` a dataset folder inside the
        pykeen wheel, ``${env:NAME}`` an environment variable (unset: SourceMissingError).
        """

        def expand(match: re.Match[str]) -> str:
            token = match.group(1)
            if token == "shared":
                return str(shared_dir())
            if token.startswith("env:"):
                value = os.environ.get(token[4:])
                if not value:
                    raise SourceMissingError(f"{self.where}: ${{{token}}} is used in {raw!r} but the "
                                             f"environment variable {token[4:]} is not set. {self.source_hint}")
                return value
            raise ConfigError(f"{self.where}: unknown placeholder ${{{token}}} in {raw!r}")

        if raw.startswith("${pykeen}/"):
            name, _, rest = raw[len("${pykeen}/"):].partition("/")
            return pykeen_dataset_dir(name) / rest
        path = Path(_PLACEHOLDER.sub(expand, raw)).expanduser()
        if not path.is_absolute():
            base = self.file.parent if self.file else Path.cwd()
            path = base / path
        return path


def recipe_names() -> list[str]:
    """The recipes shipped in ``etl/`` by bare name."""
    return sorted(p.stem for p in RECIPE_DIR.glob("*.yaml"))


def find_recipe(name_or_path: str | Path) -> Path:
    """A recipe file from a path, or from a bare name in ``etl/`` (``countries-mm``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    if isinstance(name_or_path, str) and "/" not in name_or_path and path.suffix not in (".yaml", ".yml"):
        candidate = RECIPE_DIR / f"{name_or_path}.yaml"
        if candidate.is_file():
            return candidate
    raise ConfigError(f"no recipe {str(name_or_path)!r}: give a YAML path or one of {recipe_names()}")


def load_recipe(name_or_path: str | Path) -> Recipe:
    """Read and check a recipe; every mistake is a ConfigError naming the file and the key."""
    path = find_recipe(name_or_path)
    spec = build(RecipeSpec, read_yaml(path), f"{path}:")
    recipe = Recipe(**vars(spec), file=path.resolve())
    check_recipe(recipe, str(path))
    return recipe


def save_recipe(recipe: Recipe, path: Path) -> Path:
    """Write ``recipe`` as a YAML file that ``load_recipe`` reads back (relative paths stay relative to
    the recipe's own file, so give absolute ones when ``path`` is elsewhere)."""
    data = {key: value for key, value in asdict(recipe).items() if key != "file"}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def check_recipe(recipe: Recipe, where: str) -> None:
    """Consistency checks that types alone cannot express."""
    if not recipe.name.strip():
        _fail(where, "name", "must not be empty")
    _identifier(recipe.graph.label, where, "graph.label", "label")
    _identifier(recipe.graph.key, where, "graph.key", "property name")
    _identifier(recipe.entity_defaults.label, where, "entity_defaults.label", "label")
    if recipe.entity_defaults.text_from_name and not recipe.entity_defaults.name_from_id:
        _fail(where, "entity_defaults.text_from_name", "needs name_from_id: true")
    if recipe.entity_defaults.from_triples == "refuse" and not recipe.entities:
        _fail(where, "entity_defaults.from_triples", "refuse needs an entities file (every entity comes from the "
                                                     "triples without one)")
    if recipe.max_image_pixels is not None and recipe.max_image_pixels < 1:
        _fail(where, "max_image_pixels", "must be a positive number of pixels")
    if not recipe.triples:
        _fail(where, "triples", "list at least one triples file")
    unsplit = False
    for i, spec in enumerate(recipe.triples):
        key = f"triples[{i}]"
        _check_file(spec.path, spec.format, spec.header, vars(spec.columns), where, key)
        if spec.columns.split is not None and spec.split is not None:
            _fail(where, f"{key}.split", "give either a fixed split or columns.split, not both")
        if spec.split_values and spec.columns.split is None:
            _fail(where, f"{key}.split_values", "only applies to a split column (columns.split)")
        unsplit = unsplit or (spec.split is None and spec.columns.split is None)
    if unsplit and recipe.split is None:
        _fail(where, "split", "some triples files have neither a split column nor a fixed split: add a "
                              "split: block (seeded ratios) or a split per file")
    if recipe.split is not None:
        if not unsplit:
            _fail(where, "split", "every triples file already has a split; remove this block")
        ratios = recipe.split.ratios
        if ratios.get("train", 0) <= 0 or any(r < 0 for r in ratios.values()) or \
                not math.isclose(sum(ratios.values()), 1.0, abs_tol=1e-6):
            _fail(where, "split.ratios", f"need a positive train ratio and ratios summing to 1, got {ratios}")
    for i, ent in enumerate(recipe.entities):
        _check_entities(ent, recipe.graph.key, where, f"entities[{i}]")
    if recipe.images is not None:
        _check_images(recipe.images, where)
    for name, rel_type in recipe.relations.mapping.items():
        _identifier(rel_type, where, f"relations.mapping.{name}", "relationship type")


def _check_entities(ent: EntitiesFile, graph_key: str, where: str, key: str) -> None:
    _check_file(ent.path, ent.format, ent.header, vars(ent.columns), where, key)
    if ent.label is not None:
        if ent.columns.label is not None:
            _fail(where, f"{key}.label", "give either a fixed label or columns.label, not both")
        _identifier(ent.label, where, f"{key}.label", "label")
    if ent.columns.image is None and (ent.image_root or ent.image_separator):
        _fail(where, f"{key}.columns.image", "image_root / image_separator need an image column")
    if ent.image_root:
        _check_placeholders(ent.image_root, where, f"{key}.image_root")
    for prop in ent.properties:
        _identifier(prop, where, f"{key}.properties.{prop}", "property name")
        if prop in ENTITY_COLUMNS or prop == graph_key:
            _fail(where, f"{key}.properties.{prop}", "is reserved (map that column through columns:)")


def _check_images(images: ImagePattern, where: str) -> None:
    try:
        images.pattern.format(id="x")
    except (KeyError, IndexError, ValueError):
        _fail(where, "images.pattern", f"only {{id}} may be substituted, got {images.pattern!r}")
    if "{id}" not in images.pattern:
        _fail(where, "images.pattern", f"must contain {{id}}, got {images.pattern!r}")
    if images.root_env is not None and not _ENV_NAME.match(images.root_env):
        _fail(where, "images.root_env", f"not an environment variable name: {images.root_env!r}")
    if images.limit is not None and images.limit < 1:
        _fail(where, "images.limit", "must be at least 1")


def _check_file(path: str, fmt: str | None, header: bool, columns: dict[str, object], where: str,
                key: str) -> None:
    """Checks shared by triples and entity files: placeholders, format, column references."""
    _check_placeholders(path, where, f"{key}.path")
    if fmt is None and _format_from_suffix(path) is None:
        _fail(where, f"{key}.format", f"cannot tell csv or tsv from {path!r}; set format")
    for name, column in columns.items():
        if isinstance(column, int) and column < 0:
            _fail(where, f"{key}.columns.{name}", "column positions start at 0")
        if isinstance(column, str) and not header:
            _fail(where, f"{key}.columns.{name}", f"{column!r} is a header name but header is false; "
                                                  "use 0-based column positions")


def _check_placeholders(raw: str, where: str, key: str) -> None:
    for token in _PLACEHOLDER.findall(raw):
        if token == "pykeen":
            if not raw.startswith("${pykeen}/") or raw.count("/") < 2:
                _fail(where, key, f"use ${{pykeen}}/<dataset>/<file>, got {raw!r}")
        elif token != "shared" and not (token.startswith("env:") and _ENV_NAME.match(token[4:])):
            _fail(where, key, f"unknown placeholder ${{{token}}}; use ${{shared}}, ${{pykeen}} or ${{env:NAME}}")


def _identifier(value: str, where: str, key: str, what: str) -> None:
    try:
        validate_identifier(value, what)
    except ConfigError as exc:
        _fail(where, key, str(exc))


def _fail(where: str, key: str, message: str) -> NoReturn:
    raise ConfigError(f"{where}: {key}: {message}")


def file_format(path: str, fmt: str | None) -> str:
    """The declared format, or the one implied by the file name (``.gz`` is looked through)."""
    found = fmt or _format_from_suffix(path)
    assert found is not None  # load_recipe refused recipes where neither is known
    return found


def _format_from_suffix(path: str) -> str | None:
    name = path.removesuffix(".gz").lower()
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".tsv", ".txt")):
        return "tsv"
    return None

