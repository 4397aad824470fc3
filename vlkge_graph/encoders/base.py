"""The encoder interface: images or texts in, one L2-normalised vector per item out.

Every backend (CLIP, BLIP, EfficientNet, MiniLM) only says how to preprocess one item and how to run
its network on a batch; batching, the device, half precision, progress, fault-tolerant image loading
and the identity used by the feature cache live here once.
"""

from __future__ import annotations

import hashlib
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
import torch.nn.functional as F
from PIL import Image
from rich.console import Console
from torch import Tensor, nn

from vlkge_graph.encoders.images import ImageLoadError, load_image
from vlkge_graph.progress import progress as tracked

#: Bump when the meaning of any backend's output changes (preprocessing, pooling, normalisation):
#: every cached feature is then recomputed.
FEATURE_VERSION = 1
MODALITIES = ("image", "text")
Tokens = dict[str, Tensor]
T = TypeVar("T")
R = TypeVar("R")


def weights_fingerprint(module: nn.Module) -> str:
    """sha256 over parameter and buffer names, shapes and float32 values: identifies the weights."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(f"{name}{tuple(tensor.shape)}".encode())
        values = tensor.detach().to("cpu", torch.float32 if tensor.is_floating_point() else tensor.dtype)
        digest.update(values.contiguous().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def prepare_module(module: nn.Module, device: torch.device) -> str:
    """Freeze ``module`` for inference on ``device`` (fp16 on CUDA); return its weights' fingerprint."""
    module.eval().requires_grad_(False)
    fingerprint = weights_fingerprint(module)
    if device.type == "cuda":
        module.half()
    module.to(device)
    return fingerprint


def spec_slug(spec: str) -> str:
    """A short, file-name-safe rendering of a spec: the kind and the last path component of its argument."""
    kind, _, arg = spec.partition(":")
    tail = Path(arg.rstrip("/")).name if arg else ""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", f"{kind}-{tail}" if tail else kind)[:60]


class Encoder(ABC):
    """A frozen (or, with :meth:`set_trainable`, fine-tunable) network that embeds one modality.

    ``items_encoded`` counts items that went through the network (tests and summaries use it);
    ``encoder_id`` names the weights and preprocessing, so the feature cache can trust it.
    """

    modality: ClassVar[str]

    def __init__(self, spec: str, module: nn.Module, fingerprint: str, dim: int, device: torch.device,
                 batch_size: int) -> None:
        self.spec = spec
        self.module = module
        self.dim = dim
        self.device = device
        self.batch_size = batch_size
        self.trainable = False
        self.items_encoded = 0
        self._weights = fingerprint
        self._id: str | None = None

    def settings(self) -> dict[str, Any]:
        """Preprocessing choices that change the output; part of the encoder id."""
        return {}

    @property
    def encoder_id(self) -> str:
        """``<kind>-<name>-<modality>-<hash of weights, settings and feature version>``."""
        if self._id is None:
            blob = json.dumps([self._weights, type(self).__name__, self.modality, FEATURE_VERSION,
                               self.settings()], sort_keys=True, default=str)
            self._id = f"{spec_slug(self.spec)}-{self.modality}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"
        return self._id

    @property
    def cacheable(self) -> bool:
        """A network being fine-tuned changes under the cache's feet: its features are never cached."""
        return not self.trainable

    def set_trainable(self, trainable: bool = True) -> list[nn.Parameter]:
        """Switch to fine-tuning (fp32 weights, train mode, gradients on) or back to frozen inference.

        Returns the parameters to hand to an optimizer. On a shared CLIP model this concerns both towers.
        """
        self.trainable = trainable
        if trainable:
            self.module.float().train().requires_grad_(True)
        else:
            self._weights = prepare_module(self.module, self.device)
            self._id = None
        return [p for p in self.module.parameters() if p.requires_grad]

    def _autocast(self) -> AbstractContextManager[Any]:
        """Half precision on CUDA: fp16 for frozen inference, bf16 when fine-tuning (no loss scaling)."""
        if self.device.type != "cuda":
            return nullcontext()
        dtype = torch.bfloat16 if self.trainable and torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)

    def _float_dtype(self) -> torch.dtype:
        return next(self.module.parameters()).dtype

    def _run(self, inputs: Any) -> Tensor:
        with self._autocast():
            out = self._forward(inputs)
        return F.normalize(out.float(), dim=-1)

    @abstractmethod
    def _forward(self, inputs: Any) -> Tensor:
        """The network on a prepared batch already on the device: ``[B, dim]`` features."""


