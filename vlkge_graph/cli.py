"""The ``vlkge-graph`` command line: a thin typer layer over the Python API.

Every command maps to one function of the package. Expected failures (bad data, bad configuration, a
Neo4j server that is down or refuses) are printed as one clear message and exit with status 2, for
every command in one place (``VlkgeGroup``); ``--verbose`` adds the traceback. Anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from neo4j.exceptions import AuthError, ConfigurationError, Neo4jError, ServiceUnavailable, SessionExpired
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from vlkge_graph.config import load_config
from vlkge_graph.errors import ConfigError, DataWarning, VlkgeError
from vlkge_graph.graph.connection import connect
from vlkge_graph.graph.load import LoadSummary
from vlkge_graph.graph.server import LocalServer

if TYPE_CHECKING:
    from vlkge_graph.etl.recipe import Recipe

console = Console()
if not console.is_terminal:  # a log file or CI: no terminal's width to fit, so tables and lines wrap less
    console.width = 120
err_console = Console(stderr=True)
#: The exit status of every expected failure (click uses 2 for usage errors too).
FAILURE_EXIT = 2


def failure_message(exc: BaseException) -> str | None:
    """The one-line message of an expected failure, or None for a bug (which keeps its traceback)."""
    if isinstance(exc, VlkgeError):
        return str(exc)
    if isinstance(exc, AuthError):
        return f"Neo4j refused the credentials: {exc.message}"
    if isinstance(exc, (ServiceUnavailable, SessionExpired)):
        return f"Neo4j is not reachable: {exc}"
    if isinstance(exc, Neo4jError):  # the server refused a request: its code names the reason
        return f"Neo4j refused the request ({exc.code}): {exc.message}"
    if isinstance(exc, ConfigurationError):
        return f"Neo4j driver configuration: {exc}"
    if isinstance(exc, OSError):
        return f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else str(exc)
    return None


class VlkgeGroup(TyperGroup):
    """Runs every command, turning expected failures into one message on stderr and exit status 2."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except Exception as exc:
            message = failure_message(exc)
            if message is None:
                raise
            if ctx.params.get("verbose"):
                err_console.print_exception()
            err_console.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
            raise typer.Exit(FAILURE_EXIT) from None


app = typer.Typer(help="Vision-language knowledge-graph embeddings for multimodal graphs in Neo4j.",
                  no_args_is_help=True, pretty_exceptions_enable=False, cls=VlkgeGroup)
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
def _setup(verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Debug logging, and the traceback of a failure.")] = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s",
                        handlers=[RichHandler(console=console, show_path=False, show_time=False)])
    logging.getLogger("neo4j").setLevel(logging.WARNING)
    warnings.showwarning = _show_warning


_default_showwarning = warnings.showwarning


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    """Data warnings (images dropped, ids stripped) as one line, without Python's source location."""
    if issubclass(category, DataWarning):
        err_console.print(Text.assemble(("warning: ", "yellow"), str(message)), soft_wrap=True)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


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


TriplesFlag = Annotated[bool, typer.Option(
    "--triples", help="The arguments are triples files (head, relation, tail per line; tab- or comma-separated, "
                      "as PyKEEN's TriplesFactory.from_path reads them), no recipe needed: the split comes from "
                      "each file name (train, valid, test), the label from their folder.")]
EntitiesOption = Annotated[Path | None, typer.Option(
    "--entities", help="With --triples: an entity table with a header: id, and any of name, text, image "
                       "(paths relative to the table, or URLs; several joined by |), label; other columns "
                       "become properties.")]


def _dataset_recipe(sources: list[str], triples: bool, entities: Path | None, label: str | None = None) -> str | Recipe:
    """The ETL recipe the arguments name: one recipe, or with ``--triples`` one built from the files."""
    from vlkge_graph.errors import ConfigError

    if triples:
        from vlkge_graph.etl.triples_files import recipe_from_files

        return recipe_from_files(sources, entities, label)
    if entities is not None:
        raise ConfigError("--entities goes with --triples (a recipe lists its own entity tables)")
    if len(sources) != 1:
        raise ConfigError(f"give one recipe, or triples files with --triples (got {len(sources)} arguments)")
    return sources[0]


