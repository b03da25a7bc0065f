"""A broker paused in the middle of a transaction (SIGSTOP, a long GC-like stall, a network
partition) must not stall the cluster: PostgreSQL ends its transaction after the idle timeout.

The paused broker is played by a L{Database} whose work runs the append's fence UPDATE on a
C{partitions} row and then blocks its thread before the commit, exactly what a broker stopped
between the two looks like to PostgreSQL (a session idle in a transaction, holding the row).
"""

from __future__ import annotations

import threading
import uuid
from functools import partial
from typing import Any

import psycopg
import pytest
import pytest_twisted
from twisted.python.failure import Failure

from kafkatwist.messages import metadata_records as mr
from kafkatwist.postgres.db import Database, DatabaseUnavailable
from tests.integration.harness import in_thread
from tests.postgres.pgmeta_support import WAIT, brokers, migrated_database, the_reactor


@pytest.fixture
def dsn(request: Any) -> str:
    """A fresh, migrated database (dropped after the test)."""
    return migrated_database(request)


def fence_rows(dsn: str) -> dict[tuple[uuid.UUID, int], tuple[int, int, int]]:
    """The C{partitions} rows: leader, leader epoch and next offset by partition."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT topic_id, partition, leader, leader_epoch, next_offset FROM partitions"
        ).fetchall()
    return {(t, p): (leader, epoch, end) for t, p, leader, epoch, end in rows}


def _fence_then_pause(
    topic_id: uuid.UUID, locked: threading.Event, resume: threading.Event, conn: Any
) -> None:
    """An append's fence UPDATE, then a pause before the commit (the broker is stopped)."""
    conn.execute(
        "UPDATE partitions SET next_offset = next_offset + 1"
        " WHERE topic_id = %s AND partition = 0 AND leader = 1 AND leader_epoch = 0",
        (topic_id,),
    )
    locked.set()
    resume.wait(WAIT)


@pytest_twisted.ensureDeferred
async def test_a_paused_leaders_open_append_does_not_block_a_leader_change(dsn: str) -> None:
    """The controller's move of a partition completes although its old leader paused mid-append."""
    async with brokers(dsn) as (controller, _):
        topic_id = uuid.uuid4()
        await controller.append(
            [
                mr.TopicRecord(name="t", topic_id=topic_id),
                mr.PartitionRecord(
                    partition_id=0,
                    topic_id=topic_id,
                    replicas=(1,),
                    isr=(1,),
                    leader=1,
                    leader_epoch=0,
                    partition_epoch=0,
                ),
            ]
        )
        paused = Database(dsn, the_reactor(), size=1, idle_timeout_ms=500)
        locked, resume = threading.Event(), threading.Event()
        try:
            stalled = paused.run(partial(_fence_then_pause, topic_id, locked, resume))
            outcome: list[Failure | None] = []
            stalled.addCallbacks(lambda _: outcome.append(None), outcome.append)
            assert await in_thread(locked.wait, WAIT)
            moved = controller.append(
                [mr.PartitionChangeRecord(partition_id=0, topic_id=topic_id, leader=2)]
            )
            image = await moved.addTimeout(WAIT, the_reactor())
            assert image.topics["t"].partitions[0].leader == 2
        finally:
            resume.set()
            await paused.stop()
        # The paused broker's transaction was ended for it: its commit fails, nothing written.
        assert len(outcome) == 1 and outcome[0] is not None
        assert outcome[0].check(DatabaseUnavailable)
        assert fence_rows(dsn) == {(topic_id, 0): (2, 1, 0)}


@pytest_twisted.ensureDeferred
async def test_work_after_stop_fails_and_starts_no_threads(dsn: str) -> None:
    """Work handed to a stopped Database fails retriably; no new thread keeps the process alive."""
    db = Database(dsn, the_reactor(), size=2, name="kafkatwist-pg-stopped")
    assert await db.run(lambda conn: 1) == 1
    await db.stop()
    late = db.run(lambda conn: 2)
    outcome: list[Failure | int] = []
    late.addBoth(outcome.append)
    assert len(outcome) == 1 and isinstance(outcome[0], Failure)
    assert outcome[0].check(DatabaseUnavailable)
    # The stop's own daemon thread may still be returning from delivering its result.
    pool = [
        t
        for t in threading.enumerate()
        if t.name.startswith("kafkatwist-pg-stopped") and not t.name.endswith("-stop")
    ]
    assert pool == []
