"""The graph filter: which part of a Neo4j graph a sync exports, and how nodes map to modalities.

The ``sync.graph`` section of the configuration: it lives beside config.py, apart from the exporter, so the
configuration can be read without a Neo4j driver.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vlkge_graph.errors import ConfigError
from vlkge_graph.etl.tables import SPLITS
from vlkge_graph.identifiers import project_owned, validate_identifier
from vlkge_graph.namespace import PROJECT_PREFIX


@dataclass(frozen=True)
class Modalities:
    """Which node properties hold texts and images (paths or URLs) for a label."""

    text: list[str] = field(default_factory=lambda: ["text"])
    image: list[str] = field(default_factory=lambda: ["images"])


@dataclass(frozen=True)
class GraphFilter:
    """What to export: entity labels, fact types, an optional predicate, modality mapping, splits."""

    entity_labels: list[str] = field(default_factory=list)
    key: str = "id"
    name_property: str = "name"
    relationship_types: list[str] = field(default_factory=list)  # empty: all types between entities
    #: Optional Cypher predicate over ``h``, ``r``, ``t`` (the user's own trusted configuration),
    #: e.g. ``coalesce(r.holdout, false) = false``.
    where: str | None = None
    modalities: Modalities = field(default_factory=Modalities)
    modalities_by_label: dict[str, Modalities] = field(default_factory=dict)
    split_property: str = "split"
    split_ratios: dict[str, float] = field(default_factory=lambda: {"train": 0.8, "valid": 0.1, "test": 0.1})
    seed: int = 42

    def __post_init__(self) -> None:
        if not self.entity_labels:
            raise ConfigError("graph.entity_labels: name at least one label whose nodes are entities")
        for label in self.entity_labels:
            validate_identifier(label, "entity label")
        for t in self.relationship_types:
            validate_identifier(t, "relationship type")
            if project_owned(t):
                raise ConfigError(f"graph.relationship_types: {t!r} is in the project's own namespace "
                                  f"({PROJECT_PREFIX}..., in any case): its relationships are predicted links or "
                                  "bookkeeping, never facts to train on; name your facts' types")
        for prop in (self.key, self.name_property, self.split_property):
            validate_identifier(prop, "property name")
        for mods in [self.modalities, *self.modalities_by_label.values()]:
            for prop in [*mods.text, *mods.image]:
                validate_identifier(prop, "modality property")
        if set(self.split_ratios) != set(SPLITS) or abs(sum(self.split_ratios.values()) - 1) > 1e-6:
            raise ConfigError(f"graph.split_ratios must give {list(SPLITS)} summing to 1, got {self.split_ratios}")
