"""``open_clip:<model>[@<pretrained tag or checkpoint path>]``: CLIP image and text towers via open_clip.

``<model>`` is a built-in architecture (``ViT-B-32``), a path to a model-config JSON, or open_clip's own
``local-dir:`` / ``hf-hub:`` schema. Without ``@...`` the model is randomly initialised, with a fixed
seed so runs agree: enough to exercise the whole path offline, but the features mean nothing, so a
warning says so. Both towers share one loaded model.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
from PIL import Image
from torch import Tensor, nn

from vlkge_graph.encoders.base import ImageEncoder, TextEncoder, Tokens, prepare_module
from vlkge_graph.errors import ConfigError

log = logging.getLogger(__name__)


class _Loaded(NamedTuple):
    model: nn.Module
    preprocess: Any
    tokenizer: Any
    fingerprint: str
    dim: int


def parse(arg: str) -> tuple[str, str | None]:
    """``ViT-B-32@openai`` -> ``("ViT-B-32", "openai")``; no ``@`` -> no pretrained weights."""
    model, _, pretrained = arg.partition("@")
    if not model:
        raise ConfigError(f"open_clip spec needs a model name: open_clip:<model>[@<weights>], got {arg!r}")
    return model, pretrained or None


@functools.lru_cache(maxsize=2)
def _load(model_name: str, pretrained: str | None, device: torch.device) -> _Loaded:
    import open_clip

    if model_name.endswith(".json"):
        if not Path(model_name).is_file():
            raise ConfigError(f"open_clip model config {model_name} does not exist")
        open_clip.add_model_config(model_name)
        model_name = Path(model_name).stem
    if pretrained is None:
        log.warning("open_clip:%s has no pretrained weights: randomly initialised (tests only). Give "
                    "open_clip:%s@<tag or checkpoint path> for meaningful features.", model_name, model_name)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model, _, preprocess = open_clip.create_model_and_transforms(model_name, pretrained=pretrained)
        tokenizer = open_clip.get_tokenizer(model_name)
    except (RuntimeError, ValueError, OSError) as exc:
        raise ConfigError(
            f"open_clip could not build {model_name!r} with weights {pretrained!r}: {exc}. Without network, "
            f"give a local checkpoint file: open_clip:{model_name}@/path/to/checkpoint.bin"
        ) from exc
    fingerprint = prepare_module(model, device)
    with torch.inference_mode():
        dim = int(model.encode_text(tokenizer([""]).to(device)).shape[-1])
    return _Loaded(model, preprocess, tokenizer, fingerprint, dim)


class OpenClipImageEncoder(ImageEncoder):
    """The CLIP image tower (``encode_image``) with the model's own evaluation transform."""

    def __init__(self, spec: str, arg: str, device: torch.device, batch_size: int = 64) -> None:
        self.loaded = _load(*parse(arg), device)
        super().__init__(spec, self.loaded.model, self.loaded.fingerprint, self.loaded.dim, device,
                         batch_size)

    def settings(self) -> dict[str, Any]:
        return {"preprocess": repr(self.loaded.preprocess)}

    def load_size(self) -> int | None:
        size = getattr(self.module.visual, "image_size", None)
        return max(size) if isinstance(size, tuple | list) else size

    def preprocess(self, image: Image.Image) -> Tensor:
        return self.loaded.preprocess(image)

    def _forward(self, inputs: Tensor) -> Tensor:
        return self.module.encode_image(inputs)


class OpenClipTextEncoder(TextEncoder):
    """The CLIP text tower (``encode_text``); texts longer than the context are truncated."""

    def __init__(self, spec: str, arg: str, device: torch.device, batch_size: int = 256) -> None:
        self.loaded = _load(*parse(arg), device)
        super().__init__(spec, self.loaded.model, self.loaded.fingerprint, self.loaded.dim, device,
                         batch_size)

    def settings(self) -> dict[str, Any]:
        return {"context_length": getattr(self.loaded.tokenizer, "context_length", None)}

    def tokenize(self, texts: Sequence[str]) -> Tokens:
        return {"input_ids": self.loaded.tokenizer(list(texts))}

    def _forward(self, inputs: Tokens) -> Tensor:
        return self.module.encode_text(inputs["input_ids"])
