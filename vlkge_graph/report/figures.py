"""The report's figures, one function each: data in, a PNG file out (matplotlib, Agg backend).

One style for all of them (:func:`_figure`): the same fonts, palette, grid and resolution, titles that say
what is shown and axes that say in which unit, so the figures read alike in the HTML and on their own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: never a window, never a display needed
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

#: Model metrics, a second metric, the baseline/uncalibrated, the diagonal / reference lines.
PALETTE = {"main": "#2f6690", "second": "#81c3d7", "muted": "#d9822b", "reference": "#8a8a8a"}
WIDTH_IN = 7.5
DPI = 144
STYLE = {
    "font.size": 9.5, "axes.titlesize": 11, "axes.titleweight": "bold", "axes.labelsize": 9.5,
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3,
    "grid.linewidth": 0.6, "legend.frameon": False, "legend.fontsize": 8.5, "figure.dpi": DPI,
    "savefig.dpi": DPI, "savefig.bbox": "tight", "axes.axisbelow": True,
}
#: At most this many relations get a bar each; the rest are summarised in the title.
MAX_RELATIONS = 40
#: Longer axis labels are cut (from the left: a Freebase path's end says most), so the plot keeps its width.
LABEL_CHARS = 40


def short(label: str, chars: int = LABEL_CHARS) -> str:
    """``label``, or its last ``chars - 1`` characters after an ellipsis."""
    return label if len(label) <= chars else "…" + label[-(chars - 1):]


@contextmanager
def _figure(path: Path, height_in: float, *, nrows: int = 1, ncols: int = 1, width_in: float = WIDTH_IN,
            **subplots: Any) -> Iterator[tuple[Figure, Sequence[Axes]]]:
    """A figure in the report's style (its axes as one flat list), saved to ``path`` and closed on exit."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(nrows, ncols, figsize=(width_in, height_in), squeeze=False, layout="constrained",
                                 **subplots)
        try:
            yield fig, list(axes.flat)
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, facecolor="white")
        finally:
            plt.close(fig)


def relation_mrr(per_relation: Mapping[str, Mapping[str, float]], path: Path, split: str = "test") -> Path:
    """Horizontal bars of MRR per relation (best on top) with Hits@10 as ticks, query counts on the right:
    the paper's Figure 4."""
    rows = sorted(per_relation.items(), key=lambda kv: kv[1]["mrr"], reverse=True)
    shown = rows[:MAX_RELATIONS]
    names = [short(name) for name, _ in shown][::-1]
    mrr = [m["mrr"] for _, m in shown][::-1]
    hits10 = [m.get("hits@10") for _, m in shown][::-1]
    counts = [int(m["count"]) for _, m in shown][::-1]
    with _figure(path, 1.3 + 0.32 * len(shown)) as (fig, (ax,)):
        bars = ax.barh(names, mrr, color=PALETTE["main"], height=0.62, label="MRR")
        if all(h is not None for h in hits10):
            ax.scatter(hits10, names, marker="|", s=160, linewidths=2, color=PALETTE["muted"], label="Hits@10",
                       zorder=3)
        for bar, value, n in zip(bars, mrr, counts, strict=True):
            inside = value > 0.15  # the value inside a long bar, clear of the Hits@10 tick
            ax.text(value - 0.01 if inside else value + 0.01, bar.get_y() + bar.get_height() / 2, f"{value:.3f}",
                    va="center", ha="right" if inside else "left", fontsize=8, color="white" if inside else "black")
            ax.text(1.08, bar.get_y() + bar.get_height() / 2, f"n={n}", va="center", fontsize=8,
                    color=PALETTE["reference"], transform=ax.get_yaxis_transform())
        ax.set_xlim(0, 1.05)
        ax.set_xlabel(f"filtered {split} metric (0 to 1, higher is better)")
        ax.grid(axis="y", visible=False)
        more = f" (best {len(shown)} of {len(rows)})" if len(rows) > len(shown) else ""
        ax.set_title(f"Link prediction per relation, {split} split{more}", loc="left")
        fig.legend(loc="outside upper right", ncols=2)
    return path


