"""On-disk feature store for one encoder: content hash -> vector, shared by all runs on a machine.

Each run appends one chunk (a keys file and a vectors file). The vectors are written first and the
keys last, both by atomic rename, so a chunk interrupted midway is invisible. Reads memory-map the
vectors and touch only the requested rows; when chunks pile up they are merged into one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np

KEYS = ".keys.npy"
VECS = ".vecs.npy"


class FeatureCache:
    """``get`` / ``put`` of float32 vectors of size ``dim`` keyed by content-hash strings."""

    max_chunks = 16

    def __init__(self, directory: Path, dim: int) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.dim = dim
        self._index: dict[str, tuple[str, int]] | None = None

    def _chunks(self) -> list[str]:
        return sorted(p.name[: -len(KEYS)] for p in self.directory.glob(f"*{KEYS}"))

    def index(self) -> dict[str, tuple[str, int]]:
        """key -> (chunk, row), built once from the keys files (small: 64 bytes per entry)."""
        if self._index is None:
            self._index = {}
            for chunk in self._chunks():
                try:
                    keys = np.load(self.directory / f"{chunk}{KEYS}")
                except (OSError, ValueError):
                    continue  # being merged away by another process, or damaged: its keys re-encode
                self._index.update((k.decode(), (chunk, row)) for row, k in enumerate(keys.tolist()))
        return self._index

    def __len__(self) -> int:
        return len(self.index())

    def get(self, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(vectors [n, dim], found [n])``; rows of keys not in the cache are zero and not found."""
        out = np.zeros((len(keys), self.dim), dtype=np.float32)
        found = np.zeros(len(keys), dtype=bool)
        by_chunk: dict[str, tuple[list[int], list[int]]] = {}
        index = self.index()
        for i, key in enumerate(keys):
            hit = index.get(key)
            if hit is not None:
                positions, rows = by_chunk.setdefault(hit[0], ([], []))
                positions.append(i)
                rows.append(hit[1])
        for chunk, (positions, rows) in by_chunk.items():
            try:
                vectors = np.load(self.directory / f"{chunk}{VECS}", mmap_mode="r")
            except (OSError, ValueError):
                continue
            if vectors.ndim != 2 or vectors.shape[1] != self.dim:
                continue
            out[positions] = vectors[np.asarray(rows)]
            found[positions] = True
        return out, found

    def put(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        """Store ``vectors [n, dim]`` under ``keys`` as one new chunk; merge when there are many."""
        if not len(keys):
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(keys), self.dim):
            raise ValueError(f"expected vectors of shape ({len(keys)}, {self.dim}), got {vectors.shape}")
        chunk = self._write(list(keys), vectors)
        index = self.index()
        index.update((k, (chunk, row)) for row, k in enumerate(keys))
        if len(self._chunks()) > self.max_chunks:
            self.compact()

    def compact(self) -> None:
        """Merge every chunk into one (latest value per key), then delete the old chunks."""
        old = self._chunks()
        keys = list(self.index())
        vectors, found = self.get(keys)
        merged = self._write([k for k, f in zip(keys, found, strict=True) if f], vectors[found])
        for chunk in old:
            if chunk != merged:
                (self.directory / f"{chunk}{KEYS}").unlink(missing_ok=True)
                (self.directory / f"{chunk}{VECS}").unlink(missing_ok=True)
        self._index = None

    def _write(self, keys: list[str], vectors: np.ndarray) -> str:
        chunk = f"{os.getpid()}-{uuid.uuid4().hex}"
        _save_atomic(self.directory / f"{chunk}{VECS}", vectors)
        _save_atomic(self.directory / f"{chunk}{KEYS}", np.array([k.encode() for k in keys], dtype=np.bytes_))
        return chunk


def _save_atomic(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        np.save(handle, array, allow_pickle=False)
    os.replace(tmp, path)
