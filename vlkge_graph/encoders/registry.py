"""Encoder specs (``open_clip:ViT-B-32``, ``minilm``, ...) -> encoder objects, in one table.

Backends are imported only when named, so choosing MiniLM never imports open_clip and vice versa.
"""

from __future__ import annotations

import importlib
from typing import NamedTuple

import torch

from vlkge_graph.core import resolve_device
from vlkge_graph.encoders.base import MODALITIES, ImageEncoder, TextEncoder
from vlkge_graph.encoders.precomputed import PrecomputedFeatures
from vlkge_graph.errors import ConfigError

AnyEncoder = ImageEncoder | TextEncoder | PrecomputedFeatures


class Backend(NamedTuple):
    module: str
    image: str | None
    text: str | None
    takes_arg: bool
    usage: str


BACKENDS: dict[str, Backend] = {
    "open_clip": Backend("openclip", "OpenClipImageEncoder", "OpenClipTextEncoder", True,
                         "open_clip:<model>[@<pretrained tag or checkpoint path>]"),
    "hf-clip": Backend("hf_clip", "HFClipImageEncoder", "HFClipTextEncoder", True,
                       "hf-clip:<hub name or local directory>"),
    "hf-blip": Backend("hf_blip", "HFBlipImageEncoder", "HFBlipTextEncoder", True,
                       "hf-blip:<hub name or local directory>"),
    "efficientnet-lite0": Backend("efficientnet", "EfficientNetLite0Encoder", None, False,
                                  "efficientnet-lite0 (image)"),
    "minilm": Backend("minilm", None, "MiniLMEncoder", False, "minilm (text)"),
}


def parse_spec(spec: str) -> tuple[str, str]:
    """``"kind:argument"`` -> ``(kind, argument)``; argument-less kinds give ``""``."""
    kind, sep, arg = spec.strip().partition(":")
    if kind in BACKENDS and BACKENDS[kind].takes_arg and not arg:
        raise ConfigError(f"encoder spec {spec!r} lacks its argument: {BACKENDS[kind].usage}")
    if kind in BACKENDS and not BACKENDS[kind].takes_arg and sep:
        raise ConfigError(f"encoder spec {spec!r}: {kind} takes no argument")
    return kind, arg


def get_encoder(spec: str, modality: str, device: str | torch.device | None = None) -> AnyEncoder:
    """The encoder of ``modality`` (``image`` or ``text``) named by ``spec``, on ``device`` (auto: GPU if any)."""
    if modality not in MODALITIES:
        raise ConfigError(f"unknown modality {modality!r}; use one of {MODALITIES}")
    kind, arg = parse_spec(spec)
    if kind == "precomputed":
        if not arg:
            raise ConfigError("encoder spec 'precomputed' lacks its file: precomputed:<file>")
        return PrecomputedFeatures(spec, arg, modality)
    backend = BACKENDS.get(kind)
    if backend is None:
        known = [b.usage for b in BACKENDS.values()] + ["precomputed:<.npy/.pt/.pkl file>"]
        raise ConfigError(f"unknown encoder spec {spec!r}; known: {', '.join(known)}")
    class_name = backend.image if modality == "image" else backend.text
    if class_name is None:
        raise ConfigError(f"encoder {kind!r} has no {modality} tower ({backend.usage})")
    cls = getattr(importlib.import_module(f"vlkge_graph.encoders.{backend.module}"), class_name)
    device = resolve_device(device)
    return cls(spec, arg, device) if backend.takes_arg else cls(spec, device)
