"""Fine-tuning the encoder itself: one optimisation step with gradients flowing into its weights.

The paper freezes its encoders; fine-tuning is an option for GPU runs. The trainer supplies the loss
(fusion and scoring of a batch) as a function of the freshly computed, differentiable features.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from vlkge_graph.encoders.base import ImageEncoder, TextEncoder


def finetune_step(
    encoder: ImageEncoder | TextEncoder,
    items: Sequence[str],
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    optimizer: torch.optim.Optimizer,
    max_grad_norm: float | None = None,
) -> float:
    """Embed ``items`` (image refs or texts) with gradients, ``loss_fn(features, ok)``, step; return the loss.

    ``ok`` marks the items that have a feature (unreadable images are zero rows with ``ok`` False).
    The optimizer must hold ``encoder.set_trainable(True)``'s parameters (and whatever else it trains).
    """
    if not encoder.trainable:
        encoder.set_trainable(True)
    optimizer.zero_grad(set_to_none=True)
    if isinstance(encoder, ImageEncoder):
        features, ok = encoder.embed_items(items)
    else:
        features = encoder.embed_items(items)
        ok = torch.ones(len(items), dtype=torch.bool)
    loss = loss_fn(features, ok.to(features.device))
    loss.backward()
    if max_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], max_grad_norm)
    optimizer.step()
    return float(loss.detach())
