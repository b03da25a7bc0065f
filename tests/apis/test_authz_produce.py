"""Produce authorizes as Kafka's C{handleProduceRequest}: WRITE per topic, transactional ids."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import produce
from kafkatwist.apis._authz import denied_names
from kafkatwist.errors import ErrorCode, ProtocolViolation
from kafkatwist.messages.produce import (
    PartitionProduceData,
    ProduceRequest,
    ProduceResponse,
    TopicProduceData,
)
from kafkatwist.security.acl import AclOperation, PatternType, ResourceType
from kafkatwist.wire.record import build_batch
from tests.brokers import context, log_of, make_broker
from tests.security.authz_support import acl, authorize, call_as, on_cluster

W = AclOperation.WRITE


def batch(*, pid: int = -1, transactional: bool = False) -> bytes:
    return build_batch(
        [(None, b"v")],
        base_timestamp=1_700_000_000_000,
        producer_id=pid,
        producer_epoch=0 if pid >= 0 else -1,
        base_sequence=0 if pid >= 0 else -1,
        is_transactional=transactional,
    )


def request(
    *topics: str,
    records: bytes | None = None,
    acks: int = 1,
    transactional_id: str | None = None,
    topic_ids: dict[str, uuid.UUID] | None = None,
) -> ProduceRequest:
    return ProduceRequest(
        acks=acks,
        timeout_ms=1000,
        transactional_id=transactional_id,
        topic_data=tuple(
            TopicProduceData(
                name=name if topic_ids is None else "",
                topic_id=uuid.UUID(int=0) if topic_ids is None else topic_ids[name],
                partition_data=(PartitionProduceData(index=0, records=records or batch()),),
            )
            for name in topics
        ),
    )


class ProduceAuthorizationTests(SynchronousTestCase):
    """Topics C{t} and C{app.orders} exist; alice produces."""

    def setUp(self) -> None:
        self.broker = make_broker()
        self.successResultOf(self.broker.controller.create_topic("t", 1))
        self.successResultOf(self.broker.controller.create_topic("app.orders", 1))

    def codes(self, req: ProduceRequest, version: int = 11) -> dict[str, int]:
        response: ProduceResponse = self.successResultOf(
            call_as(self.broker, produce.SPEC, req, version)
        )
        return {
            t.name or str(t.topic_id): t.partition_responses[0].error_code
            for t in response.responses
        }

    def test_no_acl_refused_nothing_appended(self) -> None:
        """Without WRITE the partition is TOPIC_AUTHORIZATION_FAILED and the log stays empty."""
        authorize(self.broker, acl(ResourceType.TOPIC, "t", AclOperation.READ))
        self.assertEqual(self.codes(request("t")), {"t": ErrorCode.TOPIC_AUTHORIZATION_FAILED})
        self.assertEqual(log_of(self.broker, "t", 0).log_end_offset, 0)

    def test_prefixed_write_allowed(self) -> None:
        """WRITE on a prefix lets its topics be written, and only those."""
        authorize(self.broker, acl(ResourceType.TOPIC, "app.", W, pattern=PatternType.PREFIXED))
        self.assertEqual(
            self.codes(request("app.orders", "t")),
            {"app.orders": 0, "t": ErrorCode.TOPIC_AUTHORIZATION_FAILED},
        )
        self.assertEqual(log_of(self.broker, "app.orders", 0).log_end_offset, 1)

    def test_authorization_before_existence(self) -> None:
        """A missing topic is TOPIC_AUTHORIZATION_FAILED unless WRITE is allowed on it."""
        authorize(self.broker, acl(ResourceType.TOPIC, "known-missing", W))
        self.assertEqual(
            self.codes(request("secret-missing", "known-missing")),
            {
                "secret-missing": ErrorCode.TOPIC_AUTHORIZATION_FAILED,
                "known-missing": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
            },
        )

    def test_deny_beats_allow(self) -> None:
        """A DENY of WRITE wins over an ALLOW of ALL on a matching prefix."""
        authorize(
            self.broker,
            acl(ResourceType.TOPIC, "app.", AclOperation.ALL, pattern=PatternType.PREFIXED),
            acl(ResourceType.TOPIC, "app.orders", W, deny=True),
        )
        self.assertEqual(
            self.codes(request("app.orders")), {"app.orders": ErrorCode.TOPIC_AUTHORIZATION_FAILED}
        )

    def test_topic_ids_v13(self) -> None:
        """v13: an unknown id is UNKNOWN_TOPIC_ID; a known one is authorized by its name."""
        authorize(self.broker, acl(ResourceType.TOPIC, "app.orders", W))
        image = self.broker.metadata.image
        ids = {
            "t": image.topics["t"].topic_id,
            "app.orders": image.topics["app.orders"].topic_id,
            "gone": uuid.uuid4(),
        }
        codes = self.codes(request("t", "app.orders", "gone", topic_ids=ids), version=13)
        self.assertEqual(
            codes,
            {
                str(ids["t"]): ErrorCode.TOPIC_AUTHORIZATION_FAILED,
                str(ids["app.orders"]): 0,
                str(ids["gone"]): ErrorCode.UNKNOWN_TOPIC_ID,
            },
        )

    def test_idempotent_needs_no_cluster_acl(self) -> None:
        """An idempotent batch needs topic WRITE only (no IDEMPOTENT_WRITE since KIP-679)."""
        authorize(
            self.broker,
            acl(ResourceType.TOPIC, "t", W),
            on_cluster(AclOperation.IDEMPOTENT_WRITE, deny=True),
        )
        self.assertEqual(self.codes(request("t", records=batch(pid=5))), {"t": 0})

    def test_transactional_id_denied(self) -> None:
        """Transactional batches without WRITE on the id fail the whole request."""
        authorize(
            self.broker,
            acl(ResourceType.TOPIC, "t", W),
            acl(ResourceType.TRANSACTIONAL_ID, "tx", AclOperation.DESCRIBE),
        )
        req = request(
            "t", "app.orders", records=batch(pid=5, transactional=True), transactional_id="tx"
        )
        denied = ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
        self.assertEqual(self.codes(req, 12), {"t": denied, "app.orders": denied})
        self.assertEqual(log_of(self.broker, "t", 0).log_end_offset, 0)

    def test_transactional_id_allowed(self) -> None:
        """With WRITE on the id the request goes on to the topic checks and the coordinator."""
        authorize(
            self.broker,
            acl(ResourceType.TOPIC, "t", W),
            acl(ResourceType.TRANSACTIONAL_ID, "tx", W),
        )
        req = request(
            "t", "app.orders", records=batch(pid=5, transactional=True), transactional_id="tx"
        )
        codes = self.codes(req, 12)
        self.assertEqual(codes["app.orders"], ErrorCode.TOPIC_AUTHORIZATION_FAILED)
        self.assertNotIn(
            codes["t"],
            (ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, ErrorCode.TOPIC_AUTHORIZATION_FAILED),
        )

    def test_transactional_without_id(self) -> None:
        """Transactional batches without a transactional id are refused, even with no authorizer."""
        req = request("t", records=batch(pid=5, transactional=True))
        self.assertEqual(self.codes(req), {"t": ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED})
        self.assertEqual(log_of(self.broker, "t", 0).log_end_offset, 0)

    def test_plain_batches_with_id_unchecked(self) -> None:
        """A transactional id with plain batches needs no ACL on it (Kafka looks at the batches)."""
        authorize(self.broker, acl(ResourceType.TOPIC, "t", W))
        self.assertEqual(self.codes(request("t", transactional_id="tx")), {"t": 0})

    def test_acks_zero_refusal_closes(self) -> None:
        """acks=0 has no answer: a refused transactional id closes the connection."""
        authorize(self.broker, acl(ResourceType.TOPIC, "t", W))
        req = request("t", acks=0, records=batch(pid=5, transactional=True), transactional_id="tx")
        failure = self.failureResultOf(call_as(self.broker, produce.SPEC, req, 11))
        failure.trap(ProtocolViolation)
        self.assertIn("TRANSACTIONAL_ID_AUTHORIZATION_FAILED", str(failure.value))

    def test_acks_zero_topic_refusal_closes(self) -> None:
        """acks=0 to a topic without WRITE closes the connection, as any partition error does."""
        authorize(self.broker)
        failure = self.failureResultOf(call_as(self.broker, produce.SPEC, request("t", acks=0), 11))
        failure.trap(ProtocolViolation)
        self.assertIn("TOPIC_AUTHORIZATION_FAILED", str(failure.value))

    def test_invalid_acks_after_authorization(self) -> None:
        """An invalid acks is INVALID_REQUIRED_ACKS only where WRITE is allowed."""
        authorize(self.broker, acl(ResourceType.TOPIC, "t", W))
        self.assertEqual(
            self.codes(request("t", "app.orders", acks=2)),
            {
                "t": ErrorCode.INVALID_REQUIRED_ACKS,
                "app.orders": ErrorCode.TOPIC_AUTHORIZATION_FAILED,
            },
        )

    def test_super_user(self) -> None:
        """A super user may write anywhere without ACLs."""
        authorize(self.broker)
        assert self.broker.authorizer is not None
        self.broker.authorizer.super_users = frozenset({"User:alice"})
        self.assertEqual(self.codes(request("t")), {"t": 0})

    def test_no_authorizer_looks_at_nothing(self) -> None:
        """Without an authorizer, denied_names denies nothing and never iterates the names."""

        def names() -> Iterator[str]:
            raise AssertionError("iterated")
            yield "t"

        ctx = context(self.broker, produce.SPEC, 11)
        self.assertEqual(denied_names(ctx, W, ResourceType.TOPIC, names()), frozenset())
