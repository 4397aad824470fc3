"""A run's stages as a table people read: stage, seconds, and each stage's results in words.

Shared by ``sync``, ``refresh``, ``demo`` and ``jobs run``; it renders whatever a stage recorded in
``run.json`` (jobs/sync.py), so a new stage needs no code here, only readable names for new keys.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rich.table import Table

if TYPE_CHECKING:
    from vlkge_graph.jobs.sync import RunState

#: Readable names of the keys stages record; other keys read with spaces for underscores.
LABELS = {
    "mrr": "MRR", "mr": "MR", "hits@1": "Hits@1", "hits@3": "Hits@3", "hits@10": "Hits@10", "count": "queries",
    "best_valid_mrr": "best valid MRR", "jaccard_at_k": "Jaccard@k of unchanged lists", "triples": "facts",
    "entities_with_text": "with a text", "entities_with_image": "with an image", "with_input": "with input",
    "dim": "dimensions", "lists": "top-k lists", "touched_lists": "top-k lists touched",
    "candidates_written": "candidates written", "removed_candidates": "candidates removed",
    "embedding_property": "property", "counts": "", "encoder": "",
}
#: Keys that identify rather than describe (hashes, ids); not shown.
HIDDEN = {"seconds", "data_hash", "encoder_id", "modality", "run_id"}
#: Keys whose count reads better after its name ("best epoch 3", not "3 best epoch").
NAME_FIRST = {"best_epoch", "generation"}
#: Counts that say nothing when they are zero.
UNLESS_ZERO = {"failed_images"}


def run_summary(state: RunState) -> Table:
    """The summary of a run (``run.json``), titled with its kind and id."""
    return summary_table(state.stages, title=f"{state.kind} {state.run_id}")


def summary_table(stages: Mapping[str, Mapping[str, Any]], title: str = "run summary") -> Table:
    """One row per stage: its seconds and its results; a last row with the total time."""
    table = Table(title=title, title_justify="left")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    table.add_column("results", overflow="fold")
    for name, info in stages.items():
        table.add_row(name, f"{float(info.get('seconds', 0.0)):,.1f}", stage_results(info))
    total = sum(float(info.get("seconds", 0.0)) for info in stages.values())
    table.add_section()
    table.add_row("total", f"{total:,.1f}", "")
    return table


def stage_results(info: Mapping[str, Any]) -> str:
    """A stage's recorded results in words: scalars on the first line, each nested group on its own."""
    flat = describe({k: v for k, v in info.items() if not isinstance(v, Mapping)})
    groups = [f"{label(k)}: {describe(v)}" if label(k) else describe(v)
              for k, v in info.items() if isinstance(v, Mapping) and k not in HIDDEN and describe(v)]
    return "\n".join(line for line in [flat, *groups] if line) or "-"


def describe(values: Mapping[str, Any]) -> str:
    """``{"entities": 595, "mrr": 0.53}`` -> ``595 entities, MRR 0.5300`` (nested mappings inline)."""
    parts = []
    for key, value in values.items():
        if (key in HIDDEN or value is None or value is False or (isinstance(value, Mapping) and not value)
                or (key in UNLESS_ZERO and value == 0)):
            continue
        name = label(key)
        if value is True:
            parts.append(name)
        elif isinstance(value, Mapping):
            parts.append(f"{name} ({describe(value)})" if name else describe(value))
        elif isinstance(value, int) and key not in NAME_FIRST:
            parts.append(f"{value:,} {name}")
        else:
            parts.append(f"{name} {number(value)}" if name else number(value))
    return ", ".join(parts)


def label(key: str) -> str:
    return LABELS.get(key, key.replace("_", " "))


def number(value: Any) -> str:
    """Thousands separators for counts; four decimals for scores below 1, two above; a dash for NaN."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if math.isnan(value):
        return "-"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.2f}" if abs(value) >= 1 else f"{value:.4f}"
