"""The PostgreSQL connections of a broker: work run in threads, each with its own connection.

The driver is psycopg 3 (its C build, ``psycopg[binary]``), used synchronously
in a pool of threads owned by L{Database}:

- every call is blocking network I/O, which the brief keeps off the reactor
  thread; a thread per connection runs each unit of work in one transaction,
  and the result (or failure) comes back on the reactor thread as a Deferred;
- psycopg 3 is maintained, has a C implementation, binary parameters for
  ``bytea`` (a batch is passed as a buffer, not escaped text), and
  ``Connection.notifies()`` for LISTEN/NOTIFY;
- the alternatives were worse fits: txpostgres wraps psycopg2 and has had no
  release since 2019; psycopg's and asyncpg's async APIs need an asyncio loop,
  which would mean running the whole broker on Twisted's asyncio reactor
  rather than the default epoll one.

A lost or refused connection is L{DatabaseUnavailable}, a L{KafkaError} with
a retriable code: the thread's connection is dropped and the next unit of work
connects again, so service resumes by itself when PostgreSQL returns.
"""

from __future__ import annotations

import os
import select
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from attrs import define, field
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from kafkatwist.errors import ErrorCode, KafkaError

T = TypeVar("T")

#: Seconds to wait for a connection before calling the database unavailable.
CONNECT_TIMEOUT = 5
#: PostgreSQL's C{idle_in_transaction_session_timeout} for our sessions, by default (Kafka's
#: C{broker.session.timeout.ms} default): a broker stopped between a statement and its commit
#: (SIGSTOP, a stall, a network partition) holds the rows it updated, a partition's fence row
#: among them, and every metadata append (a leader change of that partition, and all the
#: others queued behind its advisory lock) would wait for it for as long as it is away.
#: PostgreSQL ends such a transaction (and its session) after this long instead.
IDLE_IN_TRANSACTION_TIMEOUT_MS = 9000

_log = Logger()


class DatabaseUnavailable(KafkaError):
    """
    PostgreSQL could not be reached, or the connection broke during the work.

    The code is retriable. When the connection broke during a commit, the
    outcome is unknown: callers that keep state in memory (a partition log's
    end offset) must read it again before their next write.
    """

    def __init__(self, message: str, code: ErrorCode = ErrorCode.KAFKA_STORAGE_ERROR) -> None:
        super().__init__(code, message)


#: The errors meaning "the connection or server is gone", as opposed to a bug in a statement.
#: PostgreSQL ending a session idle in its transaction (L{IDLE_IN_TRANSACTION_TIMEOUT_MS}) is one.
CONNECTION_ERRORS = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg.errors.IdleInTransactionSessionTimeout,
)


def connect(
    dsn: str, *, autocommit: bool = False, idle_timeout_ms: int = IDLE_IN_TRANSACTION_TIMEOUT_MS
) -> psycopg.Connection[Any]:
    """A new connection to C{dsn} (blocking), with kafkatwist's settings."""
    conn = psycopg.connect(
        dsn,
        autocommit=True,
        connect_timeout=CONNECT_TIMEOUT,
        application_name="kafkatwist",
    )
    try:
        conn.execute(
            "SELECT set_config('idle_in_transaction_session_timeout', %s, false)",
            (str(max(0, int(idle_timeout_ms))),),
        )
        conn.autocommit = autocommit
    except BaseException:
        conn.close()
        raise
    return conn


