"""The training loop: batches, optimiser, AMP, DDP, early stopping and exact-resume checkpoints.

The loop knows nothing about datasets or metrics: it receives a model, integer training data, a
:class:`TrainingSpec` and an optional ``evaluator(model) -> float`` (validation MRR, higher is better).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from rich.console import Console
from rich.progress import Progress, TextColumn
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel

from vlkge_graph.evaluation.index import FilterIndex
from vlkge_graph.models.kge import KGEModel
from vlkge_graph.progress import bar_columns, shows_bar
from vlkge_graph.training import checkpoint
from vlkge_graph.training.data import TrainingData
from vlkge_graph.training.objective import Objective
from vlkge_graph.training.optim import RowwiseAdagrad
from vlkge_graph.training.recipe import TrainingSpec
from vlkge_graph.training.sampling import NegativeSampler

Evaluator = Callable[[KGEModel], float]


@dataclass
class TrainState:
    """Progress that a checkpoint carries: completed epochs, steps, best validation score."""

    epoch: int = 0
    step: int = 0
    best_metric: float = -math.inf
    best_epoch: int = 0
    stopped_early: bool = False
    history: list[dict[str, float]] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    """Seed the global RNGs (model initialisation, dropout) on every device."""
    torch.manual_seed(seed)


def init_distributed(device: torch.device) -> tuple[torch.device, int, int]:
    """(device, rank, world size). Under torchrun with several processes this joins the process group
    (NCCL on GPUs, gloo on CPUs) and a bare ``cuda`` becomes this process's GPU (``LOCAL_RANK``)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if not dist.is_initialized():
        return device, 0, 1
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return device, dist.get_rank(), dist.get_world_size()


