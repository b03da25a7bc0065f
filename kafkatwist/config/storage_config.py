"""The storage engine's keys (C{kafkatwist.storage*}): kafkatwist's own, read-only.

C{kafkatwist.storage} chooses the engine: empty (the default) keeps the
partition logs and the metadata log in C{log.dirs} (the file engine);
a C{postgresql://} URL keeps everything in that PostgreSQL database, shared
by every broker of the cluster (L{kafkatwist.postgres}). The URL may carry a
password, so the key is sensitive: DescribeConfigs never shows its value.
L{kafkatwist.config.broker_configs} adds these rows to its table.
"""

from __future__ import annotations

from collections.abc import Mapping

from attrs import frozen

from kafkatwist.config.values import TYPE_INT, TYPE_PASSWORD, Validator, at_least, parse_as

__all__ = ["STORAGE", "STORAGE_BROKER_ROWS", "STORAGE_KEYS", "StorageConfig"]

STORAGE = "kafkatwist.storage"
POOL_SIZE = "kafkatwist.storage.pool.size"

#: The URL schemes of the PostgreSQL engine (libpq's).
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def _storage_url(value: str) -> str | None:
    if value == "" or value.startswith(POSTGRES_SCHEMES):
        return None
    return "Must be empty (the file engine in log.dirs) or a postgresql:// URL"


# (name, type, default, documentation, validator)
# fmt: off
STORAGE_BROKER_ROWS: tuple[tuple[str, int, str | None, str, Validator | None], ...] = (
    (STORAGE, TYPE_PASSWORD, "", "Where the cluster's data lives: empty for the files in "
     "log.dirs, or a postgresql:// URL (libpq's form) for a PostgreSQL database shared by every "
     "broker of the cluster.", _storage_url),
    (POOL_SIZE, TYPE_INT, "8", "The connections (each in a thread of its own) a broker keeps to "
     "the PostgreSQL engine's database, besides one per LISTEN channel.", at_least(1)),
)
# fmt: on

#: Kafka's broker registration and leadership keys the PostgreSQL engine's
#: membership reads (L{kafkatwist.postgres.membership.MembershipConfig}).
MEMBERSHIP_KEYS = frozenset(
    {
        "broker.heartbeat.interval.ms",
        "broker.session.timeout.ms",
        "initial.broker.registration.timeout.ms",
        "auto.leader.rebalance.enable",
        "leader.imbalance.check.interval.seconds",
    }
)

#: Every storage key: something reads them (L{kafkatwist.config.properties.USED_KEYS}).
STORAGE_KEYS = frozenset(name for name, *_ in STORAGE_BROKER_ROWS) | MEMBERSHIP_KEYS


@frozen
class StorageConfig:
    """
    The engine's settings.

    @ivar url: The PostgreSQL URL, or None for the file engine.
    @ivar pool_size: Connections (and threads) to the database.
    """

    url: str | None = None
    pool_size: int = 8

    @property
    def is_postgres(self) -> bool:
        return self.url is not None

    @classmethod
    def from_properties(cls, props: Mapping[str, str]) -> StorageConfig:
        """The settings in C{props} (values already validated by the broker table)."""
        return cls(
            url=props.get(STORAGE) or None,
            pool_size=parse_as(TYPE_INT, props.get(POOL_SIZE, "8"), int),
        )
