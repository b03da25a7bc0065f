"""The metadata log's writers over PgMetadataStore: two whole brokers sharing one PostgreSQL.

Each broker is built by L{build_broker} over its own L{PgMetadataStore} (its
own connections) and its own file-engine partition logs, so the controller,
the feature registry, the producer id allocator and the config resolver are
the production ones. Client-driven writes racing another broker's get
C{NOT_CONTROLLER} (which clients retry) and nothing else; internal writers
retry by themselves.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, TypeVar

import pytest
import pytest_twisted
from twisted.internet.defer import Deferred, gatherResults

from kafkatwist.broker import Broker, build_broker
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.config.resolver import ConfigResolver
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.postgres.metadata import PgMetadataStore
from kafkatwist.quotas.control import QuotaAlteration
from kafkatwist.quotas.entities import Entity
from kafkatwist.security.acl import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourceType,
)
from kafkatwist.storage.kraft import RESOURCE_TOPIC
from kafkatwist.storage.manager import LogManager
from kafkatwist.storage.read_pool import ReadPool
from tests.postgres.pgmeta_support import brokers, migrated_database, next_records
from tests.storage.support import run_now

T = TypeVar("T")


@pytest.fixture
def dsn(request: Any) -> str:
    """A fresh, migrated database (dropped after the test)."""
    return migrated_database(request)


@asynccontextmanager
async def two_brokers(dsn: str) -> AsyncIterator[tuple[list[Broker], list[PgMetadataStore]]]:
    """Brokers 1 and 2, built as the service builds them, over one database, and their stores."""
    async with brokers(dsn) as stores:
        built = []
        for store in stores:
            config = BrokerConfig.from_properties({"node.id": str(store.node_id)})
            configs = ConfigResolver(config, store)
            logs = LogManager(
                [tempfile.mkdtemp(prefix="pgmeta-")],
                configs.log_config,
                clock=store._clock,
                run_blocking=run_now,
                read_pool=ReadPool(run_now),
            )
            await logs.load()
            built.append(build_broker(config, store._clock, store, logs, configs))
        yield built, stores


async def caught_up(stores: list[PgMetadataStore]) -> None:
    """Every store has read what the others wrote."""
    for store in stores:
        await store.sync()


async def retried(call: Callable[[], Awaitable[T]], tries: int = 20) -> T:
    """C{call()}, again while it fails with NOT_CONTROLLER (what a Kafka client does)."""
    for _ in range(tries - 1):
        try:
            return await call()
        except KafkaError as e:
            if e.code != ErrorCode.NOT_CONTROLLER:
                raise
    return await call()


async def code_of(d: Awaitable[object]) -> ErrorCode | None:
    """None once C{d} succeeds, or its KafkaError's code."""
    try:
        await d
    except KafkaError as e:
        return e.code
    return None


def set_quota(broker: Broker, user: str) -> Deferred[dict[Entity, KafkaError | None]]:
    """Set C{user}'s producer byte rate through C{broker}'s controller."""
    alteration = QuotaAlteration((("user", user),), [("producer_byte_rate", 1.0)])
    return broker.controller.alter_client_quotas([alteration])


def acl(principal: str) -> AclBinding:
    """An ALLOW READ ACL on topic t for C{principal}."""
    return AclBinding(
        ResourceType.TOPIC,
        "t",
        PatternType.LITERAL,
        principal,
        "*",
        AclOperation.READ,
        AclPermissionType.ALLOW,
    )


@pytest_twisted.ensureDeferred
async def test_bootstrap_and_producer_ids_race_without_errors(dsn: str) -> None:
    """Both brokers bootstrap features and take producer id blocks at once: no error, no reuse."""
    async with two_brokers(dsn) as ((a, b), stores):
        await gatherResults([a.features.bootstrap(), b.features.bootstrap()])
        await caught_up(stores)
        ids: list[int] = []
        for _ in range(3):
            ids += await gatherResults([a.producer_ids.allocate(), b.producer_ids.allocate()])
        assert len(set(ids)) == 6
        # Two blocks of 1000, one per broker: each broker's ids come from its own block.
        assert {i // 1000 for i in ids} == {0, 1}
        await caught_up(stores)
        assert a.features.finalized() == b.features.finalized()
        assert a.metadata.image.next_producer_id == b.metadata.image.next_producer_id == 2000


@pytest_twisted.ensureDeferred
async def test_racing_topic_creations_one_wins(dsn: str) -> None:
    """The same topic created on both brokers at once: one succeeds, the other is told to retry."""
    async with two_brokers(dsn) as ((a, b), _):
        codes = await gatherResults(
            [
                Deferred.fromCoroutine(code_of(a.controller.create_topic("t", 2))),
                Deferred.fromCoroutine(code_of(b.controller.create_topic("t", 2))),
            ]
        )
        assert sorted(codes, key=str) == sorted([None, ErrorCode.NOT_CONTROLLER], key=str)
        loser = a if codes[0] is not None else b
        with pytest.raises(KafkaError) as caught:
            await loser.controller.create_topic("t", 2)
        assert caught.value.code == ErrorCode.TOPIC_ALREADY_EXISTS
        # The loser removed the logs it had made for its attempt.
        assert loser.logs.partitions() == []
        assert a.metadata.image.topics["t"].topic_id == b.metadata.image.topics["t"].topic_id


@pytest_twisted.ensureDeferred
async def test_client_writes_race_and_retry(dsn: str) -> None:
    """ACLs and quotas written on both brokers at once all land once the losers retry."""
    async with two_brokers(dsn) as ((a, b), stores):
        acls = [
            Deferred.fromCoroutine(retried(lambda: a.controller.create_acls([acl("User:a")]))),
            Deferred.fromCoroutine(retried(lambda: b.controller.create_acls([acl("User:b")]))),
        ]
        quotas = [
            Deferred.fromCoroutine(retried(partial(set_quota, broker, user)))
            for broker, user in ((a, "a"), (b, "b"))
        ]
        results = await gatherResults(acls)
        quota_results = await gatherResults(quotas)
        assert quota_results == [{(("user", "a"),): None}, {(("user", "b"),): None}]
        assert results[0] == results[1] == [None]
        await caught_up(stores)
        for broker in (a, b):
            principals = {binding.principal for binding in broker.metadata.image.acls.values()}
            assert principals == {"User:a", "User:b"}
            assert len(broker.metadata.image.client_quotas) == 2


@pytest_twisted.ensureDeferred
async def test_config_change_on_one_broker_reaches_the_others_logs(dsn: str) -> None:
    """A topic config altered through broker 1 reaches the open logs of broker 2, which leads it."""
    async with two_brokers(dsn) as ((a, b), stores):
        await b.controller.create_topic("t", 1)
        log = b.logs.get("t", 0)
        assert log is not None
        await caught_up(stores)
        seen = next_records(stores[1])
        await retried(lambda: a.controller.set_configs(RESOURCE_TOPIC, "t", {"retention.ms": "77"}))
        await seen
        assert log.config.retention_ms == 77