@app.command()
def load(
    sources: Annotated[list[str], typer.Argument(
        metavar="RECIPE|FILES",
        help="Recipe name in etl/ (e.g. countries-mm, wn18rr) or a YAML path; with --triples, triples files.")],
    triples: TriplesFlag = False,
    entities: EntitiesOption = None,
    image_root: Annotated[str | None, typer.Option(help="Root folder for image paths (e.g. ImageNet).")] = None,
    label: Annotated[str | None, typer.Option(help="Dataset label to use instead of the recipe's (or the "
                                                   "folder's, with --triples).")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Rows per write transaction.")] = 10_000,
    config: ConfigOption = None,
) -> None:
    """Load a dataset recipe, or plain triples files, into Neo4j (batched MERGE; loading twice changes nothing)."""
    from vlkge_graph.graph.load import load_recipe

    cfg = load_config(config)
    recipe = _dataset_recipe(sources, triples, entities, label)
    with connect(cfg) as graph:
        tables, summary = load_recipe(graph, recipe, image_root=image_root, label=label,
                                      batch_size=batch_size, max_image_pixels=cfg.max_image_pixels)
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
    from vlkge_graph.jobs.summary import run_summary
    from vlkge_graph.jobs.sync import DEMO_SYNC
    from vlkge_graph.jobs.sync import sync as run_sync

    cfg = load_config(config)
    cfg = replace(cfg, sync=replace(DEMO_SYNC, runs_dir=cfg.sync.runs_dir))
    with connect(cfg) as graph:
        console.print(f"Neo4j: {graph.uri}")
        apply_schema(graph)
        tables, summary = load_recipe(graph, "countries-mm", max_image_pixels=cfg.max_image_pixels)
        _print_load_summary(tables.name, summary)
        state = run_sync(graph, cfg, device=device, console=console)
        console.print(run_summary(state))
        print_rows(graph.query(DEMO_QUERY, run_id=state.run_id), "predicted links (top by probability)")
    console.print("The predicted links more likely true than not (calibrated probability), in Neo4j Browser or "
                  "cypher-shell:\n"
                  "  MATCH (r:VlkgeRun {active: true}) MATCH (h)-[c:VLKGE_CANDIDATE {generation: r.generation}]->(t)\n"
                  "  WHERE c.probability > 0.5 RETURN h.name, c.relation, t.name, c.score, c.probability\n"
                  "  ORDER BY c.probability DESC LIMIT 25\n"
                  "Stop the local server with `vlkge-graph neo4j stop`.", markup=False)


DEMO_QUERY = """
MATCH (r:VlkgeRun {run_id: $run_id})
MATCH (h)-[c:VLKGE_CANDIDATE {generation: r.generation}]->(t)
WHERE c.rank = 1
RETURN h.name AS head, c.relation AS relation, t.name AS tail,
       round(c.score, 3) AS score, round(c.probability, 3) AS probability
ORDER BY c.probability DESC LIMIT 12
"""


@app.command()
def sync(
    config: ConfigOption = None,
    start: Annotated[str, typer.Option("--from", help="Resume from this stage: export, encode, train, evaluate, "
                                       "predict, publish, report (earlier stages' artifacts come from --run-dir or the "
                                       "latest run).")]
    = "export",
    run_dir: Annotated[Path | None, typer.Option(help="Run directory to resume (default: the scope's latest).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Everything but publishing to Neo4j.")] = False,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, cuda:1 (default: a GPU when present).")] = None,
    lock_wait: LockWaitOption = None,
    if_changed: Annotated[bool, typer.Option("--if-changed", help="Only when the scope's graph changed since its "
                                             "active run (recorded in `jobs history`).")] = False,
) -> None:
    """Export the graph, encode images and texts, train, evaluate, predict links, publish them to Neo4j and write
    the run's report."""
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
    from vlkge_graph.jobs.summary import run_summary
    from vlkge_graph.jobs.sync import sync as run_sync

    with connect(cfg) as graph:
        state = run_sync(graph, cfg, start=start, run_dir=run_dir, dry_run=dry_run, device=device, console=console)
    console.print(run_summary(state))


@app.command()
def report(
    run_dir: Annotated[Path | None, typer.Argument(
        help="A sync or refresh run directory (default: the latest run of the configured scope).")] = None,
    config: ConfigOption = None,
    output: Annotated[Path | None, typer.Option(help="Write here instead of RUN_DIR/report/.")] = None,
    device: DeviceOption = None,
) -> None:
    """Write a run's report: one self-contained HTML page (metrics, figures, sample predictions) plus PNG figures."""
    from vlkge_graph.jobs.sync import latest_run_dir
    from vlkge_graph.report import write_report

    if run_dir is None:
        try:
            run_dir = latest_run_dir(load_config(config))
        except ConfigError as exc:
            raise ConfigError(f"report: give a RUN_DIR, or configure the sync scope whose latest run to report ({exc})"
                              ) from exc
    written = write_report(run_dir, device=device, output=output)
    console.print(f"report of {run_dir.name}: {written.index} ({len(written.figures)} figures, "
                  f"{written.gallery_queries} sample queries)", soft_wrap=True)


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


def _print_load_summary(name: str, summary: LoadSummary) -> None:
    table = Table(title=f"{name}: loaded")
    table.add_column("what")
    table.add_column("in source", justify="right")
    table.add_column("created now", justify="right")
    by_label = summary.nodes_by_label
    by_type = summary.relationships_by_type
    table.add_row("nodes", f"{sum(by_label.values()):,}", f"{summary.nodes_created:,}")
    table.add_row("relationships", f"{sum(by_type.values()):,}", f"{summary.relationships_created:,}")
    for name_, count in {**by_label, **by_type}.items():
        table.add_row(f"  {name_}", f"{count:,}", "")
    console.print(table)


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
    files: Annotated[list[str] | None, typer.Argument(metavar="[FILES]",
                                                      help="with --triples: the triples files")] = None,
    dataset: Annotated[str | None, typer.Option(
        "--dataset", help="ETL recipe name/path or snapshot directory (default: the recipe's)")] = None,
    triples: TriplesFlag = False,
    entities: EntitiesOption = None,
    device: DeviceOption = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="ignore checkpoints in --output")] = False,
) -> None:
    """Train a VL-KGE model from a training recipe and evaluate it on the test split."""
    from vlkge_graph.errors import ConfigError
    from vlkge_graph.etl.recipe import save_recipe
    from vlkge_graph.training.api import DATASET_FILE, train

    if (files or triples or entities) and not (files and triples):
        raise ConfigError("train: --triples takes the triples files as arguments (and --entities goes with it)")
    if triples and dataset is not None:
        raise ConfigError("train: give --dataset or --triples, not both")
    if triples:  # the generated ETL recipe stays beside the model, so `evaluate --model` finds the data again
        built = _dataset_recipe(files or [], True, entities)
        assert not isinstance(built, str)
        dataset = str(save_recipe(built, output / DATASET_FILE))
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
    from vlkge_graph.training.api import evaluate

    evaluate(model, split=split, dataset=dataset, device=device, output=output)


def main() -> None:
    """Console entry point (``vlkge-graph``)."""
    app()


if __name__ == "__main__":  # python -m vlkge_graph.cli (the tests run the scheduler this way)
    main()
