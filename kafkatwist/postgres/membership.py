"""Broker registrations and the controller lease in PostgreSQL: the statements, run in threads.

Every function here takes a psycopg connection inside the transaction
L{kafkatwist.postgres.db.Database.run} opened, and blocks. Times are
PostgreSQL's (C{now()}, the transaction's start): brokers' clocks never
decide whether a lease expired, so a broker whose clock drifts cannot keep
a dead broker alive or kill a live one.

- C{brokers}: one row per node id, with the registering process's
  C{incarnation} (a random uuid per start, Kafka's C{incarnationId}), rack,
  advertised listeners and C{lease_expires_at}. A registration while another
  incarnation's lease is live is refused with DUPLICATE_BROKER_REGISTRATION,
  as Kafka's controller does; an expired registration is taken over.
- C{leases}: the C{controller} row names the broker doing the controller's
  duties. Its C{epoch} is bumped whenever a new holder takes it (or the
  holder takes it back after it expired), like a KRaft leader epoch.

Every change of registration sends NOTIFY C{kafkatwist_brokers} (the node
id as payload), so the other brokers read the live set at once.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

import psycopg
from attrs import frozen

from kafkatwist.cluster.interfaces import BrokerEndpoint
from kafkatwist.config.broker_configs import BROKER_CONFIGS
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.postgres.db import notify

#: The channel every change of registration is announced on.
BROKERS_CHANNEL = "kafkatwist_brokers"
#: The name of the controller's row in C{leases}.
CONTROLLER_LEASE = "controller"


def _default(key: str) -> int:
    default = BROKER_CONFIGS[key].default
    assert default is not None, key
    return int(default)


@frozen
class MembershipConfig:
    """
    The membership settings, with Kafka's names and defaults.

    @ivar heartbeat_interval_ms: C{broker.heartbeat.interval.ms}: how often a
        broker renews its lease (and the controller does its duties).
    @ivar session_timeout_ms: C{broker.session.timeout.ms}: how long a lease
        lasts (the controller lease too).
    @ivar registration_timeout_ms: C{initial.broker.registration.timeout.ms}:
        how long start-up retries a refused registration (the previous
        incarnation's lease must expire first) before failing.
    @ivar rebalance_enable: C{auto.leader.rebalance.enable}.
    @ivar rebalance_interval_ms: C{leader.imbalance.check.interval.seconds}, in ms.
    """

    heartbeat_interval_ms: int = _default("broker.heartbeat.interval.ms")
    session_timeout_ms: int = _default("broker.session.timeout.ms")
    registration_timeout_ms: int = _default("initial.broker.registration.timeout.ms")
    rebalance_enable: bool = True
    rebalance_interval_ms: int = _default("leader.imbalance.check.interval.seconds") * 1000
    rack: str | None = None

    @classmethod
    def from_properties(cls, props: Mapping[str, str]) -> MembershipConfig:
        """The settings of C{server.properties} (Kafka's keys; Kafka's defaults for the rest)."""

        def number(key: str) -> int:
            return int(props.get(key, "") or _default(key))

        return cls(
            heartbeat_interval_ms=max(1, number("broker.heartbeat.interval.ms")),
            session_timeout_ms=max(1, number("broker.session.timeout.ms")),
            registration_timeout_ms=max(0, number("initial.broker.registration.timeout.ms")),
            rebalance_enable=props.get("auto.leader.rebalance.enable", "true").strip().lower()
            == "true",
            rebalance_interval_ms=max(1, number("leader.imbalance.check.interval.seconds")) * 1000,
            rack=props.get("broker.rack") or None,
        )


@frozen
class Round:
    """What one round read: whether this incarnation is registered, the live set, the controller."""

    registered: bool
    live: tuple[BrokerEndpoint, ...]
    controller_id: int
    controller_epoch: int


def _interval(ms: int) -> str:
    return f"{int(ms)} milliseconds"


def register(
    conn: psycopg.Connection[Any],
    node_id: int,
    incarnation: uuid.UUID,
    rack: str | None,
    listeners: dict[str, tuple[str, int]],
    lease_ms: int,
) -> None:
    """
    Register C{node_id} (this C{incarnation}) with a lease of C{lease_ms}.

    @raise KafkaError: DUPLICATE_BROKER_REGISTRATION while another
        incarnation of the node id holds a live lease.
    """
    payload = json.dumps({name: [host, port] for name, (host, port) in listeners.items()})
    row = conn.execute(
        """
        INSERT INTO brokers (node_id, incarnation, rack, listeners, lease_expires_at)
        VALUES (%(node)s, %(inc)s, %(rack)s, %(listeners)s::jsonb, now() + %(lease)s::interval)
        ON CONFLICT (node_id) DO UPDATE SET
            incarnation = EXCLUDED.incarnation, rack = EXCLUDED.rack,
            listeners = EXCLUDED.listeners, registered_at = now(),
            lease_expires_at = EXCLUDED.lease_expires_at
        WHERE brokers.incarnation = EXCLUDED.incarnation OR brokers.lease_expires_at <= now()
        RETURNING node_id
        """,
        {
            "node": node_id,
            "inc": incarnation,
            "rack": rack,
            "listeners": payload,
            "lease": _interval(lease_ms),
        },
    ).fetchone()
    if row is None:
        raise KafkaError(
            ErrorCode.DUPLICATE_BROKER_REGISTRATION,
            f"Another broker is registered with node id {node_id} and its lease is live.",
        )
    notify(conn, BROKERS_CHANNEL, str(node_id))


def heartbeat(
    conn: psycopg.Connection[Any], node_id: int, incarnation: uuid.UUID, lease_ms: int
) -> Round:
    """
    Renew this broker's lease, take or keep the controller lease, and read the live set.

    A broker whose registration was taken over by another incarnation is no
    longer registered: it renews nothing and never takes the controller lease.
    """
    renewed = conn.execute(
        "UPDATE brokers SET lease_expires_at = now() + %s::interval"
        " WHERE node_id = %s AND incarnation = %s RETURNING node_id",
        (_interval(lease_ms), node_id, incarnation),
    ).fetchone()
    if renewed is not None:
        conn.execute(
            """
            INSERT INTO leases (name, holder, epoch, expires_at)
            VALUES (%(name)s, %(node)s, 1, now() + %(lease)s::interval)
            ON CONFLICT (name) DO UPDATE SET
                holder = EXCLUDED.holder,
                epoch = CASE WHEN leases.holder = EXCLUDED.holder AND leases.expires_at > now()
                             THEN leases.epoch ELSE leases.epoch + 1 END,
                expires_at = EXCLUDED.expires_at
            WHERE leases.holder = EXCLUDED.holder OR leases.expires_at <= now()
            """,
            {"name": CONTROLLER_LEASE, "node": node_id, "lease": _interval(lease_ms)},
        )
    return _read(conn, registered=renewed is not None)


def observe(conn: psycopg.Connection[Any], node_id: int, incarnation: uuid.UUID) -> Round:
    """The live set and the controller, changing nothing (after a NOTIFY)."""
    row = conn.execute(
        "SELECT 1 FROM brokers WHERE node_id = %s AND incarnation = %s", (node_id, incarnation)
    ).fetchone()
    return _read(conn, registered=row is not None)


def _read(conn: psycopg.Connection[Any], *, registered: bool) -> Round:
    rows = conn.execute(
        "SELECT node_id, rack, listeners FROM brokers WHERE lease_expires_at > now()"
        " ORDER BY node_id"
    ).fetchall()
    live = tuple(
        BrokerEndpoint(
            int(node),
            {name: (str(host), int(port)) for name, (host, port) in listeners.items()},
            rack,
        )
        for node, rack, listeners in rows
    )
    lease = conn.execute(
        "SELECT holder, epoch FROM leases WHERE name = %s AND expires_at > now()",
        (CONTROLLER_LEASE,),
    ).fetchone()
    holder, epoch = (int(lease[0]), int(lease[1])) if lease is not None else (-1, 0)
    return Round(registered, live, holder, epoch)


def deregister(conn: psycopg.Connection[Any], node_id: int, incarnation: uuid.UUID) -> None:
    """Remove this incarnation's registration and give up the controller lease if held."""
    gone = conn.execute(
        "DELETE FROM brokers WHERE node_id = %s AND incarnation = %s RETURNING node_id",
        (node_id, incarnation),
    ).fetchone()
    if gone is None:
        return  # another incarnation registered this node id since: all of it is its own
    conn.execute(
        "UPDATE leases SET expires_at = now() WHERE name = %s AND holder = %s",
        (CONTROLLER_LEASE, node_id),
    )
    notify(conn, BROKERS_CHANNEL, str(node_id))
