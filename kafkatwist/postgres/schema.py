"""The PostgreSQL schema of the shared-database engine, created and migrated by the broker at start.

Every broker runs L{migrate} at start. Migrations are numbered; each runs
once, in its own transaction, under an advisory lock so that brokers starting
together do not race. The applied version is kept in C{kafkatwist_schema}.

Tables (version 1):

- C{cluster}: one row, the cluster id (made by the first broker to start).
- C{brokers}: one row per registered broker, with its lease
  (L{kafkatwist.postgres.membership}).
- C{leases}: named leases (C{controller}: which broker does the controller's
  duties, with an epoch bumped at every change of holder).
- C{metadata_log}: the cluster metadata log (Kafka's ``__cluster_metadata``),
  one row per appended batch of metadata records, at its base offset
  (L{kafkatwist.postgres.metadata}).
- C{partitions}: per partition, its leader and leader epoch (the fence every
  append checks), its log start offset and next offset (offsets are taken
  from this row in the appending transaction) and the bytes of its batches
  (L{kafkatwist.postgres.log}), and the log cleaner's checkpoint (the first
  dirty offset, L{kafkatwist.postgres.cleaner}).
- C{batches}: one row per record batch, Kafka's own batch bytes with their
  header fields as columns.
- C{leader_epochs}: the leader epoch cache (epoch, start offset) per partition.
- C{txn_markers}: the transaction markers a coordinator wants written, one
  row per (partition, producer); the partition's leader writes it and
  deletes the row (L{kafkatwist.postgres.markers}).
- C{txn_verifications}: a partition leader's request to another broker's
  transaction coordinator to verify or add partitions, and its answer
  (L{kafkatwist.postgres.txn_verify}).
- C{aborted_txns}: per partition, the aborted transactions (Kafka's transaction
  index: producer id, first offset, marker offset, last stable offset).
"""

from __future__ import annotations

from typing import Any

import psycopg

#: The advisory lock key migrations hold (any constant; "kafkatwist" as an int).
MIGRATION_LOCK = 0x6B61666B61

#: (version, statements): each runs once, in order.
MIGRATIONS: list[tuple[int, tuple[str, ...]]] = [
    (
        1,
        (
            """
            CREATE TABLE cluster (
                id int PRIMARY KEY CHECK (id = 1),
                cluster_id text NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            """
            CREATE TABLE brokers (
                node_id int PRIMARY KEY,
                incarnation uuid NOT NULL,
                rack text,
                listeners jsonb NOT NULL,
                registered_at timestamptz NOT NULL DEFAULT now(),
                lease_expires_at timestamptz NOT NULL
            )
            """,
            """
            CREATE TABLE leases (
                name text PRIMARY KEY,
                holder int NOT NULL,
                epoch bigint NOT NULL,
                expires_at timestamptz NOT NULL
            )
            """,
            """
            CREATE TABLE metadata_log (
                base_offset bigint PRIMARY KEY,
                last_offset bigint NOT NULL,
                epoch int NOT NULL,
                written_by int NOT NULL,
                written_at timestamptz NOT NULL DEFAULT now(),
                batch bytea NOT NULL
            )
            """,
            """
            CREATE TABLE partitions (
                topic_id uuid NOT NULL,
                partition int NOT NULL,
                leader int NOT NULL,
                leader_epoch int NOT NULL,
                log_start_offset bigint NOT NULL DEFAULT 0,
                next_offset bigint NOT NULL DEFAULT 0,
                size_bytes bigint NOT NULL DEFAULT 0,
                cleaner_checkpoint bigint,
                PRIMARY KEY (topic_id, partition)
            )
            """,
            """
            CREATE TABLE batches (
                topic_id uuid NOT NULL,
                partition int NOT NULL,
                base_offset bigint NOT NULL,
                last_offset bigint NOT NULL,
                leader_epoch int NOT NULL,
                base_timestamp bigint NOT NULL,
                max_timestamp bigint NOT NULL,
                producer_id bigint NOT NULL,
                producer_epoch smallint NOT NULL,
                base_sequence int NOT NULL,
                record_count int NOT NULL,
                attributes smallint NOT NULL,
                size int NOT NULL,
                data bytea NOT NULL,
                PRIMARY KEY (topic_id, partition, base_offset)
            )
            """,
            # Batches are mostly compressed by their producers already: no pglz attempt.
            "ALTER TABLE batches ALTER COLUMN data SET STORAGE EXTERNAL",
            "CREATE INDEX batches_by_time ON batches (topic_id, partition, max_timestamp)",
            "CREATE INDEX batches_by_producer ON batches (topic_id, partition, producer_id)"
            " WHERE producer_id >= 0",
            """
            CREATE TABLE leader_epochs (
                topic_id uuid NOT NULL,
                partition int NOT NULL,
                epoch int NOT NULL,
                start_offset bigint NOT NULL,
                PRIMARY KEY (topic_id, partition, epoch)
            )
            """,
            """
            CREATE TABLE txn_markers (
                topic_id uuid NOT NULL,
                partition int NOT NULL,
                producer_id bigint NOT NULL,
                producer_epoch smallint NOT NULL,
                coordinator_epoch int NOT NULL,
                commit boolean NOT NULL,
                transaction_version smallint NOT NULL,
                coordinator int NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (topic_id, partition, producer_id)
            )
            """,
            "CREATE INDEX txn_markers_by_producer ON txn_markers (producer_id)",
            """
            CREATE TABLE txn_verifications (
                request_id uuid PRIMARY KEY,
                coordinator int NOT NULL,
                requester int NOT NULL,
                transactional_id text NOT NULL,
                producer_id bigint NOT NULL,
                producer_epoch smallint NOT NULL,
                partitions jsonb NOT NULL,
                add boolean NOT NULL,
                answer jsonb,
                created_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            "CREATE INDEX txn_verifications_by_coordinator ON txn_verifications (coordinator)"
            " WHERE answer IS NULL",
            """
            CREATE TABLE aborted_txns (
                topic_id uuid NOT NULL,
                partition int NOT NULL,
                last_offset bigint NOT NULL,
                producer_id bigint NOT NULL,
                first_offset bigint NOT NULL,
                last_stable_offset bigint NOT NULL,
                PRIMARY KEY (topic_id, partition, last_offset)
            )
            """,
        ),
    ),
]

#: The version L{migrate} brings a database to.
LATEST = MIGRATIONS[-1][0]


def migrate(conn: psycopg.Connection[Any]) -> int:
    """
    Bring the schema to L{LATEST} inside C{conn}'s current transaction; return the old version.

    Takes the migration advisory lock for the transaction first, so that
    brokers starting together migrate one after the other. A database newer
    than this broker knows is refused (the broker would misread it).
    """
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
    conn.execute("CREATE TABLE IF NOT EXISTS kafkatwist_schema (version int NOT NULL)")
    row = conn.execute("SELECT max(version) FROM kafkatwist_schema").fetchone()
    current = row[0] if row and row[0] is not None else 0
    if current > LATEST:
        raise RuntimeError(
            f"the database's kafkatwist schema is version {current}; "
            f"this broker knows versions up to {LATEST} (upgrade kafkatwist)"
        )
    for version, statements in MIGRATIONS:
        if version <= current:
            continue
        for statement in statements:
            conn.execute(statement)
        conn.execute("INSERT INTO kafkatwist_schema (version) VALUES (%s)", (version,))
    return int(current)
