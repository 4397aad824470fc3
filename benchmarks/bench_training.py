"""Training throughput on WN18RR: vlkge-graph's Trainer vs PyKEEN 1.11.1's SLCWATrainingLoop.

Same setting on both sides: the WN18RR train split with the same entity / relation ids, the backbone's
scoring function with embedding dim 128 (ComplEx / RotatE: 128 complex coordinates on both sides, so the
entity tables hold the same number of real parameters), batch size 512, 32 uniform head-or-tail
corruptions per positive, unfiltered (``--filtered`` filters known training triples on both sides),
softplus (logistic) loss averaged over all scored triples, Adagrad lr 0.1, fp32, same torch threads.

Every backbone gets three vlkge-graph rows, each against PyKEEN timed in the same run, all with every
positive getting 32 negatives:
- independent, end per positive (``side_per: positive``, the recipe default): every positive its own 32
  corruptions, all of one end chosen by a coin per positive. This is PyKEEN's own scheme: its ``BasicNegativeSampler``
  corrupts the heads of the first half of a (shuffled) batch's positives and the tails of the rest;
- independent, end per negative (``side_per: negative``, the paper's WN9-IMG recipes): a head/tail coin
  per negative;
- ``negative_sharing = C`` (``--sharing``, default 16; 0 leaves the row out): each chunk of C positives
  shares one pool of 32 uniform replacement entities, every positive still corrupting head or tail per
  negative with its own coin (PyTorch-BigGraph's scheme, opt-in in a recipe). PyKEEN has no such option.
With ``--filtered`` shared negatives that are known triples are masked out, not redrawn.

PyKEEN runs its bare interaction (no regulariser, no entity constrainer; RotatE keeps the unit-modulus
relation constrainer that defines it), which is PyKEEN's fastest form of the same model; vlkge-graph runs
the same scoring functions (TransE L1 without normalisation, RotatE L2). ``--pykeen-defaults`` keeps
PyKEEN's default regularisers / constrainers and the project's default TransE (normalised) instead.

Only training batches are timed (dataset loading, model and loop construction are not): after
``--warmup`` untimed batches, ``--max-batches`` full batches of every epoch (0: the rest of every
epoch, epoch-end work included). Each side is timed on its own batch boundaries (PyKEEN through a
``pre_batch`` callback; its negatives are drawn by the data loader between batches, which the window
covers). ``--rounds`` repeats the pair with alternating order; rates pool all rounds.

Threads default to 1 on both sides: on a shared, oversubscribed CPU (load average above the core count)
a multi-threaded op waits at its OpenMP barrier for a descheduled worker, so with 2 threads the run
mostly measures scheduling stalls (both libraries ran 3-5x slower with 2 threads than with 1 on the 2-core
development machine at load ~6). Use ``--threads N`` on a quiet machine.

    python benchmarks/bench_training.py [--backbones transe distmult complex rotate] [--dim 128]
        [--batch-size 512] [--negatives 32] [--epochs 1] [--max-batches 0] [--warmup 2]
        [--rounds 1] [--threads 1] [--device cpu|cuda] [--filtered] [--pykeen-defaults] [--sharing 16]
"""

from __future__ import annotations

import argparse
import logging
import os
import time
import warnings
from dataclasses import dataclass, field

import torch
from rich.console import Console
from rich.table import Table

from vlkge_graph.models import build_model
from vlkge_graph.training.data import TrainingData
from vlkge_graph.training.loop import Trainer
from vlkge_graph.training.recipe import TrainingSpec

BACKBONES = ("transe", "distmult", "complex", "rotate")


@dataclass
class Timing:
    """Timed windows of one side: seconds, triples and per-batch losses (mean of the last window)."""

    seconds: float = 0.0
    triples: int = 0
    batches: int = 0
    losses: list[float] = field(default_factory=list)
    params: int = 0

    @property
    def rate(self) -> float:
        return self.triples / max(self.seconds, 1e-12)

    @property
    def loss(self) -> float:
        return sum(self.losses) / max(len(self.losses), 1)


def real_parameters(module: torch.nn.Module) -> int:
    """Trainable parameters counted in reals (a complex coordinate counts twice)."""
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in module.parameters() if p.requires_grad)


