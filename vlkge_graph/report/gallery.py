"""Top-5 predictions for a few test queries, with the entities' images and texts: the paper's Figure 3.

Queries are drawn reproducibly (a fixed seed), one relation after another so each relation shows, and
preferring query entities that have an image. The model ranks every entity (as the evaluation does, the
query entity itself excluded); answers are not filtered, so correct ones are visible and marked: the
test triple's answer, and other answers known true in any split.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from vlkge_graph.content_hash import is_url
from vlkge_graph.encoders.images import ImageLoadError, load_image

if TYPE_CHECKING:
    from vlkge_graph.training.api import TrainedRun

THUMBNAIL_PX = 160
TEXT_CHARS = 220
#: How many references of an entity's image list are tried before it is shown without an image.
IMAGE_TRIES = 2


@dataclass
class Card:
    """One entity as the gallery shows it: name, text excerpt, thumbnail (a data URI, or None)."""

    id: str
    name: str
    text: str | None
    image: str | None
    image_note: str | None = None  # why there is no thumbnail although the entity names images
    score: float | None = None
    mark: str | None = None  # "test answer", "known fact (train)", ...


@dataclass
class GalleryQuery:
    """A test query ``(anchor, relation, ?)`` (or ``(?, relation, anchor)``) and the model's top answers."""

    relation: str
    direction: str
    anchor: Card
    answer: Card
    answer_rank: int  # filtered rank of the test answer among all entities (1 = best)
    candidates: int
    top: list[Card] = field(default_factory=list)


def sample_queries(run: TrainedRun, n: int = 6, seed: int = 0) -> torch.Tensor:
    """Up to ``n`` test triples, round-robin over the relations (most tested first), query entities with an
    image first."""
    test = run.data.splits["test"]
    if not len(test):
        return test
    has_image = torch.as_tensor([bool(len(refs)) for refs in _entities(run)["images"]])
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(test)))
    anchor = test[order, 0 if _direction(run) == "tail" else 2]
    order = order[torch.argsort((~has_image[anchor]).long(), stable=True)]  # with an image first
    relations = torch.bincount(test[:, 1], minlength=run.data.num_relations).argsort(descending=True, stable=True)
    per_relation = [order[test[order, 1] == r].tolist() for r in relations.tolist()]
    picked: list[int] = []
    while len(picked) < min(n, len(test)):
        for rows in per_relation:
            if rows and len(picked) < n:
                picked.append(rows.pop(0))
    return test[torch.as_tensor(picked)]


@torch.no_grad()
def build_gallery(run: TrainedRun, n: int = 6, k: int = 5) -> list[GalleryQuery]:
    """The top-``k`` answers of ``n`` sampled test queries (:func:`sample_queries`)."""
    queries = sample_queries(run, n)
    if not len(queries):
        return []
    direction = _direction(run)
    anchor_col, answer_col = (0, 2) if direction == "tail" else (2, 0)
    data = run.data
    known = {s: data.splits[s] for s in ("train", "valid", "test")}
    model = run.model.eval()
    scores = model.score_queries(queries.to(run.device), direction).float().cpu()
    entities = _entities(run)
    thumbnails = Thumbnails()
    out = []
    for row, triple in zip(scores, queries, strict=True):
        anchor, relation, answer = int(triple[anchor_col]), int(triple[1]), int(triple[answer_col])
        row[anchor] = float("-inf")  # never a self-link
        marks = _known_answers(known, anchor, relation, anchor_col, answer_col)
        true = torch.as_tensor(sorted(set(marks) - {answer}), dtype=torch.long)
        filtered = row.clone()
        filtered[true] = float("-inf")
        rank = int((filtered > row[answer]).sum()) + 1
        top = row.topk(min(k, len(row) - 1))
        cards = []
        for score, entity in zip(top.values.tolist(), top.indices.tolist(), strict=True):
            mark = "test answer" if entity == answer else (f"known fact ({marks[entity]})" if entity in marks else None)
            cards.append(_card(entities, data.entity_ids[entity], thumbnails, score=score, mark=mark))
        out.append(GalleryQuery(relation=data.relation_ids[relation], direction=direction,
                                anchor=_card(entities, data.entity_ids[anchor], thumbnails),
                                answer=_card(entities, data.entity_ids[answer], thumbnails, mark="test answer"),
                                answer_rank=rank, candidates=int(torch.isfinite(filtered).sum()), top=cards))
    return out


def _direction(run: TrainedRun) -> str:
    directions = run.recipe.evaluation.directions
    return "tail" if "tail" in directions else directions[0]


def _entities(run: TrainedRun) -> pd.DataFrame:
    """The entity table indexed by id, in the model's entity order."""
    return run.tables.entities.set_index("id").loc[list(run.data.entity_ids)]


def _known_answers(known: dict[str, torch.Tensor], anchor: int, relation: int, anchor_col: int,
                   answer_col: int) -> dict[int, str]:
    """Answers of (anchor, relation) true in some split -> the first split naming it."""
    out: dict[int, str] = {}
    for split, triples in known.items():
        hit = (triples[:, anchor_col] == anchor) & (triples[:, 1] == relation)
        for entity in triples[hit, answer_col].tolist():
            out.setdefault(int(entity), split)
    return out


class Thumbnails:
    """Entity images as thumbnails, each decoded once per report; after one image URL fails, further URLs are
    not tried (an unreachable host would cost its timeout for every card)."""

    def __init__(self, size: int = THUMBNAIL_PX) -> None:
        self.size = size
        self.done: dict[str, tuple[str | None, str | None]] = {}
        self.url_failed: str | None = None

    def __call__(self, refs: list[str]) -> tuple[str | None, str | None]:
        """A JPEG data URI of the first readable image in ``refs`` (at most ``size`` pixels a side), or None and
        why not (None, None: the entity has no image)."""
        why = None
        for ref in refs[:IMAGE_TRIES]:
            if ref not in self.done:
                self.done[ref] = self._load(ref)
            uri, why = self.done[ref]
            if uri is not None:
                return uri, None
        return None, why

    def _load(self, ref: str) -> tuple[str | None, str | None]:
        if is_url(ref) and self.url_failed:
            return None, f"image URL not fetched (an earlier one failed: {self.url_failed}): {ref}"
        try:
            image = load_image(ref, size=self.size)
        except ImageLoadError as exc:
            if is_url(ref):
                self.url_failed = str(exc)
            return None, f"image not readable ({exc}): {ref}"
        image.thumbnail((self.size, self.size))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=88)
        return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"), None


def _card(entities: pd.DataFrame, entity_id: str, thumbnails: Thumbnails, score: float | None = None,
          mark: str | None = None) -> Card:
    row = entities.loc[entity_id]
    name = row["name"] if isinstance(row["name"], str) and row["name"] else entity_id
    text = row["text"] if isinstance(row["text"], str) else None
    if text and len(text) > TEXT_CHARS:
        text = text[:TEXT_CHARS].rsplit(" ", 1)[0] + " ..."
    image, note = thumbnails(list(row["images"]))
    return Card(id=entity_id, name=name, text=text, image=image, image_note=note, score=score, mark=mark)
