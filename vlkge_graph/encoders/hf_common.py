"""Loading a transformers vision-language model, its tokenizer and image processor, from disk or hub.

Shared by ``hf-clip`` and ``hf-blip``: a local directory is read with ``local_files_only`` (no hub
call at all); a hub name honours ``HF_HUB_OFFLINE``; any failure becomes one clear ConfigError.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
from PIL import Image
from torch import Tensor

from vlkge_graph.encoders.base import ImageEncoder, TextEncoder, Tokens, prepare_module
from vlkge_graph.errors import ConfigError


class Bundle(NamedTuple):
    model: Any
    tokenizer: Any
    image_processor: Any
    fingerprint: str
    max_tokens: int


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """Hide transformers' per-file "Loading weights" bars; our own progress bars stay."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def _kwargs(name: str) -> dict[str, Any]:
    offline = Path(name).is_dir() or os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0", "false")
    return {"local_files_only": True} if offline else {}


def architectures(kind: str, name: str) -> list[str]:
    """The model classes a checkpoint's config names (e.g. ``BlipForImageTextRetrieval``)."""
    from transformers import AutoConfig

    try:
        return list(AutoConfig.from_pretrained(name, **_kwargs(name)).architectures or [])
    except (OSError, ValueError) as exc:
        raise _error(kind, name, exc) from exc


@functools.lru_cache(maxsize=2)
def load_bundle(kind: str, model_class: str, name: str, device: torch.device) -> Bundle:
    """Model ``model_class`` (a transformers class name), tokenizer and image processor of ``name``."""
    import transformers

    try:
        with quiet_loading():
            model = getattr(transformers, model_class).from_pretrained(name, **_kwargs(name))
        tokenizer = transformers.AutoTokenizer.from_pretrained(name, **_kwargs(name))
        image_processor = transformers.AutoImageProcessor.from_pretrained(name, **_kwargs(name))
    except (OSError, ValueError) as exc:
        raise _error(kind, name, exc) from exc
    text_config = getattr(model.config, "text_config", model.config)
    max_tokens = min(int(tokenizer.model_max_length), int(text_config.max_position_embeddings))
    return Bundle(model, tokenizer, image_processor, prepare_module(model, device), max_tokens)


def _error(kind: str, name: str, exc: Exception) -> ConfigError:
    return ConfigError(f"{kind}:{name} could not be loaded ({type(exc).__name__}: {exc}). Give a local "
                       "directory written by save_pretrained (model, tokenizer and image processor); "
                       "the Hugging Face hub is not reachable from this machine")


def pooled(output: Any) -> Tensor:
    """transformers 5 returns a model output from ``get_*_features``; 4.x returned the tensor."""
    return output.pooler_output if hasattr(output, "pooler_output") else output


class HFImageEncoder(ImageEncoder):
    """Images through the checkpoint's own image processor; subclasses pick the features."""

    def __init__(self, spec: str, bundle: Bundle, dim: int, device: torch.device, batch_size: int = 64) -> None:
        self.bundle = bundle
        super().__init__(spec, bundle.model, bundle.fingerprint, dim, device, batch_size)

    def settings(self) -> dict[str, Any]:
        return {"image_processor": self.bundle.image_processor.to_dict()}

    def preprocess(self, image: Image.Image) -> Tensor:
        return self.bundle.image_processor(images=image, return_tensors="pt")["pixel_values"][0]


class HFTextEncoder(TextEncoder):
    """Texts through the checkpoint's tokenizer, truncated to the text model's length."""

    def __init__(self, spec: str, bundle: Bundle, dim: int, device: torch.device, batch_size: int = 256) -> None:
        self.bundle = bundle
        super().__init__(spec, bundle.model, bundle.fingerprint, dim, device, batch_size)

    def settings(self) -> dict[str, Any]:
        return {"max_tokens": self.bundle.max_tokens}

    def tokenize(self, texts: Sequence[str]) -> Tokens:
        tokens = self.bundle.tokenizer(list(texts), padding=True, truncation=True,
                                       max_length=self.bundle.max_tokens, return_tensors="pt")
        return {"input_ids": tokens["input_ids"], "attention_mask": tokens["attention_mask"]}
