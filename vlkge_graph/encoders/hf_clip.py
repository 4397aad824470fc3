"""``hf-clip:<hub name or local directory>``: CLIP through transformers' ``CLIPModel``."""

from __future__ import annotations

import torch
from torch import Tensor

from vlkge_graph.encoders.base import Tokens
from vlkge_graph.encoders.hf_common import HFImageEncoder, HFTextEncoder, load_bundle, pooled


class HFClipImageEncoder(HFImageEncoder):
    """``get_image_features``: the projected image embedding (``projection_dim``)."""

    def __init__(self, spec: str, arg: str, device: torch.device) -> None:
        bundle = load_bundle("hf-clip", "CLIPModel", arg, device)
        super().__init__(spec, bundle, bundle.model.config.projection_dim, device)

    def _forward(self, inputs: Tensor) -> Tensor:
        return pooled(self.module.get_image_features(pixel_values=inputs))


class HFClipTextEncoder(HFTextEncoder):
    """``get_text_features``: the projected text embedding, same space as the images."""

    def __init__(self, spec: str, arg: str, device: torch.device) -> None:
        bundle = load_bundle("hf-clip", "CLIPModel", arg, device)
        super().__init__(spec, bundle, bundle.model.config.projection_dim, device)

    def _forward(self, inputs: Tokens) -> Tensor:
        return pooled(self.module.get_text_features(**inputs))
