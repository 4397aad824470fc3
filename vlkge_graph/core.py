"""The bottom floor: constants and the device choice that every layer shares (imports nothing of ours)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

#: The two ends of a triple a query asks for: ``(?, r, t)`` and ``(h, r, ?)``, in this order everywhere
#: (direction ids in rankings index into it).
DIRECTIONS = ("head", "tail")
#: Upper bound on the elements of one broadcast intermediate when scoring queries against candidate
#: blocks (model comparison, top-k prediction).
BLOCK_ELEMENTS = 1 << 24


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``None`` or ``"auto"``: the GPU when there is one, else the CPU."""
    import torch

    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)
