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
#: Beside a trained ``model.pt``: the optimiser's state at the model's epoch, keyed by parameter name
#: (``{"optimizer": "adam", "epoch": 14, "state": {name: {"exp_avg": ..., "exp_avg_sq": ..., "step": ...}}}``),
#: so a warm-started retrain continues with it (training/warm_start.py).
OPTIMIZER = "optimizer.pt"


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


def named_optimizer_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, dict[str, Any]]:
    """A copy of ``optimizer``'s per-parameter state keyed by ``model``'s parameter names (not by position, as
    ``optimizer.state_dict()`` is), so another model with other row counts can take what fits."""
    return {name: {k: v.detach().clone() for k, v in optimizer.state[p].items() if torch.is_tensor(v)}
            for name, p in model.named_parameters() if optimizer.state.get(p)}


def load_named_optimizer_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                               state: dict[str, dict[str, Any]]) -> None:
    """Set ``optimizer``'s state of ``model``'s parameters named in ``state`` (others keep theirs)."""
    for name, p in model.named_parameters():
        if name in state:
            optimizer.state[p] = {k: v.to(p.device) if v.dim() else v.cpu() for k, v in state[name].items()}


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
