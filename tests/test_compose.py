"""compose.yaml cannot run here (no Docker engine), so check it stays consistent with the local server."""

from __future__ import annotations

from pathlib import Path

import yaml

from vlkge_graph.config import LocalServerConfig
from vlkge_graph.etl.sources import PROJECT_ROOT
from vlkge_graph.graph.server import PROJECT_PLUGIN_DIR, server_settings


def neo4j_env_name(setting: str) -> str:
    """The official image's convention: NEO4J_ + key, '_' doubled, '.' -> '_'."""
    return "NEO4J_" + setting.replace("_", "__").replace(".", "_")


def test_compose_mirrors_local_server_settings() -> None:
    compose = yaml.safe_load((PROJECT_ROOT / "compose.yaml").read_text())
    neo4j = compose["services"]["neo4j"]
    assert neo4j["image"].startswith("neo4j:5.26")
    local = server_settings(LocalServerConfig(), Path("/home"), 7687, 7474)
    env = neo4j["environment"]
    for key in ("server.memory.heap.max_size", "server.memory.heap.initial_size",
                "server.memory.pagecache.size", "dbms.security.procedures.allowlist",
                "dbms.usage_report.enabled"):
        assert str(env[neo4j_env_name(key)]) == local[key], key
    ports = {p.rsplit(":", 1)[-1] for p in neo4j["ports"]}
    assert ports == {"7687", "7474"} == {str(LocalServerConfig().bolt_port), str(LocalServerConfig().http_port)}
    mounts = {v.split(":")[1]: v.split(":")[0] for v in neo4j["volumes"]}
    assert (PROJECT_ROOT / mounts["/plugins"]).resolve() == PROJECT_PLUGIN_DIR.resolve()