def groups(groups: Mapping[str, Mapping[str, Mapping[str, float]]], path: Path, split: str = "test") -> Path:
    """One panel per grouping of the test queries (answer seen / unseen in training, the answer's modality
    bucket, ...): MRR and Hits@10 per bucket, query counts under the bucket names."""
    keys = list(groups)
    with _figure(path, 3.0, ncols=len(keys)) as (fig, axes):
        for ax, key in zip(axes, keys, strict=True):
            buckets = groups[key]
            names = list(buckets)
            x = range(len(names))
            width = 0.38
            mrr = [buckets[b]["mrr"] for b in names]
            hits = [buckets[b].get("hits@10", float("nan")) for b in names]
            left = ax.bar([i - width / 2 for i in x], mrr, width, color=PALETTE["main"], label="MRR")
            right = ax.bar([i + width / 2 for i in x], hits, width, color=PALETTE["second"], label="Hits@10")
            ax.bar_label(left, fmt="%.2f", fontsize=7.5, padding=1)
            ax.bar_label(right, fmt="%.2f", fontsize=7.5, padding=1)
            ax.set_xticks(list(x), [f"{b}\nn={int(buckets[b]['count'])}" for b in names])
            ax.set_ylim(0, 1.12)
            ax.set_title(f"by {key}", loc="left", fontsize=10)
            ax.grid(axis="x", visible=False)
        axes[0].set_ylabel(f"filtered {split} metric")
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside upper right", ncols=2)
        fig.suptitle(f"Link prediction by group of {split} queries", x=0.02, ha="left", fontweight="bold",
                     fontsize=11)
    return path


def training_curve(history: Sequence[Mapping[str, Any]], path: Path, best_epoch: int | None = None) -> Path:
    """Training loss per epoch (left axis) and validation MRR where it was evaluated (right axis), the kept
    (best) epoch marked."""
    epochs = [int(r["epoch"]) for r in history]
    loss = [float(r["loss"]) for r in history]
    valid = [(int(r["epoch"]), float(r["valid_mrr"])) for r in history if r.get("valid_mrr") is not None]
    with _figure(path, 3.2) as (_, (ax,)):
        ax.plot(epochs, loss, color=PALETTE["main"], linewidth=1.8, label="training loss")
        ax.set_xlabel("epoch")
        ax.set_ylabel("training loss (mean per example)", color=PALETTE["main"])
        handles = ax.get_lines()
        if valid:
            right = ax.twinx()
            right.plot(*zip(*valid, strict=True), color=PALETTE["muted"], marker="o", markersize=4, linewidth=1.5,
                       label="validation MRR")
            right.set_ylabel("validation MRR (filtered)", color=PALETTE["muted"])
            right.set_ylim(0, max(1e-3, max(v for _, v in valid)) * 1.15)
            right.grid(False)
            right.spines["right"].set_visible(True)
            handles = [*handles, *right.get_lines()]
        if best_epoch:
            line = ax.axvline(best_epoch, color=PALETTE["reference"], linestyle="--", linewidth=1,
                              label=f"kept model (epoch {best_epoch})")
            handles = [*handles, line]
        ax.legend(handles=handles, labels=[h.get_label() for h in handles], loc="upper center",
                  bbox_to_anchor=(0.5, -0.2), ncols=3)
        ax.set_title(f"Training: loss and validation MRR over {len(epochs)} epochs", loc="left")
    return path


def reliability(calibration: Mapping[str, Any], path: Path) -> Path:
    """The reliability diagram of the calibrated probabilities on the test split: observed share of true
    triples against the mean predicted probability per bin (the diagonal is perfect calibration), with
    the share of test pairs per bin below."""
    test = calibration["test"]
    bins = [b for b in test["bins"] if b["weight"] > 0]
    with _figure(path, 5.2, nrows=2, width_in=WIDTH_IN * 0.62, sharex=True,
                 gridspec_kw={"height_ratios": [3, 1]}) as (_, (ax, below)):
        ax.plot([0, 1], [0, 1], color=PALETTE["reference"], linestyle="--", linewidth=1, label="perfect calibration")
        widths = [b["hi"] - b["lo"] for b in bins]
        ax.bar([b["lo"] for b in bins], [b["observed"] for b in bins], widths, align="edge",
               color=PALETTE["second"], edgecolor="white", label="observed share true")
        ax.plot([b["mean_predicted"] for b in bins], [b["observed"] for b in bins], marker="o", markersize=4,
                color=PALETTE["main"], linewidth=1.5, label="calibrated")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_ylabel("observed share of true triples")
        ax.legend(loc="upper left")
        ax.set_title(f"Reliability ({calibration.get('method', '?')}, test split)\nECE {test['ece']:.3f} "
                     f"(uncalibrated {test['ece_uncalibrated']:.3f}), Brier {test['brier']:.3f} "
                     f"(uncalibrated {test['brier_uncalibrated']:.3f})", loc="left", fontsize=10)
        below.bar([b["lo"] for b in bins], [b["weight"] for b in bins], widths, align="edge",
                  color=PALETTE["main"], edgecolor="white")
        below.set_xlabel("predicted probability")
        below.set_ylabel("share of pairs")
    return path
