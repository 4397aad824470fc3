"""Opening a driver for the configured server, or for the project's local one when none is configured."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from neo4j import Driver, GraphDatabase, ManagedTransaction
from neo4j.exceptions import AuthError, ConfigurationError, DriverError, Neo4jError, ServiceUnavailable

from vlkge_graph.config import Config
from vlkge_graph.errors import VlkgeError

log = logging.getLogger(__name__)
T = TypeVar("T")
#: Concurrent write transactions for bulk writes (load, publish): Neo4j then works on more than one core.
WRITERS = 2


@dataclass
class Graph:
    """A driver bound to one database; all work runs in managed transactions (retried by the driver)."""

    driver: Driver
    database: str
    uri: str

    def write(self, work: Callable[..., T], *args: Any) -> T:
        with self.driver.session(database=self.database) as session:
            return session.execute_write(work, *args)

    def write_or_fail(self, work: Callable[..., T], *args: Any, fail: Collection[str], retry_s: float = 30) -> T:
        """``write``, retried like the driver's managed transactions (transient errors, for ``retry_s``), except
        that the server errors whose codes are in ``fail`` are raised at once, also when the commit raises them:
        the driver would retry e.g. a transaction that exceeded the server's memory, which fails again."""
        deadline, delay = time.monotonic() + retry_s, 1.0
        while True:
            try:
                with self.driver.session(database=self.database) as session, session.begin_transaction() as tx:
                    result = work(tx, *args)
                    tx.commit()
                    return result
            except (DriverError, Neo4jError) as exc:
                code = exc.code if isinstance(exc, Neo4jError) else None
                if code in fail or not exc.is_retryable() or time.monotonic() + delay > deadline:
                    raise
                log.warning("write transaction failed (%s); retrying in %.0f s", code or exc, delay)
            time.sleep(delay)
            delay *= 2

    def read(self, work: Callable[..., T], *args: Any) -> T:
        with self.driver.session(database=self.database) as session:
            return session.execute_read(work, *args)

    def write_each(self, work: Callable[..., T], jobs: Iterable[tuple[Any, ...]], workers: int = 1) -> Iterator[T]:
        """Run ``work(tx, *job)`` for every job, each in its own managed write transaction, yielding
        results as they finish.

        With ``workers > 1`` that many transactions run at once (the server then uses more cores); a
        deadlock between them is a transient error that the driver retries. At most two jobs per
        worker are in flight, so parameters are built only shortly before they are sent.
        """
        if workers <= 1:
            for job in jobs:
                yield self.write(work, *job)
            return
        with ThreadPoolExecutor(workers, thread_name_prefix="vlkge-write") as pool:
            pending: set[Future[T]] = set()
            for job in jobs:
                pending.add(pool.submit(self.write, work, *job))
                if len(pending) >= 2 * workers:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    yield from (future.result() for future in done)
            for future in pending:
                yield future.result()

    def query(self, cypher: str, **params: Any) -> list[dict[str, Any]]:
        """Run one read query and return its records as dicts of the driver's values."""
        return self.read(_records, cypher, params)

    def execute(self, cypher: str, **params: Any) -> list[dict[str, Any]]:
        """Run one write query in a managed transaction and return its records as dicts."""
        return self.write(_records, cypher, params)

    def execute_each(self, cypher: str, batches: Iterable[dict[str, Any]],
                     workers: int = 1) -> Iterator[list[dict[str, Any]]]:
        """Run one write query per parameter batch (see ``write_each``), yielding each one's records."""
        return self.write_each(_records, ((cypher, params) for params in batches), workers)


def column_batches(columns: dict[str, list[Any]], size: int) -> Iterator[dict[str, list[Any]]]:
    """Slices of equal-length parameter columns, ``size`` rows each: batches for ``UNWIND range(...)``
    queries, which pack far faster than one map per row."""
    total = len(next(iter(columns.values())))
    for start in range(0, total, size):
        yield {name: values[start:start + size] for name, values in columns.items()}


def _records(tx: ManagedTransaction, cypher: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Records as dicts, values as the driver decoded them (``Record.data()`` would walk every nested
    list again: seconds on a page of 10,000 collected rows)."""
    return [dict(record.items()) for record in tx.run(cypher, params)]


def resolve_uri(config: Config, start_local: bool = True) -> str:
    """The configured URI, else the local server's (started when ``start_local``)."""
    if config.neo4j.uri:
        return config.neo4j.uri
    from vlkge_graph.graph.server import LocalServer  # only needed without a URI

    server = LocalServer(config.local_server)
    state = server.start() if start_local else server.state()
    if state is None:
        raise VlkgeError("no Neo4j configured (NEO4J_URI or neo4j.uri in vlkge.yaml) and the local "
                         "server is not running: run `vlkge-graph neo4j start`")
    return state.uri


@contextmanager
def connect(config: Config, start_local: bool = True) -> Iterator[Graph]:
    """Yield a connected Graph; errors name the URI, never the password."""
    uri = resolve_uri(config, start_local)
    password = config.neo4j.password
    auth = (config.neo4j.user, password.reveal()) if password is not None else None  # type: ignore[attr-defined]
    # Server notifications (e.g. "property key does not exist yet" on a fresh graph) are not errors.
    try:
        driver = GraphDatabase.driver(uri, auth=auth, notifications_min_severity="OFF")
    except (ValueError, ConfigurationError) as exc:
        raise VlkgeError(f"Neo4j URI {uri!r} is not usable: {exc} (e.g. bolt://localhost:7687)") from exc
    try:
        try:
            driver.verify_connectivity()
        except ServiceUnavailable as exc:
            raise VlkgeError(f"Neo4j at {uri} is not reachable: {exc}") from exc
        except AuthError as exc:
            raise VlkgeError(f"Neo4j at {uri} refused the credentials of user "
                             f"{config.neo4j.user!r} (check NEO4J_USER / NEO4J_PASSWORD)") from exc
        yield Graph(driver=driver, database=config.neo4j.database, uri=uri)
    finally:
        driver.close()
