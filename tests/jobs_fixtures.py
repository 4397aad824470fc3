"""A tiny graph and a fast structure-only sync, shared by the change-detection, job and scheduler tests."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from vlkge_graph.config import Config, PredictConfig, SyncConfig
from vlkge_graph.etl.tables import TableSet
from vlkge_graph.graph.connection import Graph
from vlkge_graph.graph.load import load_tables
from vlkge_graph.graph_filter import GraphFilter
from vlkge_graph.jobs.fingerprint import plugin_available

#: Structure only (no encoders), few epochs: a sync of the tiny graph takes a few seconds.
TINY_RECIPE = """
dataset: unused
model: {backbone: distmult, dim: 8}
training: {mode: 1vsall, loss: cross_entropy, optimizer: adam, lr: 0.05, batch_size: 64, epochs: EPOCHS, seed: 1}
"""


def tiny_tables(n: int = 24) -> TableSet:
    """``n`` entities in a ring with chords; every third has a text, every fourth an image reference."""
    ids = [f"e{i:02d}" for i in range(n)]
    entities = pd.DataFrame({
        "id": ids, "label": "Thing", "name": ids,
        "text": [f"thing number {i}" if i % 3 == 0 else None for i in range(n)],
        "images": [[f"/pictures/{i}.png"] if i % 4 == 0 else [] for i in range(n)]})
    heads = ids + ids[::2]
    tails = ids[1:] + ids[:1] + ids[5::2] + ids[1:5:2]
    triples = pd.DataFrame({"head": heads, "relation": ["next"] * n + ["near"] * (n // 2), "tail": tails,
                            "split": "train"})
    relations = pd.DataFrame({"relation": ["next", "near"], "type": ["NEXT", "NEAR"]})
    return TableSet("tiny", entities, relations, triples)


def tiny_sync_config(base: Config, label: str, work: Path, epochs: int = 2) -> Config:
    """A configuration whose ``sync`` section syncs ``label`` with the tiny recipe into ``work``/runs
    (each epoch is evaluated: about 0.1 s on a loaded 2-core machine)."""
    (work / "tiny-recipe.yaml").write_text(TINY_RECIPE.replace("EPOCHS", str(epochs)))
    return replace(base, sync=SyncConfig(graph=GraphFilter(entity_labels=[label]),
                                         recipe=str(work / "tiny-recipe.yaml"), predict=PredictConfig(k=3),
                                         runs_dir=str(work / "runs"), device="cpu"))


def tiny_scope(graph: Graph, base: Config, label: str, work: Path, epochs: int = 2) -> Config:
    """The tiny graph loaded as ``label`` and its sync configuration; skips, saying why, without the plugin's
    ``vlkge.fingerprint`` (change detection needs it)."""
    if not plugin_available(graph):
        pytest.skip("the test server has no vlkge.fingerprint: build the plugin before the test session")
    load_tiny(graph, label)
    return tiny_sync_config(base, label, work, epochs)


def load_tiny(graph: Graph, label: str, n: int = 24) -> None:
    load_tables(graph, tiny_tables(n), label, progress=False)
