"""Checkpoint files: model, optimiser, trainer progress and every RNG state, written atomically.

Restoring all of it makes a resumed run continue bitwise identically to an uninterrupted one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

LAST = "last.pt"
BEST = "best.pt"


def rng_state(generators: dict[str, torch.Generator]) -> dict[str, Any]:
    """The global CPU / CUDA RNG states plus those of the given named generators."""
    state: dict[str, Any] = {"torch": torch.get_rng_state(),
                             "generators": {k: g.get_state() for k, g in generators.items()}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any], generators: dict[str, torch.Generator]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    for name, gen in generators.items():
        gen.set_state(state["generators"][name])


def save(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` with ``torch.save`` through a temporary file, so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save` (plain tensors and Python containers only)."""
    return torch.load(Path(path), map_location=map_location, weights_only=True)
