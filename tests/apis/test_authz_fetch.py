"""Fetch authorizes as Kafka's C{handleFetchRequest}: READ per topic, followers CLUSTER_ACTION."""

from __future__ import annotations

import uuid

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import fetch
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.fetch import (
    FetchPartition,
    FetchRequest,
    FetchResponse,
    FetchTopic,
    ReplicaState,
)
from kafkatwist.security.acl import AclOperation, PatternType, ResourceType
from kafkatwist.wire.record import build_batch
from tests.brokers import log_of, make_broker
from tests.security.authz_support import acl, authorize, call_as, on_cluster
from tests.storage.support import append_batches

R = AclOperation.READ
DENIED = ErrorCode.TOPIC_AUTHORIZATION_FAILED


def batch() -> bytes:
    return build_batch([(None, b"v" * 50)], base_timestamp=1_700_000_000_000)


class FetchAuthorizationTests(SynchronousTestCase):
    """Topics C{t} and C{app.orders}, one record each; alice fetches."""

    def setUp(self) -> None:
        self.broker = make_broker()
        for name in ("t", "app.orders"):
            self.successResultOf(self.broker.controller.create_topic(name, 1))
            self.successResultOf(append_batches(log_of(self.broker, name, 0), batch()))

    def request(
        self,
        *names: str,
        replica_id: int = -1,
        version: int = 12,
        session_id: int = 0,
        epoch: int = -1,
        ids: dict[str, uuid.UUID] | None = None,
    ) -> FetchRequest:
        part = (FetchPartition(partition=0, fetch_offset=0, partition_max_bytes=1 << 20),)
        return FetchRequest(
            replica_id=replica_id if version < 15 else -1,
            replica_state=ReplicaState(replica_id=replica_id if version >= 15 else -1),
            max_wait_ms=0,
            min_bytes=0,
            max_bytes=1 << 20,
            session_id=session_id,
            session_epoch=epoch,
            topics=tuple(
                FetchTopic(topic=n, partitions=part)
                if ids is None
                else FetchTopic(topic_id=ids[n], partitions=part)
                for n in names
            ),
        )

    def ids(self) -> dict[str, uuid.UUID]:
        return {name: t.topic_id for name, t in self.broker.metadata.image.topics.items()}

    def fetch(self, req: FetchRequest, version: int = 12) -> FetchResponse:
        d = call_as(self.broker, fetch.SPEC, req, version)
        response: FetchResponse = self.successResultOf(d)
        return response

    def answers(self, req: FetchRequest, version: int = 12) -> dict[str, tuple[int, bool]]:
        """(error code, whether records came) by topic name or id."""
        return {
            t.topic or str(t.topic_id): (t.partitions[0].error_code, bool(t.partitions[0].records))
            for t in self.fetch(req, version).responses
        }

    def test_read_needed(self) -> None:
        """A consumer reads the topic it has READ on; the other is TOPIC_AUTHORIZATION_FAILED."""
        authorize(self.broker, acl(ResourceType.TOPIC, "app.", R, pattern=PatternType.PREFIXED))
        response = self.fetch(self.request("t", "app.orders"))
        parts = {t.topic: t.partitions[0] for t in response.responses}
        allowed = parts["app.orders"]
        self.assertEqual((allowed.error_code, bool(allowed.records)), (0, True))
        refused = parts["t"]
        self.assertEqual(
            (refused.error_code, refused.high_watermark, refused.log_start_offset, refused.records),
            (DENIED, -1, -1, b""),
        )

    def test_describe_is_not_read(self) -> None:
        """DESCRIBE (or WRITE) does not let a consumer read."""
        authorize(
            self.broker,
            acl(ResourceType.TOPIC, "t", AclOperation.DESCRIBE),
            acl(ResourceType.TOPIC, "t", AclOperation.WRITE),
        )
        self.assertEqual(self.answers(self.request("t")), {"t": (DENIED, False)})

    def test_deny_beats_allow(self) -> None:
        """A DENY of READ wins over an ALLOW of READ on the wildcard."""
        authorize(
            self.broker, acl(ResourceType.TOPIC, "*", R), acl(ResourceType.TOPIC, "t", R, deny=True)
        )
        self.assertEqual(
            self.answers(self.request("t", "app.orders")),
            {"t": (DENIED, False), "app.orders": (0, True)},
        )

    def test_missing_topic_not_disclosed(self) -> None:
        """A missing topic without READ is TOPIC_AUTHORIZATION_FAILED, with READ unknown."""
        authorize(self.broker, acl(ResourceType.TOPIC, "mine", R))
        self.assertEqual(
            self.answers(self.request("nope", "mine")),
            {"nope": (DENIED, False), "mine": (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, False)},
        )

    def test_topic_ids(self) -> None:
        """v13+: an unknown id is UNKNOWN_TOPIC_ID; a known one is checked by its name."""
        authorize(self.broker, acl(ResourceType.TOPIC, "app.orders", R))
        topics = self.broker.metadata.image.topics
        ids = {"t": topics["t"].topic_id, "app.orders": topics["app.orders"].topic_id}
        ids["gone"] = uuid.uuid4()
        answers = self.answers(self.request("t", "app.orders", "gone", ids=ids, version=13), 13)
        self.assertEqual(
            answers,
            {
                str(ids["t"]): (DENIED, False),
                str(ids["app.orders"]): (0, True),
                str(ids["gone"]): (ErrorCode.UNKNOWN_TOPIC_ID, False),
            },
        )

    def test_follower_needs_cluster_action(self) -> None:
        """A follower without CLUSTER_ACTION gets TOPIC_AUTHORIZATION_FAILED everywhere."""
        authorize(self.broker, acl(ResourceType.TOPIC, "*", R))
        self.assertEqual(
            self.answers(self.request("t", "nope", replica_id=1)),
            {"t": (DENIED, False), "nope": (DENIED, False)},
        )

    def test_follower_with_cluster_action(self) -> None:
        """CLUSTER_ACTION lets a follower read every topic, with no topic ACL."""
        authorize(self.broker, on_cluster(AclOperation.CLUSTER_ACTION))
        self.assertEqual(
            self.answers(self.request("t", replica_id=1, version=15, ids=self.ids()), 15),
            {str(self.ids()["t"]): (0, True)},
        )

    def test_follower_v15_replica_state(self) -> None:
        """From v15 the replica id comes in the replica state, and is checked the same."""
        authorize(self.broker, acl(ResourceType.TOPIC, "*", R))
        self.assertEqual(
            self.answers(self.request("t", replica_id=2, version=15, ids=self.ids()), 15),
            {str(self.ids()["t"]): (DENIED, False)},
        )

    def test_session_partition_revoked(self) -> None:
        """An incremental fetch re-checks its session's partitions: a revoked topic is refused."""
        authorizer = authorize(self.broker, acl(ResourceType.TOPIC, "*", R))
        full = self.fetch(self.request("t", "app.orders", epoch=0))
        self.assertNotEqual(full.session_id, 0)
        authorizer.add([acl(ResourceType.TOPIC, "t", R, deny=True)])
        self.successResultOf(append_batches(log_of(self.broker, "t", 0), batch()))
        self.successResultOf(append_batches(log_of(self.broker, "app.orders", 0), batch()))
        incremental = self.request(session_id=full.session_id, epoch=1)
        parts = {t.topic: t.partitions[0] for t in self.fetch(incremental).responses}
        self.assertEqual((parts["t"].error_code, parts["t"].records), (DENIED, b""))
        self.assertEqual(parts["app.orders"].error_code, 0)

    def test_quiet_session_partition_revoked(self) -> None:
        """A quiet session partition whose topic is revoked is answered at once, as in Kafka."""
        authorizer = authorize(self.broker, acl(ResourceType.TOPIC, "*", R))
        full = self.fetch(self.request("t", epoch=0))
        authorizer.add([acl(ResourceType.TOPIC, "t", R, deny=True)])
        incremental = self.fetch(self.request(session_id=full.session_id, epoch=1))
        self.assertEqual(
            [(t.topic, t.partitions[0].error_code) for t in incremental.responses], [("t", DENIED)]
        )

    def test_no_authorizer_unchanged(self) -> None:
        """Without an authorizer every topic is read, followers included."""
        self.assertEqual(
            self.answers(self.request("t", "app.orders", replica_id=1)),
            {"t": (0, True), "app.orders": (0, True)},
        )