@define
class Database:
    """
    A pool of C{size} threads, each with its own connection to C{dsn}.

    C{reactor} provides C{callFromThread} (and is where results are delivered).
    L{run} is the one way to use the database; L{listen} starts a thread of its
    own per channel. C{idle_timeout_ms}: see L{IDLE_IN_TRANSACTION_TIMEOUT_MS}.
    """

    dsn: str
    reactor: Any
    size: int = 4
    name: str = "kafkatwist-pg"
    idle_timeout_ms: int = IDLE_IN_TRANSACTION_TIMEOUT_MS
    _pool: ThreadPool | None = field(default=None, init=False)
    _local: threading.local = field(factory=threading.local, init=False)
    _connections: list[psycopg.Connection[Any]] = field(factory=list, init=False)
    _guard: threading.Lock = field(factory=threading.Lock, init=False)
    _listeners: list[_Listener] = field(factory=list, init=False)
    _stopping: threading.Event = field(factory=threading.Event, init=False)

    def start(self) -> None:
        """Start the threads (connections are made on first use)."""
        if self._pool is None:
            self._pool = ThreadPool(self.size, self.size, name=self.name)
            self._pool.start()

    def run(self, work: Callable[[psycopg.Connection[Any]], T]) -> Deferred[T]:
        """
        C{work(connection)} in a pool thread, inside one transaction; fires with its result.

        The transaction commits when C{work} returns and rolls back when it
        raises. Connection failures become L{DatabaseUnavailable}; anything
        else C{work} raises (a L{KafkaError} it chose) is passed on. After
        L{stop}, work fails at once (a new pool would keep the process alive).
        """
        if self._stopping.is_set():
            return fail(DatabaseUnavailable("the broker's PostgreSQL connections are closed"))
        self.start()
        assert self._pool is not None
        return deferToThreadPool(self.reactor, self._pool, self._in_thread, work)

    def _in_thread(self, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        # A thread's connection may have died while idle (a PostgreSQL restart):
        # the first statement then fails, nothing was committed, and the work
        # is run once more on a new connection. A failure during the commit
        # itself is never retried: its outcome is unknown.
        for attempt in range(2):
            conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
            committing = False
            try:
                if conn is None or conn.closed:
                    conn = connect(self.dsn, idle_timeout_ms=self.idle_timeout_ms)
                    self._local.conn = conn
                    with self._guard:
                        self._connections.append(conn)
                with conn.transaction():
                    result = work(conn)
                    committing = True
                return result
            except CONNECTION_ERRORS as e:
                self._drop(conn)
                if attempt == 0 and not committing:
                    continue
                raise DatabaseUnavailable(f"PostgreSQL is unavailable: {e}".strip()) from e
        raise AssertionError("unreachable")

    def _drop(self, conn: psycopg.Connection[Any] | None) -> None:
        self._local.conn = None
        if conn is None:
            return
        with self._guard:
            if conn in self._connections:
                self._connections.remove(conn)
        try:
            conn.close()
        except Exception:  # noqa: BLE001  (closing a broken connection)
            pass

    def listen(self, channel: str, callback: Callable[[str | None], None]) -> None:
        """
        Call C{callback(payload)} on the reactor thread for each NOTIFY on C{channel}.

        A thread of its own holds the LISTEN connection and reconnects when it
        breaks. C{callback(None)} is called after each (re)connection: while
        it was away, notifications may have been missed, so the caller reads
        the state again.
        """
        listener = _Listener(self.dsn, channel, callback, self.reactor, self._stopping)
        self._listeners.append(listener)
        listener.start()

    def stop(self) -> Deferred[None]:
        """Stop the listeners and the threads, closing every connection (fires once done)."""
        self._stopping.set()
        pool, self._pool = self._pool, None
        listeners, self._listeners = self._listeners, []
        for listener in listeners:
            listener.wake()
        if pool is None and not listeners:
            return succeed(None)

        def close_all() -> None:
            for listener in listeners:
                listener.join()
            if pool is not None:
                pool.stop()
            with self._guard:
                connections, self._connections = self._connections, []
            for conn in connections:
                try:
                    conn.close()
                except Exception:  # noqa: BLE001,S110  (closing at shutdown)
                    pass

        d: Deferred[None] = Deferred()

        def in_thread() -> None:
            close_all()
            self.reactor.callFromThread(d.callback, None)

        thread = threading.Thread(target=in_thread, name=f"{self.name}-stop", daemon=True)
        thread.start()
        return d


@define
class _Listener:
    """
    One LISTEN connection in a thread of its own (see L{Database.listen}).

    The thread sleeps in C{select} on the connection's socket and on a pipe
    that L{wake} writes to: it wakes for a notification, or at once when
    the database stops (no polling interval to wait out).
    """

    dsn: str
    channel: str
    callback: Callable[[str | None], None]
    reactor: Any
    stopping: threading.Event
    _thread: threading.Thread | None = field(default=None, init=False)
    _wake_r: int = field(default=-1, init=False)
    _wake_w: int = field(default=-1, init=False)

    def start(self) -> None:
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(
            target=self._loop, name=f"kafkatwist-pg-listen-{self.channel}", daemon=True
        )
        self._thread.start()

    def wake(self) -> None:
        """Wake the thread (it then sees C{stopping}); before L{join}, which closes the pipe."""
        if self._wake_w >= 0:
            os.write(self._wake_w, b"x")

    def join(self) -> None:
        """Wait for the thread (after L{wake}); then close the pipe."""
        if self._thread is None:
            return
        self._thread.join(timeout=5)
        if not self._thread.is_alive() and self._wake_r >= 0:
            os.close(self._wake_r)
            os.close(self._wake_w)
            self._wake_r = self._wake_w = -1

    def _loop(self) -> None:
        failures = 0
        while not self.stopping.is_set():
            try:
                with connect(self.dsn, autocommit=True) as conn:
                    conn.execute(f'LISTEN "{self.channel}"')
                    failures = 0
                    self.reactor.callFromThread(self.callback, None)
                    # poll, not select: a process with many files open (a test run)
                    # has descriptors past select's limit of 1024.
                    poller = select.poll()
                    poller.register(conn.fileno(), select.POLLIN)
                    poller.register(self._wake_r, select.POLLIN)
                    while not self.stopping.is_set():
                        ready = {fd for fd, _ in poller.poll()}
                        if self._wake_r in ready:
                            continue  # woken: stopping
                        for note in conn.notifies(timeout=0):
                            self.reactor.callFromThread(self.callback, note.payload)
            except Exception as e:  # noqa: BLE001  (the thread must never die: it retries)
                failures += 1
                if failures == 1:
                    _log.warn(
                        "LISTEN {channel}: PostgreSQL is unavailable ({error}); retrying",
                        channel=self.channel,
                        error=str(e).strip(),
                    )
                self.stopping.wait(min(0.1 * failures, 1.0))


def notify(conn: psycopg.Connection[Any], channel: str, payload: str) -> None:
    """Send a NOTIFY on C{channel} from inside C{conn}'s transaction (delivered at commit)."""
    conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))
