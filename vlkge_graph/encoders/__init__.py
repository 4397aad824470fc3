"""Encoders: images and texts -> feature vectors, behind one registry of specs, with an on-disk cache.

- ``get_encoder(spec, modality, device)``: ``open_clip:<model>[@weights]``, ``hf-clip:<path>``,
  ``hf-blip:<path>``, ``efficientnet-lite0``, ``minilm``, ``precomputed:<file>``.
- ``encode_features(tables or snapshot dir, image spec, text spec, device)``: the trainer's input,
  ``{"image": (X, present), "text": (X, present)}`` aligned with the entity table.
- ``finetune_step``: one optimisation step through a trainable encoder.
"""

from vlkge_graph.encoders.base import ImageEncoder, TextEncoder, resolve_device
from vlkge_graph.encoders.features import Features, ModalityReport, encode_features
from vlkge_graph.encoders.finetune import finetune_step
from vlkge_graph.encoders.precomputed import PrecomputedFeatures
from vlkge_graph.encoders.registry import get_encoder

__all__ = [
    "Features",
    "ImageEncoder",
    "ModalityReport",
    "PrecomputedFeatures",
    "TextEncoder",
    "encode_features",
    "finetune_step",
    "get_encoder",
    "resolve_device",
]