class ImageEncoder(Encoder):
    """Embeds images given as paths or URLs; an unreadable image yields ``ok = False``, never an error."""

    modality: ClassVar[str] = "image"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: ``(reference, reason)`` of each image the last :meth:`encode` could not read.
        self.failures: list[tuple[str, str]] = []

    @abstractmethod
    def preprocess(self, image: Image.Image) -> Tensor:
        """One RGB image -> its network input ``[C, H, W]`` (float, CPU)."""

    def load_size(self) -> int | None:
        """The side the network needs; lets big JPEGs decode at reduced size (much faster)."""
        return None

    def load(self, refs: Sequence[str]) -> tuple[Tensor, Tensor]:
        """Read and preprocess ``refs``: ``(inputs [n, C, H, W], ok [n])``; failed rows are zeros."""
        tensors: list[Tensor | None] = []
        for ref in refs:
            try:
                tensors.append(self.preprocess(load_image(ref, self.load_size())))
            except ImageLoadError as exc:
                self.failures.append((ref, str(exc)))
                tensors.append(None)
        ok = torch.tensor([t is not None for t in tensors], dtype=torch.bool)
        shape = next((t.shape for t in tensors if t is not None), None)
        if shape is None:
            return torch.zeros(len(refs), 0), ok
        return torch.stack([t if t is not None else torch.zeros(shape) for t in tensors]), ok

    def embed(self, pixels: Tensor) -> Tensor:
        """Features of a preprocessed batch; differentiable when the encoder is trainable."""
        return self._run(pixels.to(self.device, self._float_dtype()))

    def embed_items(self, refs: Sequence[str]) -> tuple[Tensor, Tensor]:
        """Load and embed with gradients (fine-tuning): ``(features [n, dim], ok [n])``, failed rows 0."""
        pixels, ok = self.load(refs)
        out = torch.zeros(len(refs), self.dim, device=self.device)
        if ok.any():
            out = out.index_put((ok.nonzero().squeeze(1).to(self.device),), self.embed(pixels[ok]))
        return out, ok

    def encode(self, refs: Sequence[str], progress: bool = True,
               console: Console | None = None) -> tuple[Tensor, Tensor]:
        """Frozen features of ``refs``: ``(float32 CPU [n, dim], ok [n])``; loading overlaps the network;
        progress goes to ``console`` (default stderr)."""
        self.failures = []
        out = torch.zeros(len(refs), self.dim)
        ok_all = torch.zeros(len(refs), dtype=torch.bool)
        batches = [list(refs[s:s + self.batch_size]) for s in range(0, len(refs), self.batch_size)]
        start = 0
        with tracked(f"encoding images ({self.spec})", len(refs), console=console, enabled=progress) as bar:
            for pixels, ok in _prefetched(self.load, batches):
                if ok.any():
                    with torch.inference_mode():
                        out[start:start + len(ok)][ok] = self.embed(pixels[ok]).cpu()
                ok_all[start:start + len(ok)] = ok
                self.items_encoded += int(ok.sum())
                start += len(ok)
                bar.advance(len(ok))
        return out, ok_all


class TextEncoder(Encoder):
    """Embeds texts; batches are formed from texts of similar length to waste little padding."""

    modality: ClassVar[str] = "text"

    @abstractmethod
    def tokenize(self, texts: Sequence[str]) -> Tokens:
        """Texts -> the network's input tensors (CPU)."""

    def embed(self, tokens: Tokens) -> Tensor:
        """Features of a tokenized batch; differentiable when the encoder is trainable."""
        return self._run({k: v.to(self.device) for k, v in tokens.items()})

    def embed_items(self, texts: Sequence[str]) -> Tensor:
        """Tokenize and embed with gradients (fine-tuning)."""
        return self.embed(self.tokenize(list(texts)))

    def encode(self, texts: Sequence[str], progress: bool = True, console: Console | None = None) -> Tensor:
        """Frozen features of ``texts``: float32 CPU ``[n, dim]`` in the input order; progress goes to
        ``console`` (default stderr)."""
        out = torch.zeros(len(texts), self.dim)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with (tracked(f"encoding texts ({self.spec})", len(texts), console=console, enabled=progress) as bar,
              torch.inference_mode()):
            for batch in _chunks(order, self.batch_size):
                out[batch] = self.embed(self.tokenize([texts[i] for i in batch])).cpu()
                self.items_encoded += len(batch)
                bar.advance(len(batch))
        return out

    def __call__(self, texts: list[str]) -> Tensor:
        """Plain callable form (``texts -> features``), e.g. for the zero-shot baseline."""
        return self.encode(texts, progress=False)


def _prefetched(fn: Callable[[T], R], batches: Sequence[T]) -> Iterator[R]:
    """``fn(batch)`` for each batch in order, preparing the next one in a background thread meanwhile."""
    if not batches:
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(fn, batches[0])
        for batch in batches[1:]:
            result = pending.result()
            pending = pool.submit(fn, batch)
            yield result
        yield pending.result()


def _chunks(items: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])
