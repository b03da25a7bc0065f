"""Tests for kafkatwist.apis.init_producer_id and kafkatwist.producers.ids."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import REGISTRY
from kafkatwist.apis import init_producer_id as api
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages import metadata_records as mr
from kafkatwist.messages.init_producer_id import InitProducerIdRequest, InitProducerIdResponse
from kafkatwist.producers.ids import BLOCK_SIZE
from kafkatwist.storage.kraft import KRaftMetadataStore
from kafkatwist.transport.dispatch import Dispatcher
from tests.brokers import call, make_broker, metadata_of


def request(
    transactional_id: str | None = None, producer_id: int = -1, producer_epoch: int = -1
) -> InitProducerIdRequest:
    return InitProducerIdRequest(
        transactional_id=transactional_id,
        transaction_timeout_ms=60000,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
    )


class InitProducerIdTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.log_dir = tempfile.mkdtemp()
        self.broker = make_broker(self.log_dir)

    def init(
        self, version: int, req: InitProducerIdRequest | None = None
    ) -> InitProducerIdResponse:
        response: InitProducerIdResponse = self.successResultOf(
            call(self.broker, api.SPEC, req or request(), version)
        )
        return response

    def refused(self, version: int, req: InitProducerIdRequest) -> ErrorCode:
        failure = self.failureResultOf(call(self.broker, api.SPEC, req, version), KafkaError)
        code: ErrorCode = failure.value.code
        return code

    def test_every_version_gets_a_new_id_and_epoch_zero(self) -> None:
        """Each version from 0 to 5 answers NONE with a fresh producer id and epoch 0."""
        ids = []
        for version in range(6):
            response = self.init(version)
            self.assertEqual((response.error_code, response.producer_epoch), (0, 0))
            ids.append(response.producer_id)
        self.assertEqual(ids, list(range(6)))

    def test_registered(self) -> None:
        """InitProducerId is in the registry with versions 0 to 5."""
        spec = {s.api_key: s for s in REGISTRY}[22]
        self.assertEqual((spec.versions.lowest, spec.versions.highest), (0, 5))

    def test_existing_producer_gets_a_new_id(self) -> None:
        """Without a transactional id, v3+ with an id and epoch still gets a new id, as in Kafka."""
        first = self.init(3)
        second = self.init(
            4, request(producer_id=first.producer_id, producer_epoch=first.producer_epoch)
        )
        self.assertEqual(second.error_code, 0)
        self.assertNotEqual(second.producer_id, first.producer_id)
        self.assertEqual(second.producer_epoch, 0)

    def test_producer_id_and_epoch_must_come_together(self) -> None:
        """A producer id without an epoch, or an epoch without an id, is INVALID_REQUEST."""
        self.assertEqual(self.refused(3, request(producer_id=5)), ErrorCode.INVALID_REQUEST)
        self.assertEqual(self.refused(5, request(producer_epoch=2)), ErrorCode.INVALID_REQUEST)

    def test_transactional_id_served(self) -> None:
        """A transactional id gets a producer id from the coordinator, a new epoch each time."""
        epochs = []
        for version in range(6):
            response = self.init(version, request("tx-1"))
            self.assertEqual(response.error_code, 0)
            epochs.append(response.producer_epoch)
        self.assertEqual(epochs, list(range(6)))

    def test_empty_transactional_id_is_invalid_request(self) -> None:
        """An empty transactional id is INVALID_REQUEST, as in Kafka's coordinator."""
        self.assertEqual(self.refused(2, request("")), ErrorCode.INVALID_REQUEST)

    def test_error_response_shape(self) -> None:
        """Errors carry producer id -1 and epoch -1."""
        response = api.error_response(
            request("tx"), 3, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
        )
        self.assertEqual(
            (response.error_code, response.producer_id, response.producer_epoch), (53, -1, -1)
        )

    def test_refusal_through_dispatcher(self) -> None:
        """A v4 request with a too long transaction timeout, as bytes, gets the error bytes."""
        frame = bytes.fromhex(
            "0016"
            "0004"
            "00000009"
            "0001"
            "63"
            "00"  # key 22, v4, correlation 9, client "c", no tags
            "03"
            "7478"  # compact nullable string "tx"
            "7fffffff"  # transaction_timeout_ms 2147483647
            "ffffffffffffffff"
            "ffff"
            "00"  # producer id -1, epoch -1, no tags
        )
        expected = bytes.fromhex(
            "00000009"
            "00"  # correlation 9, no header tags
            "00000000"
            "0032"  # throttle 0, INVALID_TRANSACTION_TIMEOUT
            "ffffffffffffffff"
            "ffff"
            "00"  # producer id -1, epoch -1, no tags
        )
        reply = self.successResultOf(Dispatcher(REGISTRY, self.broker).dispatch(frame))
        assert reply is not None
        self.assertEqual(b"".join(bytes(b) for b in reply), expected)

    def test_success_through_dispatcher(self) -> None:
        """A v0 request as bytes gets producer id 0 and epoch 0 as bytes."""
        frame = bytes.fromhex("0016000000000001ffffffff00000064")
        expected = bytes.fromhex("0000000100000000000000000000000000000000")
        reply = self.successResultOf(Dispatcher(REGISTRY, self.broker).dispatch(frame))
        assert reply is not None
        self.assertEqual(b"".join(bytes(b) for b in reply), expected)

    def test_first_block_recorded(self) -> None:
        """The first id allocates a block of 1000, recorded as a ProducerIdsRecord."""
        self.init(0)
        self.assertEqual(self.broker.metadata.image.next_producer_id, BLOCK_SIZE)
        reloaded = KRaftMetadataStore(self.log_dir)
        reloaded.load()
        self.assertEqual(reloaded.image.next_producer_id, BLOCK_SIZE)
        self.assertNotIn("ProducerIdsRecord", reloaded.image.ignored)

    def test_next_block_after_a_thousand(self) -> None:
        """Id 1000 comes from a second block, recorded with next id 2000."""
        allocator = self.broker.producer_ids
        ids = [self.successResultOf(allocator.allocate()) for _ in range(BLOCK_SIZE + 1)]
        self.assertEqual(ids, list(range(BLOCK_SIZE + 1)))
        self.assertEqual(self.broker.metadata.image.next_producer_id, 2 * BLOCK_SIZE)

    def test_ids_never_reused_after_restart(self) -> None:
        """A restarted broker starts after the last recorded block."""
        used = {self.init(3).producer_id for _ in range(3)}
        restarted = make_broker(self.log_dir)
        response = self.successResultOf(call(restarted, api.SPEC, request(), 3))
        self.assertNotIn(response.producer_id, used)
        self.assertEqual(response.producer_id, BLOCK_SIZE)

    def test_concurrent_requests_share_one_block(self) -> None:
        """Requests made while the block record is written wait and get distinct ids."""
        pending: list[tuple[Deferred[Any], Callable[[], Any]]] = []

        def slow(fn: Callable[[], Any]) -> Deferred[Any]:
            d: Deferred[Any] = Deferred()
            pending.append((d, fn))
            return d

        metadata_of(self.broker).run_blocking = slow
        first = call(self.broker, api.SPEC, request(), 2)
        second = call(self.broker, api.SPEC, request(), 2)
        self.assertNoResult(first)
        self.assertNoResult(second)
        self.assertEqual(len(pending), 1)
        d, fn = pending.pop()
        d.callback(fn())
        ids = {self.successResultOf(first).producer_id, self.successResultOf(second).producer_id}
        self.assertEqual(ids, {0, 1})

    def test_failed_block_write(self) -> None:
        """A failed block write fails the waiting request; a later one retries."""
        pending: list[Deferred[Any]] = []

        def failing(fn: Callable[[], Any]) -> Deferred[Any]:
            d: Deferred[Any] = Deferred()
            pending.append(d)
            return d

        metadata_of(self.broker).run_blocking = failing
        waiting = call(self.broker, api.SPEC, request(), 1)
        pending.pop().errback(OSError("disk full"))
        self.failureResultOf(waiting, OSError)
        metadata_of(self.broker).run_blocking = KRaftMetadataStore(self.log_dir).run_blocking
        self.assertEqual(self.init(1).producer_id, 0)

    def test_exhausted_ids(self) -> None:
        """Near the end of the int64 range allocation fails instead of wrapping."""
        self.broker.metadata.image.apply(
            mr.ProducerIdsRecord(broker_id=1, broker_epoch=-1, next_producer_id=(1 << 63) - 10)
        )
        failure = self.failureResultOf(self.broker.producer_ids.allocate(), KafkaError)
        self.assertEqual(failure.value.code, ErrorCode.UNKNOWN_SERVER_ERROR)
