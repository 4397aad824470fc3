"""What the job commands of the CLI do: ``scheduler``, ``jobs list | run | history``, ``refresh``,
``sync --if-changed`` (the typer layer is vlkge_graph/cli.py).

One-shot runs are recorded in the job history like scheduled ones (trigger ``cli`` or ``manual``).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from vlkge_graph.config import Config, JobConditions, JobConfig
from vlkge_graph.errors import ConfigError
from vlkge_graph.graph.connection import connect
from vlkge_graph.jobs.summary import run_summary
from vlkge_graph.jobs.sync import RUN_FILE, RunState


def run_scheduler(cfg: Config, jobs: list[str] | None, device: str | None, console: Console) -> None:
    from vlkge_graph.jobs.scheduler import Scheduler

    with connect(cfg) as graph:
        Scheduler(graph, cfg, jobs=jobs, device=device, console=console).run()


def jobs_table(cfg: Config) -> Table:
    """The configured jobs: scope, action, schedule, conditions and next run."""
    from vlkge_graph.jobs.cron import parse_cron, time_zone

    table = Table(title="schedule.jobs")
    for column in ("job", "scope", "action", "cron (time zone)", "when", "next run"):
        table.add_column(column)
    for name, job in cfg.schedule.jobs.items():
        zone = job.timezone or cfg.schedule.timezone
        nxt = "on demand" if job.cron is None else str(parse_cron(job.cron, zone).get_next_fire_time(
            None, datetime.now(time_zone(zone))))
        when = ", ".join(f"{k}={v}" for k, v in vars(job.when).items() if v not in (None, 0, False)) or "always"
        table.add_row(name, cfg.job_scope(name, job).scope_name, job.action, f"{job.cron or '-'} ({zone})", when, nxt)
    return table


def history_table(cfg: Config, job: str | None, scope: str | None, limit: int) -> Table:
    """Recorded job runs, newest first."""
    from vlkge_graph.jobs.history import records

    with connect(cfg) as graph:
        rows = records(graph, job=job, scope=scope, limit=limit)
    table = Table(title="job history (newest first)")
    for column in ("started", "job", "trigger", "status", "action", "changes", "stage seconds", "why / error"):
        table.add_column(column, overflow="fold")
    for r in rows:
        changes = "" if r["new_entities"] is None else (
            f"+{r['new_entities']} -{r['removed_entities']} ~{r['changed_entities']} entities, "
            f"+{r['new_facts']} -{r['removed_facts']} facts")
        stages = ", ".join(f"{k} {v:.1f}" for k, v in json.loads(r["stage_seconds"] or "{}").items())
        table.add_row((r["started_at"] or "")[:19], r["job"], f"{r['trigger']} #{r['attempt']}", r["status"],
                      r["action"] or "-", changes, stages, r["error"] or r["reason"] or "")
    return table


def run_configured(cfg: Config, name: str, force: bool, device: str | None, console: Console) -> None:
    """``jobs run NAME``: once, now, no retries."""
    if name not in cfg.schedule.jobs:
        raise ConfigError(f"no job {name!r} in schedule.jobs; configured: {sorted(cfg.schedule.jobs) or 'none'}")
    run_once(cfg, name, cfg.schedule.jobs[name], trigger="manual", force=force, device=device, console=console)


def refresh_once(cfg: Config, retrain_drift: float | None, device: str | None, console: Console) -> None:
    """``vlkge-graph refresh``: fold the changes of the sync scope into its active run (skips when unchanged)."""
    require_graph(cfg)
    job = JobConfig(action="refresh", when=JobConditions(changed=True, retrain_drift=retrain_drift),
                    lock_wait_s=cfg.sync.lock_wait_s)
    run_once(cfg, "refresh", job, trigger="cli", device=device, console=console)


def sync_if_changed(cfg: Config, device: str | None, dry_run: bool, console: Console) -> None:
    """``vlkge-graph sync --if-changed``: a full sync only when the scope changed since its active run."""
    require_graph(cfg)
    job = JobConfig(action="retrain", when=JobConditions(changed=True), lock_wait_s=cfg.sync.lock_wait_s)
    run_once(cfg, "sync-if-changed", job, trigger="cli", device=device, dry_run=dry_run, console=console)


def run_once(cfg: Config, name: str, job: JobConfig, *, trigger: str, console: Console, force: bool = False,
             device: str | None = None, dry_run: bool = False) -> None:
    """Run a job in this process (SIGTERM: see jobs/stop.py); exit status 1 when it failed, 3 when stopped."""
    from vlkge_graph.jobs.runner import run_job
    from vlkge_graph.jobs.stop import GracefulStop

    stop = GracefulStop(cfg.schedule.stop_grace_s).install()
    try:
        with connect(cfg) as graph:
            outcome = run_job(graph, cfg, name, job, trigger=trigger, force=force, stop=stop.event, device=device,
                              dry_run=dry_run, console=console)
    finally:
        stop.restore()
    if outcome.run_dir and (Path(outcome.run_dir) / RUN_FILE).is_file():
        console.print(run_summary(RunState.load(Path(outcome.run_dir))))
    if outcome.status == "failed":
        raise typer.Exit(1)
    if outcome.status == "interrupted":
        raise typer.Exit(3)


def require_graph(cfg: Config) -> None:
    if cfg.sync.graph is None:
        raise ConfigError("sync.graph: say which labels are entities, e.g. graph: {entity_labels: [Person]}")
