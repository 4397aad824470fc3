"""Running one job of a scope: take the scope's job lock, look at what changed, decide, act, record.

The decision, in order (``force`` skips the conditions):
1. a run of this job that was interrupted (SIGTERM, kill, lost lock) resumes its run directory from its
   first unfinished stage;
2. ``when.changed``: skip when the scope's graph is what its active run was trained on;
3. ``when.min_changed_entities``: skip when fewer entities are new, removed or edited;
4. ``when.retrain_drift``: a refresh becomes a retrain when the share of new entities or facts since the last
   retrain (not since the last refresh) reaches it;
5. ``retrain`` runs a full sync; ``refresh`` calls ``vlkge_graph.jobs.refresh.refresh(graph, config,
   changes, console=...)``.
Every run is recorded (history.py) whatever its outcome; a failure is an outcome, never an exception.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from vlkge_graph.config import Config, JobConfig, SyncConfig
from vlkge_graph.errors import Interrupted, VlkgeError
from vlkge_graph.graph.connection import Graph
from vlkge_graph.graph.lock import Lease, LockBusyError, hold_lock
from vlkge_graph.jobs import history
from vlkge_graph.jobs.changes import Changes, NoBaselineError, cache_snapshot_fingerprint, detect_changes

log = logging.getLogger(__name__)

JOB_LEASE_S = 60.0  # renewed every third of it while the job runs


class JobError(VlkgeError):
    """A job cannot do what it was asked to (the message says why)."""


class JobStopped(Interrupted):
    """The process was asked to stop (SIGTERM) while the job waited for its scope's lock."""


@dataclass
class JobOutcome:
    """What a job run did; ``status`` is succeeded, skipped, failed or interrupted."""

    record_id: str
    job: str
    scope: str
    status: str = "failed"
    action: str | None = None  # the action taken (after promotion), None when skipped
    reason: str = ""
    error: str | None = None
    run_id: str | None = None
    run_dir: str | None = None
    resumed_from: str | None = None
    stages: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    drift: float | None = None
    seconds: float = 0.0

    def record(self) -> dict[str, Any]:
        """The history record's properties."""
        return {"status": self.status, "action": self.action, "reason": self.reason, "error": self.error,
                "run_id": self.run_id, "run_dir": self.run_dir, "resumed_from": self.resumed_from,
                "stage_seconds": self.stages or None, "drift": self.drift, "seconds": round(self.seconds, 3),
                **self.counts}


#: Job runs of this process that hold their scope's lock: record id -> (graph, lease). A process stopped in
#: the middle of a stage records them as interrupted and releases their locks (stop.py).
ACTIVE: dict[str, tuple[Graph, Lease]] = {}


