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


def test_scheduler_and_trainer_run_the_cli_against_the_neo4j_service() -> None:
    import typer

    from vlkge_graph.cli import app
    from vlkge_graph.config import ScheduleConfig, SyncConfig

    compose = yaml.safe_load((PROJECT_ROOT / "compose.yaml").read_text())
    services = compose["services"]
    neo4j = services["neo4j"]
    bolt = next(p.rsplit(":", 1)[-1] for p in neo4j["ports"] if p.endswith("7687"))
    password = neo4j["environment"]["NEO4J_AUTH"].split("/", 1)[1]
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["vlkge-graph"]' in dockerfile and "pip install --no-cache-dir -e ." in dockerfile
    cli = typer.main.get_command(app)
    mounts = {}
    for name in ("scheduler", "trainer"):
        service = services[name]
        assert service["build"] == "." and service["image"] == services["scheduler"]["image"], name
        env = service["environment"]
        assert env["NEO4J_URI"] == f"bolt://neo4j:{bolt}" and env["NEO4J_PASSWORD"] == password, name
        assert service["depends_on"]["neo4j"]["condition"] == "service_healthy", name
        # the command parses as the CLI would parse it (a renamed command or option fails here)
        command, *args = service["command"]
        commands = cli.commands  # type: ignore[attr-defined]  # a group of commands
        assert command in commands, (name, command)
        commands[command].make_context(command, list(args))
        volumes = {v.split(":")[1]: v.split(":")[0] for v in service["volumes"]}
        assert volumes[env["VLKGE_CONFIG"]] == "./vlkge.yaml", name
        runs = str(Path(service["working_dir"]) / SyncConfig().runs_dir)
        mounts[name] = volumes[runs]  # the default runs_dir, relative to the working directory
        assert mounts[name] in compose["volumes"], name
    assert mounts["scheduler"] == mounts["trainer"]  # change detection reads the trainer's snapshots
    devices = services["trainer"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"] and devices[0]["count"] >= 1
    assert "--device" in services["trainer"]["command"] and "cuda" in services["trainer"]["command"]
    grace = services["scheduler"]["stop_grace_period"]
    assert grace.endswith("s") and float(grace[:-1]) > ScheduleConfig().stop_grace_s  # SIGKILL after the grace
