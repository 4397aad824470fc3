"""Encoders: images and texts -> feature vectors, behind one registry of specs, with an on-disk cache.

- ``get_encoder(spec, modality, device)``: ``open_clip:<model>[@weights]``, ``hf-clip:<path>``,
  ``hf-blip:<path>``, ``efficientnet-lite0``, ``minilm``, ``precomputed:<file>``.
- ``encode_features(tables or snapshot dir, image spec, text spec, device)``: the trainer's input,
  ``{"image": (X, present), "text": (X, present)}`` aligned with the entity table; ``save_features`` /
  ``load_features`` keep it in a run directory (the encode stage's product).
- ``finetune_step``: one optimisation step through a trainable encoder.
"""

from vlkge_graph.core import resolve_device
from vlkge_graph.encoders.base import ImageEncoder, TextEncoder
from vlkge_graph.encoders.features import (
    EncodedFeatures,
    ModalityReport,
    encode_features,
    load_features,
    save_features,
)
from vlkge_graph.encoders.finetune import finetune_step
from vlkge_graph.encoders.precomputed import PrecomputedFeatures
from vlkge_graph.encoders.registry import get_encoder

__all__ = [
    "EncodedFeatures",
    "ImageEncoder",
    "ModalityReport",
    "PrecomputedFeatures",
    "TextEncoder",
    "encode_features",
    "finetune_step",
    "get_encoder",
    "load_features",
    "resolve_device",
    "save_features",
]
