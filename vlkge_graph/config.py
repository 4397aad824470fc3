"""The project's configuration file (``vlkge.yaml``) with environment overrides for the connection.

Secrets come from the environment (``NEO4J_PASSWORD``) or the file and are wrapped in ``Secret`` so
they never show up in logs, reprs or error messages.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from vlkge_graph.errors import ConfigError
from vlkge_graph.graph_filter import GraphFilter
from vlkge_graph.identifiers import validate_identifier
from vlkge_graph.strict import build, read_yaml

DEFAULT_CONFIG = "vlkge.yaml"
NEO4J_VERSION = "5.26.30"


class Secret(str):
    """A string that prints as ``***``; ``reveal()`` returns the value for the driver."""

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def reveal(self) -> str:
        return str.__str__(self)


@dataclass(frozen=True)
class Neo4jConfig:
    """Connection to a Neo4j server. Without ``uri``, the project's local server is used."""

    uri: str | None = None
    user: str = "neo4j"
    password: str | None = None
    database: str = "neo4j"

    def __post_init__(self) -> None:
        if self.password is not None and not isinstance(self.password, Secret):
            object.__setattr__(self, "password", Secret(self.password))


@dataclass(frozen=True)
class LocalServerConfig:
    """The Neo4j Community server that ``vlkge-graph neo4j start`` runs from Maven Central jars."""

    version: str = NEO4J_VERSION
    home: str | None = None  # default: <cache>/neo4j/home-<version>
    bolt_port: int = 7687  # another free port is chosen when this one is taken
    http_port: int = 7474
    heap: str = "1g"
    pagecache: str = "512m"
    plugins: list[str] = field(default_factory=list)  # extra plugin jars copied into plugins/
    #: extra neo4j.conf settings, overriding the project's (a misspelt one stops the server from starting)
    settings: dict[str, str | int | float | bool] = field(default_factory=dict)


@dataclass(frozen=True)
class PredictConfig:
    """Which candidate links a sync proposes."""

    relations: list[str] | None = None  # relation names or relationship types; None: all
    directions: list[Literal["head", "tail"]] = field(default_factory=lambda: ["tail"])
    k: int = 10
    min_score: float | None = None
    constrain_labels: bool = True  # answers only from labels seen at that end of the relation


@dataclass(frozen=True)
class SyncConfig:
    """``vlkge-graph sync``: what to export, how to train, what to predict, where runs go."""

    graph: GraphFilter | None = None
    scope: str | None = None  # default: the first entity label
    recipe: str = "training/countries-mm.yaml"
    predict: PredictConfig = field(default_factory=PredictConfig)
    runs_dir: str = "runs"
    device: str | None = None
    lock_wait_s: float = 0  # how long publish waits for another publish's lock (0: fail at once)
    #: Start training from the scope's active run when its model has the same shape: its parameters and its
    #: optimiser state (``train/optimizer.pt``), rows matched by key (training/warm_start.py).
    warm_start: bool = True
    #: A refresh rewrites at most this many candidates in its one transaction; a larger change publishes a whole
    #: new generation in batches (still without training), as does a change the server refuses for its
    #: transaction memory (``dbms.memory.transaction.total.max``, 70% of the heap): 300,000 did not fit a 2 GB
    #: heap on WN18RR. Raise it with the server's heap.
    refresh_transaction_max: int = 100_000
    #: After each publish, keep this many of the scope's superseded (published) run directories, newest first,
    #: and remove older ones and failed runs (jobs/retention.py); the active run and its last retrain are always
    #: kept. None keeps every run.
    keep_runs: int | None = 10

    def __post_init__(self) -> None:
        if self.refresh_transaction_max < 0:
            raise ConfigError(f"sync.refresh_transaction_max: a number of candidates (0 or more), got "
                              f"{self.refresh_transaction_max}")
        if self.keep_runs is not None and (isinstance(self.keep_runs, bool) or not isinstance(self.keep_runs, int)
                                           or self.keep_runs < 0):
            raise ConfigError(f"sync.keep_runs: a number of run directories (0 or more) or null (keep all), got "
                              f"{self.keep_runs!r}")

    @property
    def scope_name(self) -> str:
        if self.scope:
            return self.scope
        if self.graph is None:
            raise ConfigError("sync.graph: say which labels are entities, e.g. graph: {entity_labels: [Person]}")
        return self.graph.entity_labels[0]


@dataclass(frozen=True)
class JobConditions:
    """When a scheduled job acts (see vlkge_graph/jobs/runner.py)."""

    changed: bool = True  # only when the scope's graph changed since its active run
    min_changed_entities: int = 0  # ... and at least this many entities are new, removed or edited
    #: A refresh becomes a retrain when the share of new entities or of new facts reaches this (0-1).
    retrain_drift: float | None = None

    def __post_init__(self) -> None:
        if self.min_changed_entities < 0:
            raise ConfigError(f"min_changed_entities: must be 0 or more, got {self.min_changed_entities}")
        if self.retrain_drift is not None and not 0 < self.retrain_drift <= 1:
            raise ConfigError(f"retrain_drift: a share between 0 and 1 (0.05 = 5%), got {self.retrain_drift}")


