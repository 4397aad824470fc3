"""The ``vlkge-graph`` command line: a thin typer layer over the Python API.

Every command maps to one function of the package; errors the user can act on (VlkgeError) are
printed as one clear line and exit with status 1 instead of a traceback.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from vlkge_graph.config import load_config
from vlkge_graph.errors import ConfigError, VlkgeError
from vlkge_graph.graph.connection import Graph, connect
from vlkge_graph.graph.load import LoadSummary
from vlkge_graph.graph.server import LocalServer
from vlkge_graph.identifiers import quote

console = Console()
app = typer.Typer(help="Vision-language knowledge-graph embeddings for multimodal graphs in Neo4j.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
neo4j_app = typer.Typer(help="Manage the local Neo4j 5.26 server (used when no NEO4J_URI is configured).",
                        no_args_is_help=True)
app.add_typer(neo4j_app, name="neo4j")

ConfigOption = Annotated[Path | None, typer.Option(
    "--config", "-c", envvar="VLKGE_CONFIG",
    help="Configuration file (default: ./vlkge.yaml when present). NEO4J_URI, NEO4J_USER, "
         "NEO4J_PASSWORD and NEO4J_DATABASE override its connection settings.")]
DeviceOption = Annotated[str | None, typer.Option("--device", help="cpu, cuda, cuda:1 (default: GPU if any)")]
LockWaitOption = Annotated[float | None, typer.Option(
    "--lock-wait", metavar="SECONDS", min=0,
    help="Wait up to this long when another publish holds a lock this one needs (default: sync.lock_wait_s, 0).")]


@app.callback()
def _setup(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s",
                        handlers=[RichHandler(console=console, show_path=False, show_time=False)])
    logging.getLogger("neo4j").setLevel(logging.WARNING)


# -- local server ---------------------------------------------------------------------------
@neo4j_app.command("start")
def neo4j_start(config: ConfigOption = None) -> None:
    """Fetch Neo4j's jars once (Maven Central), start the server on 127.0.0.1 and wait for Bolt."""
    cfg = load_config(config)
    state = LocalServer(cfg.local_server).start()
    console.print(f"Neo4j {state.version} running (pid {state.pid}): {state.uri}  "
                  f"browser http://127.0.0.1:{state.http_port}  home {state.home}")


@neo4j_app.command("stop")
def neo4j_stop(config: ConfigOption = None) -> None:
    """Stop the local server this project started (and only that one)."""
    stopped = LocalServer(load_config(config).local_server).stop()
    console.print("Neo4j stopped." if stopped else "No local Neo4j was running.")


@neo4j_app.command("status")
def neo4j_status(config: ConfigOption = None) -> None:
    """Say whether the local server runs, and where."""
    server = LocalServer(load_config(config).local_server)
    state = server.state()
    if state is None:
        console.print(f"Not running (home {server.home}).")
        raise typer.Exit(3)
    console.print(f"Running: pid {state.pid}, {state.uri}, http://127.0.0.1:{state.http_port}, "
                  f"home {state.home}")


# -- graph set-up and ETL ---------------------------------------------------------------------
@app.command()
def init(config: ConfigOption = None) -> None:
    """Apply cypher/schema/*.cypher (constraints and indexes); re-running it is harmless."""
    from vlkge_graph.graph.schema import apply_schema  # keeps --help fast

    with connect(load_config(config)) as graph:
        count = apply_schema(graph)
    console.print(f"Schema applied ({count} statements) on {graph.uri}.")


@app.command()
def load(
    recipe: Annotated[str, typer.Argument(help="Recipe name in etl/ (e.g. countries-mm, wn18rr) or a YAML path.")],
    image_root: Annotated[str | None, typer.Option(help="Root folder for image paths (e.g. ImageNet).")] = None,
    label: Annotated[str | None, typer.Option(help="Dataset label to use instead of the recipe's.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Rows per write transaction.")] = 10_000,
    config: ConfigOption = None,
) -> None:
    """Load a dataset recipe into Neo4j (batched MERGE; loading twice changes nothing)."""
    from vlkge_graph.graph.load import load_recipe

    with connect(load_config(config)) as graph:
        tables, summary = load_recipe(graph, recipe, image_root=image_root, label=label,
                                      batch_size=batch_size)
        _print_load_summary(tables.name, summary)


@app.command()
def demo(
    config: ConfigOption = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda (default: a GPU when present).")] = None,
) -> None:
    """End to end on the bundled Countries-MM graph: start Neo4j if needed, load, sync, show predicted links."""
    from dataclasses import replace

    from vlkge_graph.graph.load import load_recipe
    from vlkge_graph.graph.schema import apply_schema
    from vlkge_graph.jobs.sync import DEMO_SYNC
    from vlkge_graph.jobs.sync import sync as run_sync

    cfg = load_config(config)
    cfg = replace(cfg, sync=replace(DEMO_SYNC, runs_dir=cfg.sync.runs_dir))
    with connect(cfg) as graph:
        console.print(f"Neo4j: {graph.uri}")
        apply_schema(graph)
        tables, summary = load_recipe(graph, "countries-mm")
        _print_load_summary(tables.name, summary)
        state = run_sync(graph, cfg, device=device, console=console)
        print_stage_summary(state.stages)
        print_rows(graph.query(DEMO_QUERY, run_id=state.run_id), "predicted links (top by probability)")
    console.print("All predicted links, in Neo4j Browser or cypher-shell:\n"
                  "  MATCH (h)-[c:VLKGE_CANDIDATE]->(t) RETURN h.name, c.relation, t.name, c.score, c.probability\n"
                  "  ORDER BY c.probability DESC LIMIT 25\n"
                  "Stop the local server with `vlkge-graph neo4j stop`.", markup=False)


