"""A real PostgreSQL server for the tests of the PostgreSQL engine: one per test process.

The server (L{kafkatwist.testing.postgres.PostgresServer}) starts on first use,
on a free loopback port in a temporary directory, and is stopped when the
process exits. Each test gets a database of its own (L{fresh_database}),
dropped at its cleanup. Without PostgreSQL's server binaries the tests fail
(``apt-get install postgresql``; ``./test.sh`` does it as root): never skipped.
"""

from __future__ import annotations

import atexit
import uuid
from typing import Protocol

from kafkatwist.testing.postgres import PostgresServer

_server: PostgresServer | None = None


class _Cleanups(Protocol):
    def addCleanup(self, f: object, *args: object) -> None: ...


def server() -> PostgresServer:
    """This process's PostgreSQL server, started on first use."""
    global _server
    if _server is None or not _server.running:
        if _server is None:
            _server = PostgresServer()
            atexit.register(_server.destroy)
        _server.start()
    return _server


def fresh_database(case: _Cleanups) -> str:
    """The DSN of a new, empty database, dropped when C{case} cleans up."""
    pg = server()
    name = f"kt_{uuid.uuid4().hex[:16]}"
    dsn = pg.create_database(name)
    case.addCleanup(pg.drop_database, name)
    return dsn