class Trainer:
    """Fits ``model`` on ``data.train`` following ``spec``.

    ``checkpoint_dir``: where ``last.pt`` (every epoch, for resume) and ``best.pt`` (best validation
    score) go; a ``last.pt`` found there is resumed from. ``meta`` is stored in every checkpoint.
    ``optimizer_state``: the optimiser's starting state by parameter name (a warm start's; a resume replaces it).
    """

    def __init__(self, model: KGEModel, data: TrainingData, spec: TrainingSpec, *,
                 device: torch.device | str = "cpu", evaluator: Evaluator | None = None,
                 checkpoint_dir: str | Path | None = None, meta: dict[str, Any] | None = None,
                 progress: bool = True, console: Console | None = None,
                 optimizer_state: dict[str, dict[str, Tensor]] | None = None) -> None:
        self.device, self.rank, self.world = init_distributed(torch.device(device))
        self.spec = spec
        self.model = model.to(self.device)
        self.evaluator = evaluator
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.meta = meta or {}
        self.progress = progress and self.rank == 0
        self.console = console or Console(stderr=True)
        self.state = TrainState()
        self.best_model: dict[str, Tensor] | None = None
        self.best_optimizer: dict[str, dict[str, Tensor]] | None = None

        train_index = data.filter_index(("train",)).to(self.device) if spec.mode != "1vsall" else None
        self.objective = Objective(self.model, spec, train_index, data.hard_negatives.to(self.device))
        self.step_module: torch.nn.Module = self.objective
        if self.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.step_module = DistributedDataParallel(self.objective, device_ids=ids)
        self.examples, self.extra = self._examples(data)
        self.sampler = self._sampler(data, train_index) if spec.mode == "negatives" else None
        self.optimizer = self._optimizer()
        if optimizer_state:
            checkpoint.load_named_optimizer_state(self.model, self.optimizer, optimizer_state)
        self.amp_dtype = self._amp_dtype()
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.shuffle_gen = torch.Generator().manual_seed(spec.seed)
        self.sample_gen = torch.Generator(self.device).manual_seed(spec.seed + 1 + self.rank)

    # -- construction -------------------------------------------------------------------------
    def _examples(self, data: TrainingData) -> tuple[Tensor, Tensor | None]:
        if self.spec.mode == "kvsall":
            queries, directions = data.kvsall_queries(self.spec.sides)
            return queries.to(self.device), directions.to(self.device)
        return data.train.to(self.device), None

    def _sampler(self, data: TrainingData, known: FilterIndex | None) -> NegativeSampler:
        spec = self.spec
        pools = ({d: data.candidate_pools(d) for d in spec.sides} if spec.candidate_pools else None)
        return NegativeSampler(data.num_entities, data.num_relations, spec.num_negatives, train=data.train,
                               corruption=spec.corruption, side_per=spec.side_per, sides=spec.sides,
                               known=known if spec.filter_negatives else None, pools=pools,
                               sharing=spec.negative_sharing, device=self.device)

    def _optimizer(self) -> torch.optim.Optimizer:
        params = [p for p in self.model.parameters() if p.requires_grad]
        if self.spec.optimizer == "adam":
            return torch.optim.Adam(params, lr=self.spec.lr, weight_decay=self.spec.weight_decay)
        self.model.entities.set_sparse(self._sparse_rows())
        return RowwiseAdagrad(params, lr=self.spec.lr, weight_decay=self.spec.weight_decay)

    def _sparse_rows(self) -> bool:
        """Whether entity lookups give sparse gradients that Adagrad applies to the touched rows only:
        exact (Adagrad leaves untouched rows as they are) unless weight decay moves every row, and
        worth it where a step touches few rows (negatives); not under DDP, which reduces dense grads."""
        spec = self.spec
        return spec.mode == "negatives" and spec.weight_decay == 0 and self.world == 1

    def _amp_dtype(self) -> torch.dtype | None:
        if not self.spec.amp or self.device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16

    @property
    def _generators(self) -> dict[str, torch.Generator]:
        return {"shuffle": self.shuffle_gen, "sample": self.sample_gen}

    # -- checkpoints --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scaler": self.scaler.state_dict(), "trainer": asdict(self.state),
                "rng": checkpoint.rng_state(self._generators), "meta": self.meta}

    def load_state_dict(self, payload: dict[str, Any]) -> None:
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scaler.load_state_dict(payload["scaler"])
        self.state = TrainState(**payload["trainer"])
        checkpoint.set_rng_state(payload["rng"], self._generators)

    def resume(self) -> bool:
        """Load ``last.pt`` (and the best weights) from the checkpoint directory when present."""
        if self.checkpoint_dir is None or not (self.checkpoint_dir / checkpoint.LAST).exists():
            return False
        self.load_state_dict(checkpoint.load(self.checkpoint_dir / checkpoint.LAST, self.device))
        if self.world > 1:  # only rank 0's streams were saved: give every rank its own again
            self.sample_gen.manual_seed(self.spec.seed + 1 + self.rank + 1_000_003 * self.state.epoch)
        best = self.checkpoint_dir / checkpoint.BEST
        if best.exists():
            saved = checkpoint.load(best, self.device)
            self.best_model, self.best_optimizer = saved["model"], saved.get("optimizer_state")
        return True

    def _save(self, name: str, payload: dict[str, Any]) -> None:
        if self.checkpoint_dir is not None and self.rank == 0:
            checkpoint.save(self.checkpoint_dir / name, payload)

    # -- training -----------------------------------------------------------------------------
    def _batches(self) -> list[Tensor]:
        """This rank's shuffled example indices for one epoch, split into batches."""
        perm = torch.randperm(len(self.examples), generator=self.shuffle_gen).to(self.device)
        per_rank = len(perm) // self.world  # equal step counts on every rank keep DDP in lockstep
        perm = perm[self.rank * per_rank:(self.rank + 1) * per_rank] if self.world > 1 else perm
        return list(perm.split(self.spec.batch_size))

    def _step(self, idx: Tensor) -> Tensor:
        batch = self.examples[idx]
        negatives = extra = None
        if self.sampler is not None:
            negatives = self.sampler.draw(batch, self.sample_gen)
        elif self.extra is not None:
            extra = self.extra[idx]
        self.optimizer.zero_grad(set_to_none=True)
        self._schedule_lr()
        with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                            enabled=self.amp_dtype is not None):
            loss = self.step_module(batch, negatives, extra)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return loss.detach()

    def _schedule_lr(self) -> None:
        """``lr_schedule: cosine``: the learning rate of this step, decayed from ``lr`` to 0 over the
        recipe's epochs (a function of the step count alone, so a resumed run continues it exactly)."""
        if self.spec.lr_schedule != "cosine":
            return
        total = self.spec.epochs * math.ceil(len(self.examples) // self.world / self.spec.batch_size)
        lr = self.spec.lr * 0.5 * (1 + math.cos(math.pi * min(self.state.step / max(total, 1), 1.0)))
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def train_epoch(self, bar: Progress | None = None) -> dict[str, float]:
        """One pass over the (shuffled) training examples; returns loss and throughput."""
        self.model.train()
        batches = self._batches()
        task = bar.add_task(f"  epoch {self.state.epoch + 1} (batches)", total=len(batches), status="") if bar else None
        start, total, count = time.perf_counter(), torch.zeros((), device=self.device), 0
        for idx in batches:
            total += self._step(idx) * len(idx)
            count += len(idx)
            self.state.step += 1
            if bar is not None and task is not None:
                bar.advance(task)
        if bar is not None and task is not None:
            bar.remove_task(task)
        seconds = time.perf_counter() - start
        return {"loss": float(total) / max(count, 1), "seconds": seconds,
                "examples_per_s": count * self.world / max(seconds, 1e-9)}

    def _validate(self) -> float | None:
        """Validation score on rank 0, shared with every rank."""
        metric = math.nan
        if self.evaluator is not None and self.rank == 0:
            self.model.eval()
            metric = float(self.evaluator(self.model))
            self.model.train()
        if self.world > 1:
            value = torch.tensor([metric], device=self.device)
            dist.broadcast(value, src=0)
            metric = float(value)
        return None if math.isnan(metric) else metric

    def fit(self, resume: bool = True) -> TrainState:
        """Train until ``spec.epochs`` or early stopping; the model ends with the best weights.

        Rank 0 shows one bar (epochs, loss, last validation MRR; a batch bar inside) on a terminal, else
        one plain line per epoch (logs, CI)."""
        if resume and self.resume() and self.rank == 0:
            self.console.print(f"resumed after epoch {self.state.epoch}")
        spec = self.spec
        live = self.rank == 0 and shows_bar(self.console, self.progress)
        columns = (*bar_columns()[:3], TextColumn("{task.fields[status]}"), *bar_columns()[3:])
        with Progress(*columns, console=self.console, disable=not live) as bar:
            epochs = bar.add_task("training (epochs)", total=spec.epochs, completed=self.state.epoch, status="")
            while self.state.epoch < spec.epochs and not self.state.stopped_early:
                record = self.train_epoch(bar if live else None)
                self.state.epoch += 1
                record["epoch"] = self.state.epoch
                last = self.state.epoch == spec.epochs
                if self.evaluator is not None and (self.state.epoch % spec.eval_every == 0 or last):
                    metric = self._validate()
                    if metric is not None:
                        record["valid_mrr"] = metric
                        self._track_best(metric)
                self.state.history.append(record)
                if live:
                    bar.update(epochs, advance=1, status=self._status(record))
                elif self.rank == 0:
                    self.console.print(epoch_line(record, spec.epochs), markup=False, highlight=False)
                self._save(checkpoint.LAST, self.state_dict())
        if self.best_model is not None:
            self.model.load_state_dict(self.best_model)
        if self.world > 1:
            dist.barrier()
        return self.state

    def trained_optimizer_state(self) -> dict[str, Any]:
        """``optimizer.pt``'s content (see checkpoint.OPTIMIZER): the optimiser's state at the epoch of the weights
        :meth:`fit` ends with (the best one when validated)."""
        best = self.best_model is not None and self.best_optimizer is not None
        return {"optimizer": self.spec.optimizer, "epoch": self.state.best_epoch if best else self.state.epoch,
                "state": self.best_optimizer if best else checkpoint.named_optimizer_state(self.model, self.optimizer)}

    def _status(self, record: dict[str, float]) -> str:
        """The epoch bar's fields: this epoch's loss and the last validation MRR (with its epoch)."""
        text = f"loss {record['loss']:.4f}"
        validated = [r for r in self.state.history if "valid_mrr" in r]
        if validated:
            text += f"  valid MRR {validated[-1]['valid_mrr']:.4f} (epoch {int(validated[-1]['epoch'])})"
        return text

    def _track_best(self, metric: float) -> None:
        state = self.state
        if metric > state.best_metric:
            state.best_metric, state.best_epoch = metric, state.epoch
            self.best_model = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            self.best_optimizer = checkpoint.named_optimizer_state(self.model, self.optimizer)
            self._save(checkpoint.BEST, {"model": self.best_model, "optimizer_state": self.best_optimizer,
                                         "trainer": asdict(state), "meta": self.meta})
        elif self.spec.patience and state.epoch - state.best_epoch >= self.spec.patience:
            state.stopped_early = True


def epoch_line(record: dict[str, float], epochs: int) -> str:
    """One epoch as a plain log line: ``epoch 3/50  loss 0.1234  valid MRR 0.4567  12.3 s`` (MRR when validated)."""
    parts = [f"epoch {int(record['epoch'])}/{epochs}", f"loss {record['loss']:.4f}"]
    if "valid_mrr" in record:
        parts.append(f"valid MRR {record['valid_mrr']:.4f}")
    return "  ".join([*parts, f"{record['seconds']:.1f} s"])
