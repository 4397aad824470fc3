"""The local server manager and the configuration file, against real processes and files."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from vlkge_graph.config import Config, LocalServerConfig, Neo4jConfig, load_config
from vlkge_graph.errors import ConfigError
from vlkge_graph.graph.connection import Graph, connect
from vlkge_graph.graph.schema import apply_schema, schema_statements
from vlkge_graph.graph.server import LocalServer, free_port


def test_config_env_overrides_and_secret_never_printed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "vlkge.yaml"
    path.write_text("neo4j:\n  uri: bolt://db:7687\n  password: s3cr3t-from-file\n")
    for var in ("NEO4J_URI", "NEO4J_USER"):
        monkeypatch.delenv(var, raising=False)  # CI points the tests at its server through these
    monkeypatch.setenv("NEO4J_PASSWORD", "s3cr3t-from-env")
    monkeypatch.setenv("NEO4J_DATABASE", "kg")
    config = load_config(path)
    assert config.neo4j.uri == "bolt://db:7687" and config.neo4j.database == "kg"
    assert config.neo4j.password.reveal() == "s3cr3t-from-env"  # type: ignore[union-attr]
    assert "s3cr3t" not in repr(config) and "s3cr3t" not in str(config) and "s3cr3t" not in f"{config.neo4j.password}"


@pytest.mark.parametrize(("text", "message"), [
    ("neo4j:\n  uri: bolt://x\n  pasword: y\n", r"neo4j: unknown key\(s\) \['pasword'\]"),
    ("local_server:\n  bolt_port: seven\n", r"local_server.bolt_port: expected int"),
    ("neo4j: [1, 2]\n", r"neo4j: expected a mapping"),
    ("namespace: Vlkge\n", r"unknown key\(s\) \['namespace'\]"),  # never used; removed
    ("max_image_pixels: -5\n", r"max_image_pixels: must be a positive number of pixels"),
    ("source: elsewhere.yaml\n", r"unknown key\(s\) \['source'\]"),  # set by load_config, not by the file
    ("neo4j:\n  uri: [unclosed\n", r"not valid YAML"),
    ("local_server:\n  settings:\n    db.x: [1]\n", r"local_server.settings.db.x: \[1\] matches no allowed type"),
])
def test_config_errors_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_wrong_password_is_not_echoed(tmp_path: Path) -> None:
    path = tmp_path / "vlkge.yaml"
    path.write_text("neo4j:\n  password: hunter2-is-secret\n  pasword: typo\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "hunter2" not in str(info.value)


def test_free_port_skips_a_taken_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        chosen = free_port(port)
    assert chosen != port and chosen > 0


def test_server_start_status_stop_round_trip(tmp_path: Path) -> None:
    """A second real server in its own home: start, reuse while running, stop exactly it."""
    server = LocalServer(LocalServerConfig(bolt_port=0, http_port=0, heap="512m", pagecache="128m",
                                           settings={"db.relationship_grouping_threshold": 1000}),
                         home=tmp_path / "home")
    state = server.start()
    try:
        assert server.start().pid == state.pid  # already running: reused, not started twice
        assert server.state() is not None
        conf = (tmp_path / "home" / "conf" / "neo4j.conf").read_text()
        assert f"127.0.0.1:{state.bolt_port}" in conf and "dbms.security.procedures.allowlist=vlkge.*" in conf
        with connect(Config(neo4j=Neo4jConfig(uri=state.uri)), start_local=False) as graph:  # extra settings apply
            assert graph.query("SHOW SETTINGS YIELD name, value WHERE name = 'db.relationship_grouping_threshold' "
                               "RETURN value") == [{"value": "1000"}]
    finally:
        assert server.stop() is True
    assert server.state() is None and server.stop() is False


def test_stale_state_file_is_ignored(tmp_path: Path) -> None:
    server = LocalServer(LocalServerConfig(), home=tmp_path)
    server.state_file.parent.mkdir(parents=True)
    server.state_file.write_text('{"pid": 1, "bolt_port": 1, "http_port": 2, "version": "x", '
                                 '"home": "/nowhere", "started_at": 0}')
    assert server.state() is None and not server.state_file.exists()


def test_schema_applies_twice_harmlessly(graph: Graph) -> None:
    assert apply_schema(graph) == apply_schema(graph) == len(schema_statements()) > 0
    names = {r["name"] for r in graph.query("SHOW CONSTRAINTS YIELD name RETURN name")}
    assert {"vlkge_run_id", "vlkge_lock_name"} <= names
