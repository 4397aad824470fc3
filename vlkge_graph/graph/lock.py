"""A database-wide lock with a lease, so two publishes never interleave on one database.

The lock is a node holding the holder's id and an expiry time. A holder that died stops renewing,
its lease runs out, and the next run takes over; a live holder renews it between batches.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from neo4j import ManagedTransaction

from vlkge_graph.errors import VlkgeError
from vlkge_graph.graph.connection import Graph


class LockBusyError(VlkgeError):
    """Another process holds the lock and its lease has not expired."""


class Lease:
    """A held lock; ``renew()`` extends it (called between write batches)."""

    def __init__(self, graph: Graph, name: str, holder: str, lease_s: float) -> None:
        self.graph, self.name, self.holder, self.lease_s = graph, name, holder, lease_s

    def renew(self) -> None:
        if not self.graph.write(_try_take, self.name, self.holder, self.lease_s):
            raise LockBusyError(f"lost the lock {self.name!r}: its lease ran out and another process took it")

    def release(self) -> None:
        self.graph.execute("MATCH (l:VlkgeLock {name: $name}) WHERE l.holder = $holder "
                           "SET l.holder = null, l.expires_at = null", name=self.name, holder=self.holder)


def _try_take(tx: ManagedTransaction, name: str, holder: str, lease_s: float) -> bool:
    record = tx.run(
        "MERGE (l:VlkgeLock {name: $name}) WITH l "
        "WHERE l.holder IS NULL OR l.holder = $holder OR l.expires_at < datetime() "
        "SET l.holder = $holder, l.expires_at = datetime() + duration({milliseconds: $ms}) "
        "RETURN l.holder AS holder", name=name, holder=holder, ms=int(lease_s * 1000)).single()
    return record is not None


@contextmanager
def hold_lock(graph: Graph, name: str = "publish", lease_s: float = 120, wait_s: float = 0,
              holder: str | None = None) -> Iterator[Lease]:
    """Take the lock (waiting up to ``wait_s``), yield the lease, release it at the end."""
    holder = holder or f"{uuid.uuid4()}"
    deadline = time.monotonic() + wait_s
    while not graph.write(_try_take, name, holder, lease_s):
        if time.monotonic() >= deadline:
            info = graph.query("MATCH (l:VlkgeLock {name: $name}) RETURN l.holder AS holder, "
                               "toString(l.expires_at) AS until", name=name)
            until = info[0]["until"] if info else "?"
            raise LockBusyError(f"another vlkge-graph run holds the {name!r} lock on this database "
                                f"(lease until {until}); wait for it, or retry after the lease expires")
        time.sleep(1)
    lease = Lease(graph, name, holder, lease_s)
    try:
        yield lease
    finally:
        lease.release()
