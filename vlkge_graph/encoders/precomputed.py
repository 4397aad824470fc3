"""``precomputed:<file>``: features computed elsewhere (e.g. the VL-KGE reference's pickles).

Two layouts: a matrix (``.npy``, ``.pt``, pickle) whose rows follow the entity table's order, or a
mapping ``{entity id: vector or list of vectors}`` (``.pt``, ``.pkl``) whose several vectors per
entity are mean-pooled, as the reference code does. Entities absent from the mapping, empty lists and
all-NaN rows are "modality missing". Pickles can run code when loaded: only use files you trust.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from vlkge_graph.errors import ConfigError

PICKLE_SUFFIXES = (".pkl", ".pickle")


class PrecomputedFeatures:
    """Looks features up by entity instead of encoding; ``encoder_id`` names the file's content."""

    def __init__(self, spec: str, arg: str, modality: str) -> None:
        self.spec = spec
        self.modality = modality
        self.path = Path(arg)
        if not self.path.is_file():
            raise ConfigError(f"{spec}: feature file {self.path} does not exist")
        self.data = _read(self.path, spec)
        self.dim = self._dim()
        with open(self.path, "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()[:16]
        self.encoder_id = f"precomputed-{self.path.stem}-{modality}-{digest}"
        self.cacheable = False  # it is a cache already

    def _dim(self) -> int:
        if isinstance(self.data, np.ndarray):
            if self.data.ndim != 2:
                raise ConfigError(f"{self.spec}: expected a 2-d matrix, got shape {self.data.shape}")
            return int(self.data.shape[1])
        for value in self.data.values():
            pooled = _pool(value, self.spec)
            if pooled is not None:
                return int(pooled.shape[0])
        raise ConfigError(f"{self.spec}: the mapping holds no vector")

    def lookup(self, entity_ids: Sequence[str]) -> tuple[Tensor, Tensor]:
        """``(features float32 [n, dim], present [n])`` for ``entity_ids`` in that order."""
        n = len(entity_ids)
        if isinstance(self.data, np.ndarray):
            if len(self.data) != n:
                raise ConfigError(f"{self.spec}: the matrix has {len(self.data)} rows but the entity table "
                                  f"{n}; a matrix must follow the entity order (or use an id mapping)")
            values = self.data.astype(np.float32)
            present = ~np.isnan(values).all(axis=1)
            return torch.from_numpy(np.nan_to_num(values)), torch.from_numpy(present)
        out = np.zeros((n, self.dim), dtype=np.float32)
        present = np.zeros(n, dtype=bool)
        for row, entity in enumerate(entity_ids):
            vector = _pool(self.data.get(entity), self.spec)
            if vector is not None:
                if vector.shape != (self.dim,):
                    raise ConfigError(f"{self.spec}: entity {entity!r} has a {vector.shape} vector, "
                                      f"others have {self.dim} dims")
                out[row], present[row] = vector, True
        return torch.from_numpy(out), torch.from_numpy(present)


def _read(path: Path, spec: str) -> np.ndarray | dict[str, Any]:
    try:
        if path.suffix == ".npy":
            data: Any = np.load(path, allow_pickle=False)
        elif path.suffix in PICKLE_SUFFIXES:
            with open(path, "rb") as handle:
                data = pickle.load(handle)
        elif path.suffix in (".pt", ".pth"):
            data = torch.load(path, map_location="cpu", weights_only=True)
        else:
            raise ConfigError(f"{spec}: unknown feature file type {path.suffix!r}; use .npy, .pt or .pkl")
    except ConfigError:
        raise
    except Exception as exc:  # any reader failure is a bad file, reported with its name
        raise ConfigError(f"{spec}: cannot read {path}: {type(exc).__name__}: {exc}") from exc
    if isinstance(data, Tensor):
        return data.float().numpy()
    if isinstance(data, np.ndarray):
        return data
    if isinstance(data, Mapping):
        return {str(k): v for k, v in data.items()}
    raise ConfigError(f"{spec}: expected a matrix or an {{entity id: vector(s)}} mapping, "
                      f"got {type(data).__name__}")


def _pool(value: Any, spec: str) -> np.ndarray | None:
    """A vector, or the mean of several; None when there is nothing usable."""
    if value is None:
        return None
    if isinstance(value, Tensor):
        value = value.float().numpy()
    elif isinstance(value, list | tuple):
        value = [v.float().numpy() if isinstance(v, Tensor) else np.asarray(v, dtype=np.float32)
                 for v in value]
        if not value:
            return None
        value = np.stack([v.reshape(-1) for v in value])
    array = np.asarray(value, dtype=np.float32)
    if array.ndim == 2:
        array = array[~np.isnan(array).all(axis=1)]
        if len(array) == 0:
            return None
        array = array.mean(axis=0)
    if array.ndim != 1:
        raise ConfigError(f"{spec}: expected a vector or a list of vectors, got shape {array.shape}")
    return None if np.isnan(array).all() else array