def run_job(graph: Graph, config: Config, name: str, job: JobConfig, *, trigger: str = "manual", attempt: int = 1,
            force: bool = False, resume_dir: Path | None = None, stop: threading.Event | None = None,
            device: str | None = None, dry_run: bool = False, console: Console | None = None) -> JobOutcome:
    """Run job ``name`` once and record it; never raises for the job's own failures."""
    console = console or Console(stderr=True)
    started = time.perf_counter()
    sync = config.job_scope(name, job)
    sync = replace(sync, lock_wait_s=max(sync.lock_wait_s, job.lock_wait_s), device=job.device or device or sync.device)
    scope = sync.scope_name
    record_id = history.start_record(graph, job=name, scope=scope, trigger=trigger, requested=job.action,
                                     attempt=attempt)
    outcome = JobOutcome(record_id, name, scope)
    changes: Changes | None = None
    try:
        with job_lock(graph, scope, job.lock_wait_s, stop) as lease:
            ACTIVE[record_id] = (graph, lease)
            history.mark_locked(graph, record_id)
            if history.mark_abandoned(graph, scope, keep=record_id):
                log.warning("scope %s: an earlier job run died before it finished; marked abandoned", scope)
            resume_dir = resume_dir or resumable_run(graph, name, record_id)
            if resume_dir is not None:
                outcome.action, outcome.resumed_from = "retrain", resume_dir.name
                outcome.reason = f"resuming run {resume_dir.name} from stage {next_stage(resume_dir)}"
            else:
                outcome.action, outcome.reason, changes = decide(graph, sync, job, force)
                if changes is not None:
                    outcome.counts, outcome.drift = changes.counts(), round(changes.drift, 6)
            history.update_record(graph, record_id, action=outcome.action, reason=outcome.reason,
                                  drift=outcome.drift, **outcome.counts)
            console.print(f"job {name} ({scope}): {outcome.reason}")
            if outcome.action is None:
                outcome.status = "skipped"
            elif outcome.action == "retrain":
                _retrain(graph, replace(config, sync=sync), outcome, resume_dir, stop, dry_run, console)
                outcome.status = "succeeded"
            else:
                _refresh(graph, replace(config, sync=sync), outcome, changes, console)
                outcome.status = "succeeded"
    except Interrupted as exc:  # SIGTERM: between two stages, or while waiting for the lock
        outcome.status, outcome.error = "interrupted", str(exc)
    except LockBusyError as exc:
        outcome.error = (f"a lock of scope {scope!r} (another job, or a publish) stayed taken longer than "
                         f"lock_wait_s ({job.lock_wait_s:.0f} s): {exc}")
    except Exception as exc:  # a job's failure is recorded; it never stops the scheduler
        outcome.error = str(exc) if isinstance(exc, VlkgeError) else f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, VlkgeError):
            log.error("job %s failed:\n%s", name, traceback.format_exc())
    finally:
        ACTIVE.pop(record_id, None)
        outcome.seconds = time.perf_counter() - started
        try:
            history.finish_record(graph, record_id, **outcome.record())
        except Exception as exc:  # Neo4j gone: the log still has it
            log.error("could not record the end of job run %s: %s", record_id, exc)
    console.print(f"job {name}: {outcome.status}" + (f": {outcome.error}" if outcome.error else ""))
    return outcome


def decide(graph: Graph, sync: SyncConfig, job: JobConfig, force: bool) -> tuple[str | None, str, Changes | None]:
    """(action or None to skip, why, the changes) for a job that does not resume an interrupted run."""
    when = job.when
    try:  # in detail even when the fingerprints differ: the history says what changed
        changes = detect_changes(graph, sync)
    except NoBaselineError as exc:
        if job.action == "refresh":
            raise JobError(f"cannot refresh: {exc}") from exc
        return "retrain", f"a full sync: {exc.short}", None
    if not force and when.changed and not changes.changed:
        return None, f"skipped: {changes.summary()}", changes
    if not force and changes.touched_entities < when.min_changed_entities:
        return None, (f"skipped: {changes.touched_entities} entities new, removed or edited, fewer than "
                      f"min_changed_entities {when.min_changed_entities}; {changes.summary()}"), changes
    if job.action == "refresh" and when.retrain_drift is not None and changes.drift >= when.retrain_drift:
        since = changes.since_retrain or {}
        after = f" since retrain {since['run_id']}" if since.get("run_id", changes.run_id) != changes.run_id else ""
        return "retrain", (f"promoted to retrain by drift: {changes.drift:.1%} >= retrain_drift "
                           f"{when.retrain_drift:.1%} ({since.get('new_entities', 0):,} new entities of "
                           f"{since.get('entities', 0):,}, {since.get('new_facts', 0):,} new facts of "
                           f"{since.get('facts', 0):,}{after})"), changes
    prefix = "forced" if force else job.action
    return job.action, f"{prefix}: {changes.summary()}", changes


def next_stage(run_dir: Path) -> str | None:
    """The first stage a sync run directory has not finished, or None when it has them all."""
    from vlkge_graph.jobs.sync import STAGES, RunState

    done = RunState.load(run_dir).stages
    return next((s for s, _ in STAGES if s not in done), None)


