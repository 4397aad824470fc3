"""The standard in-memory table set every reader produces and every consumer (loader, trainer) reads.

One shape for all datasets keeps the loader, the trainer and the snapshot format independent of where
the data came from.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from vlkge_graph.errors import DataError

SPLITS = ("train", "valid", "test")

#: Entity columns with a fixed meaning; any further column is written to Neo4j as a plain property.
ENTITY_COLUMNS = ("id", "label", "name", "text", "images")
TRIPLE_COLUMNS = ("head", "relation", "tail", "split")
#: A table of predicted links (``prediction.predict_links``); publishing adds ``type``, the relationship
#: type an accepted candidate becomes.
CANDIDATE_COLUMNS = ("head", "tail", "relation", "score", "probability", "rank", "direction")
RELATION_COLUMNS = ("relation", "type")


@dataclass
class TableSet:
    """Entities, relations and triples of one dataset.

    - ``entities``: ``id`` (str, unique), ``label`` (str, the entity's type label, e.g. ``Country``),
      ``name`` and ``text`` (str or None), ``images`` (list of paths or URLs, possibly empty), and
      optional extra property columns.
    - ``relations``: ``relation`` (the dataset's name) and ``type`` (the Neo4j relationship type), and
      from the ETL readers ``source``: where the type comes from (``file:line`` or a mapping key).
    - ``triples``: ``head``, ``relation``, ``tail`` (entity ids / relation names) and ``split``
      (one of ``train``, ``valid``, ``test``).
    """

    name: str
    entities: pd.DataFrame
    relations: pd.DataFrame
    triples: pd.DataFrame

    def validate(self) -> TableSet:
        """Check the invariants consumers rely on; raise a DataError naming the first offenders."""
        for frame, columns, what in (
            (self.entities, ENTITY_COLUMNS, "entities"),
            (self.relations, RELATION_COLUMNS, "relations"),
            (self.triples, TRIPLE_COLUMNS, "triples"),
        ):
            missing = [c for c in columns if c not in frame.columns]
            if missing:
                raise DataError(f"{self.name}: {what} table lacks column(s) {missing}")
        dup = self.entities["id"][self.entities["id"].duplicated()]
        if len(dup):
            raise DataError(f"{self.name}: duplicate entity ids {_sample(dup)}")
        for end in ("head", "tail"):  # vectorised: isin, not Python sets over millions of rows
            unknown = self.triples[end][~self.triples[end].isin(self.entities["id"])]
            if len(unknown):
                raise DataError(f"{self.name}: triples name unknown {end} entities {_sample(unknown.unique())}")
        unknown_rel = self.triples["relation"][~self.triples["relation"].isin(self.relations["relation"])].unique()
        if len(unknown_rel):
            raise DataError(f"{self.name}: triples use relations missing from the relation table "
                            f"{_sample(unknown_rel)}")
        bad_split = self.triples["split"][~self.triples["split"].isin(SPLITS)].unique()
        if len(bad_split):
            raise DataError(f"{self.name}: unknown split values {_sample(bad_split)}; use {SPLITS}")
        return self

    def relation_types(self) -> dict[str, str]:
        """Relation name -> relationship type."""
        return dict(zip(self.relations["relation"], self.relations["type"], strict=True))

    def relation_sources(self) -> dict[str, str]:
        """Relation name -> where its type comes from, for messages (the dataset's name when unknown)."""
        sources = self.relations["source"] if "source" in self.relations else [self.name] * len(self.relations)
        return dict(zip(self.relations["relation"], sources, strict=True))

    def counts(self) -> dict[str, int]:
        """Sizes for summaries: entities, relations and triples per split."""
        out = {"entities": len(self.entities), "relations": len(self.relations),
               "triples": len(self.triples)}
        for split in SPLITS:
            out[split] = int((self.triples["split"] == split).sum())
        return out


def _sample(values: object, n: int = 5) -> str:
    items = sorted(map(str, values))  # type: ignore[call-overload]
    more = f" and {len(items) - n} more" if len(items) > n else ""
    return ", ".join(repr(v) for v in items[:n]) + more