@dataclass(frozen=True)
class JobConfig:
    """One named job of ``schedule.jobs``."""

    #: 5 fields as crontab, or 6 with seconds first; None: run only on demand (`vlkge-graph jobs run NAME`).
    cron: str | None = None
    action: Literal["refresh", "retrain"] = "refresh"
    #: A name (of ``scopes``, or the ``sync`` section's scope) or an inline sync configuration; default ``sync``.
    scope: str | SyncConfig | None = None
    timezone: str | None = None  # IANA name; default schedule.timezone
    when: JobConditions = field(default_factory=JobConditions)
    retries: int = 2  # further attempts after a failure, with exponential backoff
    retry_backoff_s: float = 60
    lock_wait_s: float = 3600  # wait this long for another job (or publish) of the scope
    device: str | None = None

    def __post_init__(self) -> None:
        from vlkge_graph.jobs.cron import parse_cron, time_zone  # APScheduler only when a schedule is read

        if self.timezone is not None:
            time_zone(self.timezone)
        if self.cron is not None:
            parse_cron(self.cron, self.timezone or "UTC")
        if self.retries < 0 or self.retry_backoff_s < 0 or self.lock_wait_s < 0:
            raise ConfigError("retries, retry_backoff_s and lock_wait_s must not be negative")


@dataclass(frozen=True)
class ScheduleConfig:
    """``vlkge-graph scheduler``: named jobs and how the scheduler runs them."""

    timezone: str = "UTC"
    jobs: dict[str, JobConfig] = field(default_factory=dict)
    misfire_grace_s: float = 3600  # a run late by more than this (machine asleep, scheduler down) is skipped
    stop_grace_s: float = 60  # on SIGTERM, how long the stage in progress may take before it is abandoned
    workers: int = 2  # jobs of different scopes that may run at once

    def __post_init__(self) -> None:
        from vlkge_graph.jobs.cron import time_zone

        time_zone(self.timezone)
        for name in self.jobs:
            validate_identifier(name.replace("-", "_"), "job name (letters, digits, _ and -)")
        if self.workers < 1:
            raise ConfigError(f"workers: at least 1, got {self.workers}")


@dataclass(frozen=True)
class Config:
    neo4j: Neo4jConfig = field(default_factory=Neo4jConfig)
    local_server: LocalServerConfig = field(default_factory=LocalServerConfig)
    sync: SyncConfig = field(default_factory=SyncConfig)
    #: Further named sync configurations, for scheduled jobs (``schedule.jobs.NAME.scope: NAME``).
    scopes: dict[str, SyncConfig] = field(default_factory=dict)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    #: Images with more pixels count as unreadable (probable decompression bombs), in `load` (unless the
    #: recipe sets its own) and in sync's encode stage; default: PIL's limit, about 89 megapixels.
    max_image_pixels: int | None = None
    #: The file this configuration was read from ("" when none): errors about its keys name it.
    source: str = field(default="", metadata={"yaml": False})

    def __post_init__(self) -> None:
        if self.max_image_pixels is not None and self.max_image_pixels < 1:
            raise ConfigError("max_image_pixels: must be a positive number of pixels")
        for name in self.scopes:
            validate_identifier(name, "scope name")
        for name, job in self.schedule.jobs.items():
            self.job_scope(name, job)
    def scope_config(self, ref: str | SyncConfig | None) -> SyncConfig:
        """The sync configuration a job's ``scope`` names: ``scopes.NAME`` (its scope defaults to NAME), the
        ``sync`` section (by its scope name, or None), or an inline one."""
        if isinstance(ref, SyncConfig):
            return ref
        if ref is None or (self.sync.graph is not None and ref == self.sync.scope_name):
            return self.sync
        if ref in self.scopes:
            named = self.scopes[ref]
            return named if named.scope else replace(named, scope=ref)
        known = sorted({*self.scopes, *([self.sync.scope_name] if self.sync.graph is not None else [])})
        raise ConfigError(f"unknown scope {ref!r}; known: {known or 'none (add a sync: or scopes: section)'}")

    def job_scope(self, name: str, job: JobConfig) -> SyncConfig:
        """The job's sync configuration; errors name the job's key."""
        try:
            sync = self.scope_config(job.scope)
        except ConfigError as exc:
            raise ConfigError(f"schedule.jobs.{name}.scope: {exc}") from exc
        if sync.graph is None:
            raise ConfigError(f"schedule.jobs.{name}.scope: the scope has no graph; say which labels are "
                              "entities, e.g. sync: {graph: {entity_labels: [Person]}}")
        return sync


ENV_OVERRIDES = {"NEO4J_URI": "uri", "NEO4J_USER": "user", "NEO4J_PASSWORD": "password",
                 "NEO4J_DATABASE": "database"}


def load_config(path: str | Path | None = None) -> Config:
    """Read ``path`` (or ``./vlkge.yaml`` when it exists), then apply the ``NEO4J_*`` environment."""
    if path is None and Path(DEFAULT_CONFIG).exists():
        path = DEFAULT_CONFIG
    data = read_yaml(path) if path is not None else {}
    config = build(Config, data, f"{path}:" if path else "")
    env = {attr: os.environ[var] for var, attr in ENV_OVERRIDES.items() if os.environ.get(var)}
    if env:
        config = replace(config, neo4j=replace(config.neo4j, **env))
    return replace(config, source=str(path)) if path is not None else config
