"""Training recipes: a YAML file -> typed, validated dataclasses.

Parsing goes through :func:`vlkge_graph.strict.build`, so an unknown key or a wrong type is a
ConfigError naming the file and the dotted key. Cross-field rules (which loss fits which training
mode) are checked here too, before any data is loaded.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from vlkge_graph.errors import ConfigError
from vlkge_graph.models import BACKBONES
from vlkge_graph.strict import build, read_yaml

Direction = Literal["head", "tail"]


@dataclass(frozen=True)
class ModelSpec:
    """The model: backbone, size, fusion and the complex backbones' imaginary parts."""

    backbone: str = "complex"  # a key of vlkge_graph.models.BACKBONES
    dim: int = 128
    fusion: Literal["average", "concat", "weighted"] = "average"
    #: Complex backbones' imaginary parts (``models/vlkge.py``): ``table`` (free vectors), ``gated``
    #: (computed from the real part where none was trained), ``projected`` (fused from the features too).
    imaginary: Literal["table", "gated", "projected"] = "table"
    imag_init: Literal["learn", "reference_zero"] = "learn"
    adapter: bool = False
    init_std: float = 0.1
    reciprocal: bool = False
    dropout: float = 0.0
    #: Use the structural vectors of seen entities (false: every entity is embedded from its features
    #: alone, as an unseen one is; the fully inductive model; needs ``features``).
    structure: bool = True
    #: While training, each looked-up entity drops its structural vector with this probability and is
    #: embedded from its features alone, so the path that embeds new entities is trained too (needs
    #: ``features``). 0 (default) reproduces the paper's models.
    structure_dropout: float = 0.0
    #: Map of frozen features to ``dim``: ``linear`` (the paper's: bias-free, identity when the sizes
    #: match) or ``mlp`` (LayerNorm, two layers with GELU; for the features-only path).
    projection: Literal["linear", "mlp"] = "linear"
    #: Backbone keyword options, e.g. TransE/RotatE ``p`` and ``gamma``, TransE ``normalize``.
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingSpec:
    """How to train: examples, loss, negatives, optimiser, schedule, early stopping."""

    #: ``negatives``: each positive against sampled corruptions; ``1vsall``: each (query, answer)
    #: against every entity; ``kvsall``: each distinct query against every entity, all answers true.
    mode: str = "negatives"  # a key of training.objective.MODES
    loss: str = "logistic"  # one of the losses MODES allows for the mode (training/losses.py tables)
    #: ``mean`` (the reference code) or ``sum`` (the paper's formula) over scored triples.
    reduction: Literal["mean", "sum"] = "mean"
    margin: float = 1.0
    adversarial_temperature: float = 1.0
    label_smoothing: float = 0.0
    num_negatives: int = 1
    corruption: Literal["uniform", "bernoulli"] = "uniform"
    #: ``positive``: one head/tail coin per positive for all its negatives, as PyKEEN's uniform sampler
    #: does (it corrupts the heads of half a batch's positives and the tails of the other half); each
    #: positive is then scored with one query only. ``negative``: a coin per negative (the paper's
    #: recipes), which needs both queries per positive: slower for distance backbones, same quality in
    #: our Kinships check (docs/benchmarks.md).
    side_per: Literal["negative", "positive"] = "positive"
    #: Which end of a positive may be corrupted (negatives) or queried (1vsall / kvsall).
    sides: list[Direction] = field(default_factory=lambda: ["head", "tail"])
    #: Draw corrupted ends from the relation's pool of training answers (WikiArt protocol).
    candidate_pools: bool = False
    filter_negatives: bool = True
    #: 0 (or 1): every positive draws its own negatives. ``C > 1``: each chunk of ``C`` positives of a batch
    #: shares one pool of ``num_negatives`` uniform replacement entities (PyTorch-BigGraph); every
    #: positive still gets ``num_negatives`` negatives with its own head/tail choices (``side_per``), and
    #: known positives among them are masked per positive (not redrawn). Several times faster (a chunk
    #: gathers and scores ``num_negatives`` entity vectors instead of ``C x num_negatives``), at the
    #: price of negatives correlated within a chunk. Not with ``candidate_pools``.
    negative_sharing: int = 0
    optimizer: Literal["adagrad", "adam"] = "adagrad"
    lr: float = 0.1
    #: ``constant``, or ``cosine``: decayed per step from ``lr`` to 0 over ``epochs`` (Loshchilov &
    #: Hutter's annealing without restarts).
    lr_schedule: Literal["constant", "cosine"] = "constant"
    weight_decay: float = 0.0
    regularizer: Literal["none", "n3", "l2"] = "none"
    regularization_weight: float = 0.0
    batch_size: int = 512
    epochs: int = 100
    seed: int = 42
    amp: bool = True
    eval_every: int = 1
    #: Stop after this many epochs without a better validation MRR (0: never stop early).
    patience: int = 0
    #: Weight of the logistic term that pushes down rejected candidates (hard negatives), when any.
    hard_negative_weight: float = 1.0
    #: Entities that 1vsall / kvsall score each query against: ``all``, or ``seen`` (only those of the
    #: training triples: the inductive protocol, where valid / test entities are unknown while training).
    candidates: Literal["all", "seen"] = "all"
    #: 1vsall only. 0: every candidate. ``K``: each batch scores its queries against the batch's answers
    #: and ``K`` entities drawn uniformly from the candidates (sampled softmax): far cheaper per step when
    #: entity vectors are computed from features, at the price of fewer negatives.
    candidate_sample: int = 0