def resumable_run(graph: Graph, name: str, record_id: str) -> Path | None:
    """The run directory of the job's previous run if it was an interrupted retrain with stages left."""
    last = history.last_record(graph, name, before=record_id)
    if not last or last.get("status") not in ("interrupted", "abandoned") or last.get("action") != "retrain":
        return None
    run_dir = Path(last.get("run_dir") or "")
    if not last.get("run_dir") or not (run_dir / "run.json").is_file():
        return None
    return run_dir if next_stage(run_dir) else None


def _retrain(graph: Graph, config: Config, outcome: JobOutcome, resume_dir: Path | None,
             stop: threading.Event | None, dry_run: bool, console: Console) -> None:
    from vlkge_graph.jobs.sync import STAGES, RunState, new_run_dir, sync

    run_dir = resume_dir or new_run_dir(config)
    start = next_stage(run_dir) or "publish"
    outcome.run_dir, outcome.run_id = str(run_dir), run_dir.name
    history.update_record(graph, outcome.record_id, run_dir=outcome.run_dir, run_id=outcome.run_id)
    names = [s for s, _ in STAGES]
    todo = names[names.index(start):]
    try:
        sync(graph, config, start=start, run_dir=run_dir, dry_run=dry_run, console=console, interrupt=stop)
        cache_snapshot_fingerprint(run_dir)  # the next change check then reads it
    finally:
        stages = RunState.load(run_dir).stages
        outcome.stages = {s: float(stages[s].get("seconds", 0.0)) for s in todo if s in stages}


def _refresh(graph: Graph, config: Config, outcome: JobOutcome, changes: Changes | None, console: Console) -> None:
    from vlkge_graph.jobs.refresh import refresh
    from vlkge_graph.jobs.retention import prune_runs

    if changes is None or not changes.detailed:
        changes = detect_changes(graph, config.sync)
    prune_runs(graph, config, console, attempts=True)  # earlier attempts that failed (this job holds the lock)
    result = refresh(graph, config, changes, console=console)
    run_dir = Path(config.sync.runs_dir) / result.run_id
    cache_snapshot_fingerprint(run_dir)  # the next change check compares with the refreshed snapshot
    outcome.run_dir, outcome.run_id = str(run_dir), result.run_id
    outcome.stages = {s: float(v.get("seconds", 0.0)) for s, v in result.stages.items()}


@contextmanager
def job_lock(graph: Graph, scope: str, wait_s: float, stop: threading.Event | None = None,
             lease_s: float = JOB_LEASE_S) -> Iterator[Lease]:
    """The scope's job lock (``job:<scope>``), waiting up to ``wait_s`` for another job of the scope (or
    until ``stop`` is set); a thread renews its lease while the job runs."""
    deadline = time.monotonic() + wait_s
    with ExitStack() as stack:
        while True:
            try:
                lease = stack.enter_context(hold_lock(graph, f"job:{scope}", lease_s=lease_s))
                break
            except LockBusyError:
                if time.monotonic() >= deadline:
                    raise
                log.info("scope %s: waiting for another job of the scope to finish", scope)
                if stop is not None and stop.wait(1):
                    raise JobStopped("stopped while waiting for another job of the scope") from None
                if stop is None:
                    time.sleep(1)
        done = threading.Event()
        renewer = threading.Thread(target=_renew, args=(lease, done, lease_s / 3), daemon=True,
                                   name=f"vlkge-lease-{scope}")
        renewer.start()
        try:
            yield lease
        finally:
            done.set()
            renewer.join(timeout=5)


def _renew(lease: Lease, done: threading.Event, every_s: float) -> None:
    while not done.wait(every_s):
        try:
            lease.renew()
        except Exception as exc:  # keep trying: a Neo4j restart must not end the lease thread
            log.error("could not renew the job lock %s: %s", lease.names, exc)
