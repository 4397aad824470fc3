"""``vlkge-graph scheduler``: the jobs of ``schedule.jobs`` on their cron schedules, with APScheduler 3.x.

- Misfires coalesce: runs missed while the machine slept (or while the job was still running) become one
  run, if it is not later than ``schedule.misfire_grace_s``; the same holds across a restart: a job whose
  last recorded run is older than a fire time it missed runs once at start.
- A job never overlaps itself (``max_instances=1``) nor another job of its scope, in this process or in
  another scheduler on the same database (the scope's job lock, waited for up to ``lock_wait_s``).
- A failed run is retried ``retries`` times after ``retry_backoff_s``, doubling; a retried retrain resumes
  its run directory. Failures never stop the scheduler.
- SIGTERM: see stop.py. A run interrupted by it (or by a kill) resumes from its last finished stage when
  the scheduler starts again.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from rich.console import Console

from vlkge_graph.config import Config
from vlkge_graph.errors import ConfigError
from vlkge_graph.graph.connection import Graph
from vlkge_graph.jobs import history
from vlkge_graph.jobs.cron import missed_fire_time, parse_cron, time_zone
from vlkge_graph.jobs.runner import next_stage, run_job
from vlkge_graph.jobs.stop import GracefulStop

log = logging.getLogger(__name__)


class Scheduler:
    """The scheduler process: one APScheduler, one Neo4j driver, one stop signal."""

    def __init__(self, graph: Graph, config: Config, jobs: list[str] | None = None, device: str | None = None,
                 console: Console | None = None) -> None:
        schedule = config.schedule
        unknown = sorted(set(jobs or []) - set(schedule.jobs))
        if unknown:
            raise ConfigError(f"no job(s) {unknown} in schedule.jobs; configured: {sorted(schedule.jobs)}")
        self.graph, self.config, self.device = graph, config, device
        self.console = console or Console(stderr=True)
        self.names = [n for n in (jobs or schedule.jobs) if schedule.jobs[n].cron is not None]
        if not self.names:
            raise ConfigError("schedule.jobs: no job with a cron expression to schedule (jobs without one run "
                              "only with `vlkge-graph jobs run NAME`)")
        self.scheduler = BlockingScheduler(
            timezone=time_zone(schedule.timezone), executors={"default": ThreadPoolExecutor(schedule.workers)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": int(schedule.misfire_grace_s)})
        self.stop = GracefulStop(schedule.stop_grace_s, on_first=self._shutdown)
        self.running: set[str] = set()
        self.first_trigger: dict[str, str] = {}
        self._lock = threading.Lock()

    def run(self) -> None:
        """Schedule the jobs and block until SIGTERM / SIGINT (then wait for the running jobs)."""
        self.stop.install()
        logging.getLogger("apscheduler.scheduler").setLevel(logging.WARNING)  # "Adding job tentatively ..."
        now = datetime.now(time_zone(self.config.schedule.timezone))
        for name in self.names:
            job = self.config.schedule.jobs[name]
            trigger = parse_cron(job.cron or "", job.timezone or self.config.schedule.timezone)
            start = self._startup_trigger(name, trigger, now)
            if start:
                self.first_trigger[name] = start
            first = now if start else trigger.get_next_fire_time(None, now)
            self.scheduler.add_job(self._run, trigger, args=[name], id=name, name=name, next_run_time=first)
            self.console.print(f"scheduled {name} ({job.action}, {job.cron}): first {start or 'run'} at {first}")
        self.scheduler.start()  # returns after the first signal
        while self.running:
            time.sleep(0.2)
        self.console.print("scheduler stopped")

    def _startup_trigger(self, name: str, trigger: CronTrigger, now: datetime) -> str | None:
        """``resume`` when the job's last run was interrupted mid-retrain, ``catch-up`` when a fire time passed
        since its last run (within the misfire grace), else None."""
        last = history.last_record(self.graph, name)
        if last is None:
            return None
        if last.get("status") in ("interrupted", "abandoned", "running") and last.get("run_dir") \
                and Path(last["run_dir"], "run.json").is_file() and next_stage(Path(last["run_dir"])):
            return "resume"
        started = last["started_at"].to_native()
        grace = timedelta(seconds=self.config.schedule.misfire_grace_s)
        return "catch-up" if missed_fire_time(trigger, started, now, grace) else None

    def _run(self, name: str) -> None:
        """One scheduled firing: the job, then its retries with backoff; never raises."""
        with self._lock:
            self.running.add(name)
            trigger = self.first_trigger.pop(name, "cron")
        try:
            self._attempts(name, trigger)
        finally:
            with self._lock:
                self.running.discard(name)

    def _attempts(self, name: str, trigger: str) -> None:
        job = self.config.schedule.jobs[name]
        resume: Path | None = None
        for attempt in range(1, job.retries + 2):
            if self.stop.event.is_set():
                return
            try:
                outcome = run_job(self.graph, self.config, name, job, trigger=trigger, attempt=attempt,
                                  resume_dir=resume, stop=self.stop.event, device=self.device, console=self.console)
            except Exception as exc:  # e.g. Neo4j unreachable before the run could be recorded
                log.error("job %s could not run (attempt %d): %s", name, attempt, exc)
                outcome = None
            if outcome is not None and outcome.status != "failed":
                return
            if attempt > job.retries:
                log.error("job %s failed %d time(s); next try at its next scheduled time", name, attempt)
                return
            delay = job.retry_backoff_s * 2 ** (attempt - 1)
            log.warning("job %s failed (attempt %d of %d); retrying in %.0f s", name, attempt, job.retries + 1, delay)
            if self.stop.event.wait(delay):
                return
            trigger = "retry"
            resume = None
            if outcome is not None and outcome.action == "retrain" and outcome.run_dir:
                run_dir = Path(outcome.run_dir)
                resume = run_dir if (run_dir / "run.json").is_file() and next_stage(run_dir) else None

    def _shutdown(self) -> None:
        self.scheduler.shutdown(wait=False)
