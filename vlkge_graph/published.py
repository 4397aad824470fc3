"""A trained run's parameters in the form the plugin scores: the hand-off from train to publish.

The train stage writes them once (``published.json`` + ``published.npz``); publish reads them and never
rebuilds a model, so publishing needs neither the encoders nor torch. The backbone decides what its
parameters are (:meth:`vlkge_graph.models.base.Backbone.published_params`); docs/graph-model.md says
where each lands in the graph.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vlkge_graph.errors import DataError

META_FILE = "published.json"
ARRAYS_FILE = "published.npz"


@dataclass
class PublishedParams:
    """Entity vectors and relation parameters, aligned with ``entity_ids`` / ``relation_ids``."""

    backbone: str
    dim: int
    reciprocal: bool
    entity_ids: list[str]
    relation_ids: list[str]
    entity_vectors: np.ndarray  # [E, entity width] float32
    relation_vectors: np.ndarray  # [R, relation width]: each relation's parameter as the plugin reads it
    inverse_vectors: np.ndarray | None = None  # [R, relation width]: reciprocal runs' head-query relations
    #: Run-level backbone options the plugin reads from the run node (e.g. TransE ``gamma``, ``p``, ``normalize``).
    options: dict[str, Any] = field(default_factory=dict)
    #: The run's probability calibration in its JSON form (``Calibration.to_dict``, evaluation/calibration.py);
    #: None for an uncalibrated run, whose probabilities are sigmoid(score).
    calibration: dict[str, Any] | None = None

    def relation_calibration(self, relation: str) -> list[float] | None:
        """``[tail_a, tail_b, head_a, head_b]`` of ``relation`` (its relation node's ``calibration``), or None."""
        if self.calibration is None:
            return None
        fits = self.calibration["relations"][relation]
        return [float(fits[d][k]) for d in ("tail", "head") for k in ("a", "b")]

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {"entity_vectors": self.entity_vectors, "relation_vectors": self.relation_vectors}
        if self.inverse_vectors is not None:
            arrays["inverse_vectors"] = self.inverse_vectors
        tmp = directory / f".{ARRAYS_FILE}.tmp"
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
        tmp.replace(directory / ARRAYS_FILE)
        meta = {"backbone": self.backbone, "dim": self.dim, "reciprocal": self.reciprocal,
                "entity_ids": self.entity_ids, "relation_ids": self.relation_ids, "options": self.options,
                "calibration": self.calibration}
        (directory / META_FILE).write_text(json.dumps(meta), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> PublishedParams:
        """The parameters a train stage saved; those saved before calibration existed load uncalibrated."""
        try:
            meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
            with np.load(directory / ARRAYS_FILE, allow_pickle=False) as arrays:
                inverse = arrays["inverse_vectors"] if "inverse_vectors" in arrays.files else None
                return cls(entity_vectors=arrays["entity_vectors"], relation_vectors=arrays["relation_vectors"],
                           inverse_vectors=inverse, **meta)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{directory}: no readable published parameters ({META_FILE}, {ARRAYS_FILE}); "
                            f"run the train stage again: {exc}") from exc


def load_calibration(directory: Path) -> dict[str, Any] | None:
    """The calibration saved with a run's published parameters in ``directory``; None when there is none."""
    try:
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
    except OSError:
        return None
    except ValueError as exc:
        raise DataError(f"{directory / META_FILE} is not valid JSON: {exc}") from exc
    return meta.get("calibration")