DEMO_QUERY = """
MATCH (h:Country)-[c:VLKGE_CANDIDATE {run_id: $run_id}]->(t)
WHERE c.rank = 1
RETURN h.name AS head, c.relation AS relation, t.name AS tail,
       round(c.score, 3) AS score, round(c.probability, 3) AS probability
ORDER BY c.probability DESC LIMIT 12
"""


@app.command()
def sync(
    config: ConfigOption = None,
    start: Annotated[str, typer.Option("--from", help="Resume from this stage: export, encode, train, predict, "
                                       "publish (earlier stages' artifacts come from --run-dir or the latest run).")]
    = "export",
    run_dir: Annotated[Path | None, typer.Option(help="Run directory to resume (default: the scope's latest).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Everything but publishing to Neo4j.")] = False,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, cuda:1 (default: a GPU when present).")] = None,
    lock_wait: LockWaitOption = None,
    if_changed: Annotated[bool, typer.Option("--if-changed", help="Only when the scope's graph changed since its "
                                             "active run (recorded in `jobs history`).")] = False,
) -> None:
    """Export the graph, encode images and texts, train, evaluate, predict links and publish them to Neo4j."""
    from dataclasses import replace

    cfg = load_config(config)
    if lock_wait is not None:
        cfg = replace(cfg, sync=replace(cfg.sync, lock_wait_s=lock_wait))
    if if_changed:
        if start != "export" or run_dir is not None:
            raise ConfigError("--if-changed starts a new sync when the graph changed; it cannot resume one "
                              "(--from, --run-dir)")
        from vlkge_graph.jobs.commands import sync_if_changed

        sync_if_changed(cfg, device, dry_run, console)
        return
    from vlkge_graph.jobs.sync import sync as run_sync

    with connect(cfg) as graph:
        state = run_sync(graph, cfg, start=start, run_dir=run_dir, dry_run=dry_run, device=device, console=console)
    print_stage_summary(state.stages)


# -- scheduled jobs (vlkge_graph/jobs/) --------------------------------------------------------
jobs_app = typer.Typer(help="Scheduled re-embedding jobs (schedule.jobs in vlkge.yaml): list, run one, history.",
                       no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")


@app.command()
def scheduler(
    config: ConfigOption = None,
    job: Annotated[list[str] | None, typer.Option("--job", help="Run only these jobs (repeatable).")] = None,
    device: DeviceOption = None,
) -> None:
    """Run the jobs of schedule.jobs on their cron schedules until SIGTERM (see the README)."""
    from vlkge_graph.jobs.commands import run_scheduler

    run_scheduler(load_config(config), job, device, console)


@app.command()
def refresh(
    config: ConfigOption = None,
    retrain_drift: Annotated[float | None, typer.Option(
        min=0, max=1, help="Retrain instead when the share of new entities or of new facts reaches this.")] = None,
    device: DeviceOption = None,
) -> None:
    """Fold new and edited entities of the sync scope into its active run without retraining (skipped when
    nothing changed)."""
    from vlkge_graph.jobs.commands import refresh_once

    refresh_once(load_config(config), retrain_drift, device, console)


@jobs_app.command("list")
def jobs_list(config: ConfigOption = None) -> None:
    """The configured jobs: scope, action, schedule, conditions and next run."""
    from vlkge_graph.jobs.commands import jobs_table

    console.print(jobs_table(load_config(config)))


@jobs_app.command("run")
def jobs_run(
    name: Annotated[str, typer.Argument(help="A job of schedule.jobs.")],
    config: ConfigOption = None,
    force: Annotated[bool, typer.Option("--force", help="Act even when its conditions say to skip.")] = False,
    device: DeviceOption = None,
) -> None:
    """Run one job now (once, no retries), recorded in the job history with trigger `manual`."""
    from vlkge_graph.jobs.commands import run_configured

    run_configured(load_config(config), name, force, device, console)


@jobs_app.command("history")
def jobs_history(
    config: ConfigOption = None,
    job: Annotated[str | None, typer.Option(help="Only this job.")] = None,
    scope: Annotated[str | None, typer.Option(help="Only this scope.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many runs.")] = 20,
) -> None:
    """Recorded job runs, newest first: what changed, what was done and why, stage seconds, outcome."""
    from vlkge_graph.jobs.commands import history_table

    console.print(history_table(load_config(config), job, scope, limit))


@app.command()
def unpublish(
    scope: Annotated[str, typer.Option(help="The scope (a sync's `sync.graph`) to retire.")],
    config: ConfigOption = None,
    lock_wait: LockWaitOption = None,
) -> None:
    """Retire a scope: remove its candidate links, relation parameters and embeddings from Neo4j; its run
    nodes stay as history (status retired). Frees its entity labels for another scope."""
    from vlkge_graph.graph.publish import unpublish as retire

    cfg = load_config(config)
    with connect(cfg) as graph:
        removed = retire(graph, scope, lock_wait_s=cfg.sync.lock_wait_s if lock_wait is None else lock_wait)
    console.print(f"scope {scope}: {removed:,} candidate links removed, embeddings cleared; its runs are kept "
                  "as history (status retired)")


@app.command()
def query(
    name: Annotated[str | None, typer.Argument(help="Query in cypher/queries/ (omit to list them).")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="key=value (JSON values parsed).")]
    = None,
    config: ConfigOption = None,
) -> None:
    """Run a query of the Cypher library (top candidates, accept / reject, run history, similar entities)."""
    from vlkge_graph.graph.queries import load_query, parse_param, query_names, run_query

    if name is None:
        for query_name in query_names():
            q = load_query(query_name)
            console.print(f"[bold]{query_name}[/]: {q.purpose}  (parameters: {', '.join(q.parameters)})")
        return
    params = dict(parse_param(p) for p in param or [])
    with connect(load_config(config)) as graph:
        print_rows(run_query(graph, name, params), name)