@dataclass(frozen=True)
class EvaluationSpec:
    """The link-prediction protocol for validation and test."""

    #: ``inductive``: BLP's protocol for splits whose valid / test entities are unseen in training
    #: (Daza et al. 2021): every entity of every split is a candidate, filtered by the triples of all
    #: splits per direction (strict), head and tail queries, MRR and Hits@1/3/10, reported also by how
    #: many ends of the triple are unseen (0 / 1 / 2). It fixes ``filter``, ``directions`` and
    #: ``candidate_pools``; a recipe that sets them otherwise is an error. ``custom``: as set below.
    protocol: Literal["custom", "inductive"] = "custom"
    filter: Literal["strict", "mixed", "none"] = "strict"
    ties: Literal["realistic", "optimistic", "pessimistic"] = "realistic"
    directions: list[Direction] = field(default_factory=lambda: ["head", "tail"])
    candidate_pools: bool = False
    block_size: int | None = None


@dataclass(frozen=True)
class Recipe:
    """A whole training recipe. ``dataset`` is an ETL recipe name / path or a snapshot directory (may be
    left out when the command gives one); ``features`` maps a modality (``image``, ``text``, or ``name``:
    the entity's name alone, through a text encoder) to an encoder id (empty: structure only)."""

    dataset: str = ""
    name: str = ""
    features: dict[Literal["image", "text", "name"], str] = field(default_factory=dict)
    model: ModelSpec = field(default_factory=ModelSpec)
    training: TrainingSpec = field(default_factory=TrainingSpec)
    evaluation: EvaluationSpec = field(default_factory=EvaluationSpec)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_recipe(data: dict[str, Any], where: str = "recipe") -> Recipe:
    """Validate a recipe mapping; errors name ``where`` and the key."""
    from vlkge_graph.training.objective import MODES  # the objective imports this module

    recipe = build(Recipe, data, f"{where}:")
    train = recipe.training
    _one_of(where, "model.backbone", recipe.model.backbone, BACKBONES)
    _one_of(where, "training.mode", train.mode, MODES)
    if train.loss not in MODES[train.mode]:
        fitting = [mode for mode, allowed in MODES.items() if train.loss in allowed]
        raise ConfigError(f"{where}: training.loss {train.loss!r} does not fit training.mode {train.mode!r}; "
                          f"use one of {list(MODES[train.mode])}"
                          + (f", or training.mode {' or '.join(fitting)}" if fitting else
                             f" (known losses: {sorted({loss for losses in MODES.values() for loss in losses})})"))
    positive = {"model.dim": recipe.model.dim, "training.batch_size": train.batch_size,
                "training.epochs": train.epochs, "training.num_negatives": train.num_negatives,
                "training.eval_every": train.eval_every}
    for key, value in positive.items():
        if value < 1:
            raise ConfigError(f"{where}: {key} must be at least 1, got {value}")
    if train.negative_sharing < 0:
        raise ConfigError(f"{where}: training.negative_sharing must be 0 (independent) or a chunk size, "
                          f"got {train.negative_sharing}")
    if train.negative_sharing > 1 and (train.mode != "negatives" or train.candidate_pools):
        raise ConfigError(f"{where}: training.negative_sharing needs training.mode negatives without "
                          "training.candidate_pools (shared negatives are drawn from all entities)")
    if not train.sides or not recipe.evaluation.directions:
        raise ConfigError(f"{where}: training.sides and evaluation.directions must not be empty")
    if not 0.0 <= recipe.model.dropout < 1.0:
        raise ConfigError(f"{where}: model.dropout must be in [0, 1), got {recipe.model.dropout}")
    ev = recipe.evaluation
    if ev.protocol == "inductive" and (ev.filter != "strict" or sorted(ev.directions) != ["head", "tail"]
                                       or ev.candidate_pools):
        raise ConfigError(f"{where}: evaluation.protocol inductive ranks head and tail queries against every "
                          "entity with the strict filter; drop evaluation.filter / directions / candidate_pools")
    if not 0.0 <= recipe.model.structure_dropout <= 1.0:
        raise ConfigError(f"{where}: model.structure_dropout must be in [0, 1], got {recipe.model.structure_dropout}")
    if (not recipe.model.structure or recipe.model.structure_dropout > 0) and not recipe.features:
        raise ConfigError(f"{where}: model.structure false and model.structure_dropout need features "
                          "(entities are embedded from them)")
    if recipe.model.imaginary == "projected" and not recipe.features:
        raise ConfigError(f"{where}: model.imaginary projected needs features (the imaginary parts are projected "
                          "from them)")
    if train.candidate_sample < 0 or (train.candidate_sample and train.mode != "1vsall"):
        raise ConfigError(f"{where}: training.candidate_sample must be 0, or a count with training.mode 1vsall; "
                          f"got {train.candidate_sample} with {train.mode}")
    if train.candidates == "seen" and train.mode == "negatives":
        raise ConfigError(f"{where}: training.candidates applies to training.mode 1vsall / kvsall")
    if train.lr <= 0:
        raise ConfigError(f"{where}: training.lr must be positive, got {train.lr}")
    allowed = backbone_options(recipe.model.backbone)
    unknown = sorted(set(recipe.model.options) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: model.options {unknown} do not apply to {recipe.model.backbone}; "
                          f"allowed: {allowed}")
    return recipe


def _one_of(where: str, key: str, value: str, table: Mapping[str, object]) -> None:
    if value not in table:
        raise ConfigError(f"{where}: {key}: {value!r} is not one of {list(table)}")


def backbone_options(backbone: str) -> list[str]:
    """Keyword options a backbone takes beyond the sizes the model sets (e.g. TransE ``p``, ``gamma``)."""
    params = inspect.signature(BACKBONES[backbone].__init__).parameters
    return sorted(set(params) - {"self", "num_relations", "dim", "relation_width", "init_std"})


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe file; ``name`` defaults to the file's stem."""
    path = Path(path)
    recipe = parse_recipe(read_yaml(path), str(path))
    if not recipe.name:
        recipe = replace(recipe, name=path.stem)
    return recipe
