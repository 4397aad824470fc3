"""Adagrad that updates only the rows a sparse (embedding) gradient touched, with dense Adagrad's result.

Dense Adagrad sweeps every entity table each step although a batch touches a few thousand of its rows;
on an untouched row the dense update is exactly zero (the sum gains ``0 * 0`` and the parameter
``-lr * 0 / std``). torch's own sparse Adagrad path builds several sparse intermediates and on CPU is
no faster than the dense sweep, so here the touched rows get the very same dense arithmetic
(``sum + g * g``, ``sqrt(sum) + eps``, ``param - lr * g / std``): on CPU in one fused C loop
(:mod:`vlkge_graph.training.native`), elsewhere (or without a C compiler) through gathers and scatters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from vlkge_graph.training import native


class RowwiseAdagrad(torch.optim.Adagrad):
    """:class:`torch.optim.Adagrad` (same state, same checkpoints) whose sparse gradients update only
    their rows; dense gradients take torch's own step. Sparse gradients need ``weight_decay=0``, as in
    torch (decay would move every row)."""

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        held: list[tuple[Tensor, Tensor]] = []
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None and param.grad.is_sparse:
                    self._rows_step(param, param.grad, group)
                    held.append((param, param.grad))
                    param.grad = None  # hidden from the dense step below
        try:
            super().step()
        finally:
            for param, grad in held:
                param.grad = grad
        return loss

    def _rows_step(self, param: Tensor, grad: Tensor, group: dict[str, Any]) -> None:
        """Dense Adagrad restricted to the rows of a sparse ``grad`` (duplicate rows summed first)."""
        if group["weight_decay"]:
            raise RuntimeError("weight_decay option is not compatible with sparse gradients")
        state = self.state[param]
        state["step"] += 1
        clr = group["lr"] / (1 + (float(state["step"]) - 1) * group["lr_decay"])
        if native.sparse_adagrad_(param, state["sum"], grad._indices()[0], grad._values().contiguous(), clr,
                                  group["eps"], group["maximize"]):
            return
        grad = grad.coalesce()
        rows, values = grad.indices()[0], grad.values()
        if group["maximize"]:
            values = -values
        # Rows are unique after coalescing: gather their sums, add g * g, write them back, then add
        # (-clr) * g / std to the parameter rows (one pass each: the touched rows are a third of a
        # WN18RR-sized table per step, so every extra pass over them shows in the step time).
        total = state["sum"].index_select(0, rows).addcmul_(values, values)
        state["sum"].index_copy_(0, rows, total)
        std = total.sqrt_().add_(group["eps"])
        param.index_add_(0, rows, torch.div(values, std, out=std).mul_(-clr))
