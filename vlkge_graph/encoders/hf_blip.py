"""``hf-blip:<hub name or local directory>``: BLIP image and text features through transformers.

A retrieval checkpoint (``BlipForImageTextRetrieval``, e.g. ``Salesforce/blip-itm-base-coco``) gives
the paper's 256-d contrastive features: ``vision_proj`` / ``text_proj`` of the [CLS] states of the
unimodal encoders. Any other BLIP checkpoint is read as ``BlipModel`` (``get_*_features``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from vlkge_graph.encoders.base import Tokens
from vlkge_graph.encoders.hf_common import Bundle, HFImageEncoder, HFTextEncoder, architectures, load_bundle, pooled

RETRIEVAL = "BlipForImageTextRetrieval"


def _load(arg: str, device: torch.device) -> tuple[Bundle, bool, int]:
    """The bundle, whether it is a retrieval model, and its feature size."""
    retrieval = RETRIEVAL in architectures("hf-blip", arg)
    bundle = load_bundle("hf-blip", RETRIEVAL if retrieval else "BlipModel", arg, device)
    config = bundle.model.config
    return bundle, retrieval, config.image_text_hidden_size if retrieval else config.projection_dim


class HFBlipImageEncoder(HFImageEncoder):
    """BLIP's image features (contrastive projection of the vision [CLS] state)."""

    def __init__(self, spec: str, arg: str, device: torch.device) -> None:
        bundle, self.retrieval, dim = _load(arg, device)
        super().__init__(spec, bundle, dim, device)

    def _forward(self, inputs: Tensor) -> Tensor:
        if self.retrieval:
            states = self.module.vision_model(pixel_values=inputs).last_hidden_state
            return self.module.vision_proj(states[:, 0, :])
        return pooled(self.module.get_image_features(pixel_values=inputs))


class HFBlipTextEncoder(HFTextEncoder):
    """BLIP's unimodal text features (no image cross-attention), same space as the images."""

    def __init__(self, spec: str, arg: str, device: torch.device) -> None:
        bundle, self.retrieval, dim = _load(arg, device)
        super().__init__(spec, bundle, dim, device)

    def _forward(self, inputs: Tokens) -> Tensor:
        if self.retrieval:
            states = self.module.text_encoder(**inputs).last_hidden_state
            return self.module.text_proj(states[:, 0, :])
        return pooled(self.module.get_text_features(**inputs))
