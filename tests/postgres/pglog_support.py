"""A PostgreSQL partition log manager over a real database, for tests/postgres/test_pg_log*.py.

L{PgLogEnv} holds what a broker would: a L{Database} on the real reactor, a
real metadata store (a L{KRaftMetadataStore} in a temporary directory, as the
membership tests use until the PostgreSQL one lands) and the
L{PgLogManager}. L{PgLogEnv.topic} records a topic and writes its
C{partitions} rows as the PostgreSQL metadata store does (the fence rows, in
the transaction of the metadata rows there; here right after).
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from attrs import define, field
from twisted.internet import reactor, threads
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater

from kafkatwist.config.log_config import LogConfig
from kafkatwist.messages import metadata_records as mr
from kafkatwist.postgres.db import Database
from kafkatwist.postgres.manager import PgLogManager
from kafkatwist.postgres.schema import migrate
from kafkatwist.storage.interfaces import ILogManager, IPartitionLog
from kafkatwist.storage.kraft import KRaftMetadataStore
from kafkatwist.storage.results import AppendInfo, ReadResult
from kafkatwist.wire.batch import iter_batches
from kafkatwist.wire.validator import validate_produce_records

T = TypeVar("T")

#: This broker's node id in the tests.
NODE = 1


def blocking(dsn: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    """Run one statement on a connection of its own (autocommit); its rows, if any."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description is not None else []


def in_thread(fn: Callable[..., T], *args: Any) -> Deferred[T]:
    """C{fn(*args)} in a reactor thread (blocking set-up off the reactor)."""
    return threads.deferToThread(fn, *args)


def sleep(seconds: float) -> Deferred[None]:
    """A Deferred firing after C{seconds} on the real reactor."""
    return deferLater(reactor, seconds, lambda: None)


#: How many times L{until} looks before it gives up (a guard against a hung test).
UNTIL_TRIES = 1500


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait (on the reactor) until C{condition()} holds; fail if it never does."""
    for _ in range(UNTIL_TRIES):
        if condition():
            return
        await sleep(0.02)
    raise AssertionError(f"never happened: {what}")


def migrated(dsn: str) -> None:
    """Create the schema in the database C{dsn} (blocking)."""
    with psycopg.connect(dsn) as conn:
        migrate(conn)


@define
class PgLogEnv:
    """A log manager for node L{NODE} over the database C{dsn} (call L{start}, then L{stop})."""

    dsn: str
    config: LogConfig = field(factory=LogConfig)
    tail_bytes: int = 4 * 1024 * 1024
    db: Database = field(init=False)
    metadata: KRaftMetadataStore = field(init=False)
    logs: PgLogManager = field(init=False)

    def __attrs_post_init__(self) -> None:
        self.db = Database(self.dsn, reactor)
        self.metadata = KRaftMetadataStore(tempfile.mkdtemp(prefix="pglog-meta-"), clock=reactor)
        self.logs = self.manager(NODE)

    def manager(self, node_id: int) -> PgLogManager:
        """A manager for C{node_id} over this env's database and metadata."""
        return PgLogManager(
            self.db, self.metadata, node_id, reactor, lambda _: self.config,
            tail_bytes=self.tail_bytes,
        )  # fmt: skip

    async def start(self) -> None:
        await in_thread(migrated, self.dsn)
        await self.metadata.load()
        typed: ILogManager = self.logs  # the manager is an ILogManager
        assert typed is self.logs

    async def stop(self) -> None:
        await self.logs.close()
        await self.db.stop()

    async def topic(self, name: str, partitions: int = 1, leader: int = NODE) -> uuid.UUID:
        """Record topic C{name} led by C{leader} at epoch 0, with its fence rows."""
        topic_id = uuid.uuid4()
        records: list[object] = [mr.TopicRecord(name=name, topic_id=topic_id)]
        for p in range(partitions):
            records.append(
                mr.PartitionRecord(
                    partition_id=p,
                    topic_id=topic_id,
                    replicas=(leader,),
                    isr=(leader,),
                    leader=leader,
                    leader_epoch=0,
                    partition_epoch=0,
                    directories=(),
                    eligible_leader_replicas=None,
                    last_known_elr=None,
                )  # fmt: skip
            )
        for p in range(partitions):  # before the records, as if in their transaction
            await in_thread(
                blocking,
                self.dsn,
                "INSERT INTO partitions (topic_id, partition, leader, leader_epoch)"
                " VALUES (%s, %s, %s, 0)",
                (topic_id, p, leader),
            )
        await self.metadata.append(records)
        return topic_id

    async def move_leader(self, name: str, partition: int, leader: int) -> int:
        """A PartitionChangeRecord giving C{name}-C{partition} to C{leader}; the new epoch."""
        topic_id = self.metadata.image.topics[name].topic_id
        await in_thread(
            blocking,
            self.dsn,
            "UPDATE partitions SET leader = %s, leader_epoch = leader_epoch + 1"
            " WHERE topic_id = %s AND partition = %s",
            (leader, topic_id, partition),
        )
        await self.metadata.append(
            [mr.PartitionChangeRecord(partition_id=partition, topic_id=topic_id, leader=leader)]
        )
        return self.metadata.image.topics[name].partitions[partition].leader_epoch

    async def lead(self, name: str, partition: int = 0) -> IPartitionLog:
        """Become the leader of C{name}-C{partition} at the image's epoch."""
        epoch = self.metadata.image.topics[name].partitions[partition].leader_epoch
        return await self.logs.become_leader(name, partition, epoch)


def append(log: IPartitionLog, *batches: bytes, now_ms: int = 0) -> Deferred[AppendInfo]:
    """Append client batches as the Produce path does (validated, then appended)."""
    buf = b"".join(batches)
    found = validate_produce_records(buf, max_batch_bytes=1 << 24, allow_multiple_batches=True)
    return log.append(buf, found, leader_epoch=log.latest_epoch or 0, now_ms=now_ms)


def offsets_of(result: ReadResult) -> list[tuple[int, int]]:
    """C{(base offset, last offset)} of each batch read."""
    return [(h.base_offset, h.last_offset) for buf in result.buffers for _, h in iter_batches(buf)]