def sync(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def windows(num_batches: int, warmup: int, max_batches: int) -> tuple[int, int | None]:
    """(first timed batch, one past the last timed batch or None for the rest of the epoch)."""
    if warmup >= num_batches:
        raise SystemExit(f"--warmup {warmup} leaves no batch to time in an epoch of {num_batches}")
    if not max_batches:
        return warmup, None
    if warmup + max_batches > num_batches:
        raise SystemExit(f"--warmup + --max-batches ({warmup + max_batches}) exceeds the {num_batches} "
                         "batches of an epoch; lower --max-batches or use 0 for whole epochs")
    return warmup, warmup + max_batches


# -- vlkge-graph ------------------------------------------------------------------------------------
def run_ours(data: TrainingData, backbone: str, args: argparse.Namespace, device: torch.device,
             sharing: int = 0, side_per: str = "negative") -> Timing:
    options: dict[str, object] = {}
    if backbone == "transe":
        options = {"p": 1} if args.pykeen_defaults else {"p": 1, "normalize": False}
    elif backbone == "rotate":
        options = {"p": 2}
    torch.manual_seed(args.seed)
    model = build_model(backbone, data.num_entities, data.num_relations, args.dim, seen=data.seen(),
                        backbone_options=options)
    spec = TrainingSpec(mode="negatives", loss="logistic", reduction="mean", num_negatives=args.negatives,
                        corruption="uniform", filter_negatives=args.filtered, optimizer="adagrad", lr=0.1,
                        batch_size=args.batch_size, epochs=args.epochs, amp=False, seed=args.seed,
                        negative_sharing=sharing, side_per=side_per)
    trainer = Trainer(model, data, spec, device=device, progress=False)
    model.train()
    timing = Timing(params=real_parameters(model))
    for _ in range(args.epochs):
        batches = trainer._batches()
        first, stop = windows(len(batches), args.warmup, args.max_batches)
        losses: list[torch.Tensor] = []
        start = None
        for i, idx in enumerate(batches[:stop]):
            if i == first:
                start = sync(device)
            loss = trainer._step(idx)
            if i >= first:
                losses.append(loss)
                timing.triples += len(idx)
                timing.batches += 1
        assert start is not None
        timing.seconds += sync(device) - start
        timing.losses = [float(x) for x in losses]
    return timing


# -- PyKEEN -----------------------------------------------------------------------------------------
def pykeen_factories(data: TrainingData, args: argparse.Namespace):
    """The TriplesFactory of the train split with vlkge-graph's ids, and the one an epoch runs on
    (a shuffled prefix of warm-up + timed + one trailing batch when ``--max-batches`` is set)."""
    import numpy as np
    from pykeen.triples import TriplesFactory

    ent = np.asarray(data.entity_ids, dtype=object)
    rel = np.asarray(data.relation_ids, dtype=object)
    train = data.train.numpy()
    labels = np.stack([ent[train[:, 0]], rel[train[:, 1]], ent[train[:, 2]]], axis=1).astype(str)
    full = TriplesFactory.from_labeled_triples(
        labels, entity_to_id={e: i for i, e in enumerate(data.entity_ids)},
        relation_to_id={r: i for i, r in enumerate(data.relation_ids)})
    if not args.max_batches:
        return full, full
    needed = (args.warmup + args.max_batches + 1) * args.batch_size
    if needed > full.num_triples:
        raise SystemExit(f"--warmup + --max-batches need {needed} triples, the train split has "
                         f"{full.num_triples}; use --max-batches 0 for whole epochs")
    gen = torch.Generator().manual_seed(args.seed)
    subset = full.mapped_triples[torch.randperm(full.num_triples, generator=gen)[:needed]]
    return full, full.clone_and_exchange_triples(subset)


def run_pykeen(factories, backbone: str, args: argparse.Namespace, device: torch.device) -> Timing:
    import pykeen.models
    from pykeen.losses import SoftplusLoss
    from pykeen.training import SLCWATrainingLoop
    from pykeen.training.callbacks import TrainingCallback

    full, epoch_factory = factories
    cls = {"transe": pykeen.models.TransE, "distmult": pykeen.models.DistMult,
           "complex": pykeen.models.ComplEx, "rotate": pykeen.models.RotatE}[backbone]
    kwargs: dict[str, object] = {}
    if backbone == "transe":
        kwargs["scoring_fct_norm"] = 1
    if not args.pykeen_defaults:
        if backbone in ("transe", "distmult"):
            kwargs["entity_constrainer"] = None
        if backbone in ("distmult", "complex"):
            kwargs["regularizer"] = None
    model = cls(triples_factory=full, embedding_dim=args.dim, loss=SoftplusLoss(reduction="mean"),
                random_seed=args.seed, **kwargs).to(device)
    optimizer = torch.optim.Adagrad(model.get_grad_params(), lr=0.1)
    loop = SLCWATrainingLoop(model=model, triples_factory=full, optimizer=optimizer, negative_sampler="basic",
                             negative_sampler_kwargs={"num_negs_per_pos": args.negatives,
                                                      "filtered": args.filtered})
    batch_size = args.batch_size
    num_batches = -(-epoch_factory.num_triples // batch_size)
    first, stop = windows(num_batches, args.warmup, args.max_batches)
    timing = Timing(params=real_parameters(model))

    class Clock(TrainingCallback):
        """Timestamps at batch boundaries; per-batch losses of the timed window."""

        def __init__(self) -> None:
            super().__init__()
            self.batch = 0
            self.start = 0.0
            self.losses: list[float] = []
            self.open = False

        def pre_batch(self, **kwargs) -> None:
            if self.batch == first:
                self.start, self.open, self.losses = sync(device), True, []
            elif stop is not None and self.batch == stop and self.open:
                self._close(sync(device))
            self.batch += 1

        def on_batch(self, epoch: int, batch, batch_loss: float, **kwargs) -> None:
            if self.open:
                self.losses.append(batch_loss)
                timing.triples += int(batch["positives"].shape[0])
                timing.batches += 1

        def post_epoch(self, epoch: int, epoch_loss: float, **kwargs) -> None:
            if self.open:  # whole epochs: the window runs to the end of the epoch
                self._close(sync(device))
            self.batch = 0

        def _close(self, now: float) -> None:
            timing.seconds += now - self.start
            timing.losses = self.losses
            self.open = False

    loop.train(triples_factory=epoch_factory, num_epochs=args.epochs, batch_size=batch_size, use_tqdm=False,
               callbacks=[Clock()])
    return timing


def compare(data: TrainingData, factories, backbone: str, args: argparse.Namespace, device: torch.device,
            sharing: int, side_per: str) -> tuple[Timing, Timing, float]:
    """PyKEEN and vlkge-graph (negative sharing ``sharing``, corrupted end drawn per ``side_per``) timed in
    alternating order over ``--rounds``: both Timings pooled over the rounds, and the mean 1-minute load
    average seen."""
    theirs, ours = Timing(), Timing()
    loads = [os.getloadavg()[0]]
    for rnd in range(args.rounds):
        order = ("pykeen", "ours") if rnd % 2 == 0 else ("ours", "pykeen")
        for side in order:
            got = (run_pykeen(factories, backbone, args, device) if side == "pykeen"
                   else run_ours(data, backbone, args, device, sharing, side_per))
            acc = theirs if side == "pykeen" else ours
            acc.seconds += got.seconds
            acc.triples += got.triples
            acc.batches += got.batches
            acc.losses, acc.params = got.losses, got.params
            loads.append(os.getloadavg()[0])
    return theirs, ours, sum(loads) / len(loads)


# -- main -------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", choices=BACKBONES, default=list(BACKBONES))
    parser.add_argument("--dim", type=int, default=128, help="real dims (complex dims for ComplEx/RotatE)")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--negatives", type=int, default=32, help="negatives per positive")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-batches", type=int, default=0,
                        help="timed batches per epoch after the warm-up (0: the rest of the epoch)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed batches at the start of every epoch")
    parser.add_argument("--rounds", type=int, default=1, help="repeats per backbone, alternating the order")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads on both sides (0: torch's default); see the module docstring")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--filtered", action="store_true", help="filter known training triples from negatives")
    parser.add_argument("--pykeen-defaults", action="store_true",
                        help="PyKEEN's default regularisers/constrainers, the project's default TransE")
    parser.add_argument("--sharing", type=int, default=16,
                        help="chunk size of the shared-negatives row (0 or 1: independent negatives only)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    console = Console()
    if not console.is_terminal:  # piped or logged: do not squeeze the table into 80 columns
        console = Console(width=200)
    warnings.filterwarnings("ignore", message=".*pin_memory.*")
    logging.getLogger("pykeen").setLevel(logging.ERROR)
    logging.getLogger("torch_max_mem").setLevel(logging.ERROR)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    from vlkge_graph.errors import SourceMissingError
    from vlkge_graph.etl.readers import read_dataset

    try:
        data = TrainingData.from_tables(read_dataset("wn18rr"))
    except SourceMissingError as exc:
        console.print(f"[yellow]skipped: WN18RR not available ({exc})")
        return
    factories = pykeen_factories(data, args)
    load_start = os.getloadavg()
    window = (f"{args.max_batches} batches per epoch after {args.warmup} warm-up"
              if args.max_batches else f"whole epochs after {args.warmup} warm-up batches")
    console.print(f"WN18RR train: {len(data.train):,} triples, {data.num_entities:,} entities, "
                  f"{data.num_relations} relations | dim {args.dim}, batch {args.batch_size}, "
                  f"{args.negatives} negatives/positive ({'filtered' if args.filtered else 'unfiltered'}), "
                  f"softplus loss (mean), Adagrad lr 0.1, fp32 | device {device}, torch threads "
                  f"{torch.get_num_threads()}, {os.cpu_count()} CPUs | timed: {window}, {args.epochs} "
                  f"epoch(s), {args.rounds} round(s) | load average {load_start[0]:.2f} {load_start[1]:.2f} "
                  f"{load_start[2]:.2f}")

    variants = [("independent, end per positive", 0, "positive"), ("independent, end per negative", 0, "negative")]
    if args.sharing > 1:
        variants.append((f"shared, C={args.sharing}", args.sharing, "negative"))
    rows = []
    for backbone in args.backbones:
        for name, sharing, side_per in variants:
            theirs, ours, load = compare(data, factories, backbone, args, device, sharing, side_per)
            rows.append((backbone, name, theirs, ours, load))
            console.print(f"  {backbone} ({name} negatives): PyKEEN {theirs.rate:,.0f} triples/s, vlkge-graph "
                          f"{ours.rate:,.0f} triples/s ({ours.rate / theirs.rate:.2f}x)")

    title = (f"Training throughput, WN18RR train, dim {args.dim}, batch {args.batch_size}, {args.negatives} "
             f"negatives, {device}: {window}")
    table = Table(title=title)
    columns = ("backbone", "vlkge-graph negatives", "PyKEEN 1.11.1 triples/s", "vlkge-graph triples/s", "speedup",
               "loss PyKEEN", "loss vlkge-graph", "real params (both)", "timed batches", "load avg (1 min)")
    for col in columns:
        table.add_column(col, justify="left" if col in columns[:2] else "right")
    for backbone, name, theirs, ours, load in rows:
        speedup = ours.rate / theirs.rate
        params = (f"{ours.params:,}" if ours.params == theirs.params
                  else f"{theirs.params:,} / {ours.params:,}")
        table.add_row(backbone, name, f"{theirs.rate:,.0f}", f"{ours.rate:,.0f}",
                      f"[{'green' if speedup >= 3 else 'red'}]{speedup:.2f}x", f"{theirs.loss:.4f}",
                      f"{ours.loss:.4f}", params, f"{theirs.batches} / {ours.batches}", f"{load:.2f}")
    console.print(table)
    end = os.getloadavg()
    console.print(f"loss: mean batch loss of the last timed window, a sanity check only: initialisations and score "
                  f"offsets differ (TransE/RotatE margin 12 here, none in PyKEEN; PyKEEN's ComplEx starts from "
                  f"N(0, 1)). Load average at the end: {end[0]:.2f} {end[1]:.2f} {end[2]:.2f} "
                  f"on {os.cpu_count()} CPUs.")


if __name__ == "__main__":
    main()
