"""Sparse Adagrad as one C loop, compiled on first use with the machine's C compiler.

In torch ops, Adagrad on the rows a step touched costs about ten passes over those rows (coalescing the
gradient, gathers, scatters, temporaries): with 32 independent negatives a WN18RR batch touches a third
of the entity table, and these passes were half of a CPU training step. ``sparse_adagrad.c`` makes one:
sum a row's duplicate gradients, then update its accumulator and its parameter. It is built once per
machine into the cache directory (a plain shared library: no torch headers, well under a second) and
called through ctypes. Without a compiler, or with ``VLKGE_NATIVE=0``, :class:`RowwiseAdagrad` uses
torch ops instead, with the same results.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
from pathlib import Path

import torch
from torch import Tensor

from vlkge_graph.etl.sources import cache_dir

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("sparse_adagrad.c")
#: IEEE arithmetic as torch does it: no fast-math, no fused multiply-add; errno-free sqrt vectorises.
FLAGS = ("-O3", "-std=c99", "-ffp-contract=off", "-fno-math-errno", "-fPIC", "-shared")
_KERNELS = {torch.float32: ("sparse_adagrad_f32", ctypes.c_float),
            torch.float64: ("sparse_adagrad_f64", ctypes.c_double)}


@functools.cache
def library() -> ctypes.CDLL | None:
    """The compiled kernel library, or None (disabled, no compiler, or the build failed: logged once)."""
    if os.environ.get("VLKGE_NATIVE", "1") == "0":
        return None
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        log.warning("no C compiler found: sparse Adagrad runs as torch ops (slower on CPU)")
        return None
    source = SOURCE.read_bytes()
    key = hashlib.sha256(repr((source, compiler, FLAGS, platform.machine())).encode()).hexdigest()[:16]
    try:
        target = cache_dir("native") / f"sparse_adagrad-{key}.so"
        if not target.exists():
            partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
            subprocess.run([compiler, *FLAGS, "-o", str(partial), str(SOURCE), "-lm"], check=True,
                           capture_output=True, text=True, timeout=120)
            os.replace(partial, target)  # atomic: concurrent first runs never load a half-written file
        return ctypes.CDLL(str(target))
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", "") or exc
        log.warning("could not build the sparse Adagrad kernel (%s): torch ops are used instead", detail)
        return None


def sparse_adagrad_(param: Tensor, state_sum: Tensor, indices: Tensor, values: Tensor, clr: float,
                    eps: float, maximize: bool) -> bool:
    """Adagrad on the rows ``indices`` (duplicates allowed) of ``param`` with gradient rows ``values``,
    in place; False when the kernel does not apply (no library; not CPU float32 / float64 contiguous)."""
    lib = library()
    kernel = _KERNELS.get(param.dtype)
    tensors = (param, state_sum, values)
    if (lib is None or kernel is None or param.dim() != 2 or any(t.device.type != "cpu" for t in tensors)
            or any(t.dtype != param.dtype or not t.is_contiguous() for t in tensors)):
        return False
    dim = param.shape[1]
    if values.shape != (indices.numel(), dim):
        raise ValueError(f"gradient rows {tuple(values.shape)} do not match {indices.numel()} indices of width {dim}")
    sorted_rows, order = indices.reshape(-1).sort()
    if len(sorted_rows) and (sorted_rows[0] < 0 or sorted_rows[-1] >= param.shape[0]):
        raise IndexError(f"gradient rows outside the table of {param.shape[0]} rows")
    rows, counts = torch.unique_consecutive(sorted_rows, return_counts=True)
    offsets = torch.zeros(len(rows) + 1, dtype=torch.long)
    torch.cumsum(counts, 0, out=offsets[1:])
    scratch = torch.empty(dim, dtype=param.dtype)
    name, scalar = _KERNELS[param.dtype]
    arrays = (param, state_sum, values, rows, order, offsets)
    getattr(lib, name)(*(ctypes.c_void_p(t.data_ptr()) for t in arrays), ctypes.c_int64(len(rows)),
                       ctypes.c_int64(dim), scalar(clr), scalar(eps), ctypes.c_int(int(maximize)),
                       ctypes.c_void_p(scratch.data_ptr()))
    return True
