"""Bad input during a sync: missing image files are counted, not fatal; Neo4j going away is a clear error."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from vlkge_graph.config import Config, LocalServerConfig, Neo4jConfig, SyncConfig
from vlkge_graph.errors import VlkgeError
from vlkge_graph.etl.tables import TableSet
from vlkge_graph.graph.connection import Graph, connect
from vlkge_graph.graph.export import export_tables
from vlkge_graph.graph.load import load_tables
from vlkge_graph.graph.server import LocalServer
from vlkge_graph.graph_filter import GraphFilter
from vlkge_graph.jobs.sync import sync

RECIPE = """
dataset: unused
features: {image: efficientnet-lite0}
model: {backbone: distmult, dim: 8}
training: {mode: 1vsall, loss: cross_entropy, optimizer: adam, lr: 0.05, batch_size: 16, epochs: 2, seed: 1}
"""


def picture_graph(tmp_path: Path) -> TableSet:
    ids = [f"p{i}" for i in range(12)]
    images = []
    for i, node in enumerate(ids):
        path = tmp_path / f"{node}.png"
        if i % 4 != 0:  # every fourth picture is missing on disk
            Image.new("RGB", (32, 24), (20 * i, 100, 200 - 10 * i)).save(path)
        images.append([str(path)])
    entities = pd.DataFrame({"id": ids, "label": "Picture", "name": ids, "text": None, "images": images})
    triples = pd.DataFrame({"head": ids, "relation": "next", "tail": ids[1:] + ids[:1], "split": "train"})
    return TableSet("pictures", entities, pd.DataFrame({"relation": ["next"], "type": ["NEXT"]}), triples)


def test_missing_image_files_are_counted_and_the_sync_goes_on(graph: Graph, neo4j_config: Config,
                                                               unique_label: str, tmp_path: Path) -> None:
    load_tables(graph, picture_graph(tmp_path), unique_label, progress=False)
    (tmp_path / "recipe.yaml").write_text(RECIPE)
    cfg = replace(neo4j_config, sync=SyncConfig(graph=GraphFilter(entity_labels=[unique_label]),
                                                recipe=str(tmp_path / "recipe.yaml"), runs_dir=str(tmp_path / "runs")))
    state = sync(graph, cfg, dry_run=True, device="cpu")
    report = state.stages["encode"]["image"]
    assert report["with_input"] == 12 and report["missing"] + report["failed_images"] >= 3
    assert report["encoded"] + report["from_cache"] == 9
    assert state.stages["predict"]["candidates"] > 0 and "publish" not in state.stages


def test_neo4j_gone_during_export_is_a_clear_error(tmp_path: Path, unique_label: str) -> None:
    """The server stops between two exports on one open connection: reads are retried by the driver,
    then the export fails with a message naming the server, and nothing was written."""
    server = LocalServer(LocalServerConfig(bolt_port=0, http_port=0, heap="512m", pagecache="64m"),
                         home=tmp_path / "home")
    uri = server.start().uri
    try:
        with connect(Config(neo4j=Neo4jConfig(uri=uri)), start_local=False) as graph:
            load_tables(graph, picture_graph(tmp_path), unique_label, progress=False)
            flt = GraphFilter(entity_labels=[unique_label])
            assert len(export_tables(graph, flt, "x", page=5).triples) == 12
            server.stop()
            with pytest.raises(VlkgeError, match="retries ran out") as info:
                export_tables(graph, flt, "x", page=5)
            assert uri in str(info.value)
    finally:
        server.stop()
