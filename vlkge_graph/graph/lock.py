"""Database-wide locks with a lease, so two publishes never interleave on what they share.

A lock is a node holding the holder's id and an expiry time; the project's schema makes its name unique
(without that, concurrent first takers would each create their own node). A holder that died stops
renewing, its lease runs out, and the next run takes over; a live holder renews it between batches.
A holder's id names its host and process, so a run on the same host need not wait out the lease of a
holder that was killed (``kill -9``, a crash): it sees the process is gone and takes the lock at once.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from neo4j import ManagedTransaction

from vlkge_graph.errors import VlkgeError
from vlkge_graph.graph.connection import Graph

log = logging.getLogger(__name__)


class LockBusyError(VlkgeError):
    """Another process holds the lock and its lease has not expired."""


class Lease:
    """Held locks; ``renew()`` extends them (called between write batches)."""

    def __init__(self, graph: Graph, names: Sequence[str], holder: str, lease_s: float) -> None:
        self.graph, self.names, self.holder, self.lease_s = graph, list(names), holder, lease_s

    def renew(self) -> None:
        if not self.graph.write(_try_take, self.names, self.holder, self.lease_s):
            raise LockBusyError(f"lost the lock(s) {self.names}: a lease ran out and another process took it")

    def add(self, names: Sequence[str], wait_s: float = 0) -> None:
        """Take more locks under this lease (all or none, waiting up to ``wait_s``)."""
        wanted = [*self.names, *(n for n in names if n not in self.names)]
        _take(self.graph, wanted, self.holder, self.lease_s, wait_s)
        self.names = wanted

    def release(self) -> None:
        self.graph.execute("MATCH (l:VlkgeLock) WHERE l.name IN $names AND l.holder = $holder "
                           "SET l.holder = null, l.expires_at = null", names=self.names, holder=self.holder)


def _try_take(tx: ManagedTransaction, names: Sequence[str], holder: str, lease_s: float) -> bool:
    """Take every lock or none. Writing ``_LOCK_`` first takes each node's write lock before its holder is
    read, so two takers cannot both see a lock free (read-committed; see Neo4j's "lost updates")."""
    record = tx.run(
        "UNWIND $names AS name MERGE (l:VlkgeLock {name: name}) SET l._LOCK_ = true "
        "WITH collect(l) AS locks "
        "WITH locks, all(l IN locks WHERE l.holder IS NULL OR l.holder = $holder OR l.expires_at < datetime()) "
        "AS free "
        "FOREACH (l IN locks | REMOVE l._LOCK_) "
        "FOREACH (l IN CASE WHEN free THEN locks ELSE [] END | "
        "  SET l.holder = $holder, l.expires_at = datetime() + duration({milliseconds: $ms})) "
        "RETURN free", names=sorted(names), holder=holder, ms=int(lease_s * 1000)).single()
    return record is not None and record["free"]


@contextmanager
def hold_lock(graph: Graph, names: str | Sequence[str] = "publish", lease_s: float = 120, wait_s: float = 0,
              holder: str | None = None) -> Iterator[Lease]:
    """Take the named lock, or all the named locks at once (waiting up to ``wait_s``), yield the lease,
    release it at the end."""
    names = [names] if isinstance(names, str) else list(names)
    holder = holder or new_holder()
    _take(graph, names, holder, lease_s, wait_s)
    lease = Lease(graph, names, holder, lease_s)
    try:
        yield lease
    finally:
        lease.release()


def new_holder() -> str:
    """A holder id that names this host and process (``host:pid:uuid``), for :func:`_free_dead_holders`."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4()}"


def _dead_here(holder: str) -> bool:
    """Whether ``holder`` was a process of this host that no longer exists (ids of other hosts or of an
    older format are never judged: their lease decides)."""
    host, _, rest = holder.rpartition(":")[0].partition(":")
    if host != socket.gethostname() or not rest.isdigit():
        return False
    try:
        os.kill(int(rest), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


def _free_dead_holders(graph: Graph, names: Sequence[str], holder: str) -> bool:
    """Release the named locks held by processes of this host that died; True if any was released."""
    held = graph.query("MATCH (l:VlkgeLock) WHERE l.name IN $names AND l.holder IS NOT NULL AND l.holder <> $holder "
                       "AND l.expires_at >= datetime() RETURN l.name AS name, l.holder AS holder",
                       names=list(names), holder=holder)
    dead = [h for h in held if _dead_here(h["holder"])]
    for lock in dead:
        log.warning("lock %r: its holder %s is no longer running (killed?); taking it over", lock["name"],
                    lock["holder"])
        graph.execute("MATCH (l:VlkgeLock {name: $name}) WHERE l.holder = $dead SET l.holder = null, "
                      "l.expires_at = null", name=lock["name"], dead=lock["holder"])
    return bool(dead)


def _take(graph: Graph, names: Sequence[str], holder: str, lease_s: float, wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    waiting = False
    while not graph.write(_try_take, names, holder, lease_s):
        if _free_dead_holders(graph, names, holder):
            continue
        if time.monotonic() >= deadline:
            raise _busy(graph, names, holder)
        if not waiting:
            log.info("waiting up to %.0f s for another vlkge-graph run to release %s", wait_s, names)
            waiting = True
        time.sleep(1)


def _busy(graph: Graph, names: Sequence[str], holder: str) -> LockBusyError:
    busy = graph.query("MATCH (l:VlkgeLock) WHERE l.name IN $names AND l.holder <> $holder "
                       "AND l.expires_at >= datetime() RETURN l.name AS name, "
                       "toString(l.expires_at) AS until ORDER BY name", names=list(names), holder=holder)
    held = ", ".join(f"{b['name']!r} (lease until {b['until']})" for b in busy) or repr(list(names))
    return LockBusyError(f"another vlkge-graph run holds the lock {held} on this database; wait for it, "
                         "or retry after the lease expires")
