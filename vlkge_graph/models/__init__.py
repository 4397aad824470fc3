"""Models: scoring functions (backbones), fusion, the VL-KGE entity representation, and a factory."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from vlkge_graph.models.base import Backbone
from vlkge_graph.models.complex import ComplEx
from vlkge_graph.models.distmult import DistMult
from vlkge_graph.models.kge import KGEModel
from vlkge_graph.models.rotate import RotatE
from vlkge_graph.models.transe import TransE
from vlkge_graph.models.vlkge import EntityRepresentation, Features

BACKBONES: dict[str, type[Backbone]] = {"transe": TransE, "distmult": DistMult, "complex": ComplEx,
                                        "rotate": RotatE}

__all__ = ["BACKBONES", "Backbone", "ComplEx", "DistMult", "EntityRepresentation", "Features", "KGEModel",
           "RotatE", "TransE", "build_model"]


def build_model(backbone: str, num_entities: int, num_relations: int, dim: int, *,
                features: Features | None = None, seen: Tensor | None = None, fusion: str = "average",
                imaginary: str = "table", imag_init: str = "learn", adapter: bool = False,
                init_std: float = 0.1, reciprocal: bool = False, dropout: float = 0.0,
                backbone_options: dict[str, Any] | None = None, structure: bool = True,
                structure_dropout: float = 0.0, projection: str = "linear") -> KGEModel:
    """Assemble a :class:`KGEModel`; ``backbone_options`` go to the backbone (e.g. TransE ``p``, ``gamma``)."""
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; choose one of {sorted(BACKBONES)}")
    cls = BACKBONES[backbone]
    entities = EntityRepresentation(num_entities, dim, features=features, seen=seen, fusion=fusion,
                                    is_complex=cls.is_complex, imaginary=imaginary,  # type: ignore[arg-type]
                                    imag_init=imag_init,  # type: ignore[arg-type]
                                    adapter=adapter, init_std=init_std, structure=structure,
                                    structure_dropout=structure_dropout, projection=projection)
    relations = num_relations * (2 if reciprocal else 1)
    scorer = cls(relations, entities.width, init_std=init_std, **(backbone_options or {}))
    return KGEModel(entities, scorer, reciprocal=reciprocal, dropout=dropout)
