"""Job history in Neo4j: one ``VlkgeJobRun`` node per job run (see docs/graph-model.md).

A record is created when a job starts (``status: running``) and completed when it ends, so a process
that died leaves a ``running`` record behind; the next run of the scope, holding the scope's job lock,
marks such records ``abandoned``. ``cypher/queries/job-history.cypher`` reads them back.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from datetime import UTC, datetime
from typing import Any

from vlkge_graph.graph.connection import Graph
from vlkge_graph.graph.schema import apply_schema

LABEL = "VlkgeJobRun"
#: What a finished record holds besides its identity (None values are left unset).
FIELDS = ("status", "action", "reason", "new_entities", "removed_entities", "changed_entities", "new_facts",
          "removed_facts", "drift", "stage_seconds", "seconds", "run_id", "run_dir", "resumed_from", "error")
FINISHED = ("succeeded", "skipped", "failed", "interrupted", "abandoned")


def start_record(graph: Graph, *, job: str, scope: str, trigger: str, requested: str, attempt: int = 1) -> str:
    """Create the running record of a job run; returns its id."""
    apply_schema(graph)  # the record's uniqueness constraint and indexes
    record_id = f"{job}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    graph.execute(f"CREATE (j:{LABEL} {{id: $id}}) SET j += $props, j.started_at = datetime(), j.status = 'running'",
                  id=record_id, props={"job": job, "scope": scope, "trigger": trigger, "requested_action": requested,
                                       "attempt": attempt, "host": socket.gethostname(), "pid": os.getpid()})
    return record_id


def update_record(graph: Graph, record_id: str, **props: Any) -> None:
    """Set properties of a record (maps are stored as JSON strings; None values are skipped)."""
    values = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in props.items() if v is not None}
    graph.execute(f"MATCH (j:{LABEL} {{id: $id}}) SET j += $props", id=record_id, props=values)


def mark_locked(graph: Graph, record_id: str) -> None:
    """The run took its scope's job lock: from here on it is the only job of its scope."""
    graph.execute(f"MATCH (j:{LABEL} {{id: $id}}) SET j.locked_at = datetime()", id=record_id)


def finish_record(graph: Graph, record_id: str, **props: Any) -> None:
    update_record(graph, record_id, **props)
    graph.execute(f"MATCH (j:{LABEL} {{id: $id}}) SET j.finished_at = datetime()", id=record_id)


def mark_abandoned(graph: Graph, scope: str, keep: str) -> int:
    """Records of ``scope`` still ``running`` besides ``keep``: their process died (the caller holds the
    scope's job lock, so no live process runs them). Returns how many were marked."""
    return graph.execute(
        f"MATCH (j:{LABEL} {{scope: $scope, status: 'running'}}) WHERE j.id <> $keep "
        "SET j.status = 'abandoned', j.finished_at = coalesce(j.finished_at, datetime()), "
        "j.error = coalesce(j.error, 'the process running this job stopped before it finished (killed, or its "
        "lock lease ran out); the next run resumes its run directory') RETURN count(j) AS n",
        scope=scope, keep=keep)[0]["n"]


def last_record(graph: Graph, job: str, before: str | None = None) -> dict[str, Any] | None:
    """The job's latest record other than ``before``, as a dict of its properties."""
    rows = graph.query(f"MATCH (j:{LABEL} {{job: $job}}) WHERE $before IS NULL OR j.id <> $before "
                       "RETURN properties(j) AS props ORDER BY j.started_at DESC LIMIT 1", job=job, before=before)
    return rows[0]["props"] if rows else None


def records(graph: Graph, *, job: str | None = None, scope: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """The history, newest first, through the query library's ``job-history``."""
    from vlkge_graph.graph.queries import run_query

    return run_query(graph, "job-history", {"job": job, "scope": scope, "limit": limit})
