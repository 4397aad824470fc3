"""What the benchmark scripts share (run them from benchmarks/ or as ``python benchmarks/NAME.py``)."""

from __future__ import annotations

from rich.console import Console

from vlkge_graph.errors import SourceMissingError
from vlkge_graph.etl.readers import read_dataset
from vlkge_graph.etl.tables import TableSet


def dataset_or_skip(name: str, console: Console) -> TableSet | None:
    """The dataset, or None after printing why the benchmark is skipped (its files are not on this machine)."""
    try:
        return read_dataset(name)
    except SourceMissingError as exc:
        console.print(f"skipped: {exc}")
        return None