def print_stage_summary(stages: dict[str, dict[str, object]]) -> None:
    """One row per stage: seconds and its main numbers."""
    table = Table(title="sync summary")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    table.add_column("result")
    for name, info in stages.items():
        rest = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in info.items() if k != "seconds")
        table.add_row(name, f"{info.get('seconds', 0):.1f}", rest[:200])
    console.print(table)


def _print_load_summary(name: str, summary: LoadSummary) -> None:
    table = Table(title=f"{name}: loaded")
    table.add_column("what")
    table.add_column("in source", justify="right")
    table.add_column("created now", justify="right")
    by_label = summary.nodes_by_label
    by_type = summary.relationships_by_type
    table.add_row("nodes", str(sum(by_label.values())), str(summary.nodes_created))
    table.add_row("relationships", str(sum(by_type.values())),
                  str(summary.relationships_created))
    for name_, count in {**by_label, **by_type}.items():
        table.add_row(f"  {name_}", str(count), "")
    console.print(table)


def _print_graph_overview(graph: Graph, label: str) -> None:
    ds = quote(label, "dataset label")
    print_rows(graph.query(f"MATCH (n:{ds}) UNWIND labels(n) AS label WITH label WHERE label <> $ds "
                           "RETURN label, count(*) AS nodes ORDER BY label", ds=label), "nodes by label")
    print_rows(graph.query(f"MATCH (:{ds})-[r]->(:{ds}) RETURN type(r) AS type, count(*) AS relationships "
                           "ORDER BY type"), "relationships by type")


def print_rows(rows: list[dict[str, object]], title: str) -> None:
    """Print query records as a table (columns from the first record)."""
    table = Table(title=title)
    for key in rows[0] if rows else []:
        table.add_column(key)
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)


# The training commands import torch only when they run, so `--help` and the graph commands start fast.
RecipeOption = Annotated[Path, typer.Option("--recipe", help="training recipe, e.g. training/kinships-complex.yaml")]


@app.command("train")
def train_command(
    recipe: RecipeOption,
    output: Annotated[Path, typer.Option("--output", help="directory for checkpoints, model.pt, metrics.json")],
    dataset: Annotated[str | None, typer.Option(
        "--dataset", help="ETL recipe name/path or snapshot directory (default: the recipe's)")] = None,
    device: DeviceOption = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="ignore checkpoints in --output")] = False,
) -> None:
    """Train a VL-KGE model from a training recipe and evaluate it on the test split."""
    from vlkge_graph.training.commands import train

    train(recipe, dataset=dataset, device=device, output=output, resume=not fresh)


@app.command("evaluate")
def evaluate_command(
    model: Annotated[Path, typer.Option("--model", help="model.pt, a checkpoint, or a train --output dir")],
    split: Annotated[str, typer.Option("--split", help="valid or test")] = "test",
    dataset: Annotated[str | None, typer.Option(
        "--dataset", help="ETL recipe name/path or snapshot directory (default: the recipe's)")] = None,
    device: DeviceOption = None,
    output: Annotated[Path | None, typer.Option("--output", help="write metrics-<split>.json here")] = None,
) -> None:
    """Evaluate a trained model with filtered ranking (MRR, Hits@1/3/10) under its recipe's protocol."""
    from vlkge_graph.training.commands import evaluate

    evaluate(model, split=split, dataset=dataset, device=device, output=output)


def main() -> None:
    """Console entry point: run the app, turning VlkgeError into a one-line message."""
    try:
        app()
    except VlkgeError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise SystemExit(1) from None


if __name__ == "__main__":  # python -m vlkge_graph.cli (the tests run the scheduler this way)
    main()
