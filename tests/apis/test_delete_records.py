"""DeleteRecords (api key 21) against a broker on the file engine, at every version."""

from __future__ import annotations

from kafka.protocol.admin.topics import DeleteRecordsRequest as ClientRequest
from kafka.protocol.admin.topics import DeleteRecordsResponse as ClientResponse
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import REGISTRY, delete_records
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.delete_records import (
    DeleteRecordsPartition,
    DeleteRecordsRequest,
    DeleteRecordsTopic,
)
from kafkatwist.storage.kraft import RESOURCE_BROKER
from kafkatwist.wire import schema
from tests.brokers import call, make_broker
from tests.offsets_support import client_roundtrip, produce
from tests.storage.support import stored_batches

SPEC = delete_records.SPEC


class DeleteRecordsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = make_broker()
        self.controller = self.broker.controller
        self.successResultOf(self.controller.create_topic("t", 2))
        self.log = produce(self, self.broker, "t", 0, [[1, 2], [3, 4, 5]])  # offsets 0-4

    def delete(
        self, version: int = 2, **topics: list[tuple[int, int]]
    ) -> dict[str, list[tuple[int, int, int]]]:
        request = DeleteRecordsRequest(
            topics=tuple(
                DeleteRecordsTopic(
                    name=name,
                    partitions=tuple(
                        DeleteRecordsPartition(partition_index=i, offset=o) for i, o in parts
                    ),
                )
                for name, parts in topics.items()
            ),
            timeout_ms=1000,
        )
        response = self.successResultOf(call(self.broker, SPEC, request, version))
        schema.encode_bytes(response, version)
        return {
            t.name: [(p.partition_index, p.error_code, p.low_watermark) for p in t.partitions]
            for t in response.topics
        }

    def test_registered(self) -> None:
        """DeleteRecords is registered with versions 0-2."""
        self.assertIn(SPEC, REGISTRY)
        self.assertEqual((SPEC.versions.lowest, SPEC.versions.highest), (0, 2))

    def test_advances_log_start(self) -> None:
        """The log start offset moves to the requested offset, which is the low watermark."""
        self.assertEqual(self.delete(t=[(0, 3)]), {"t": [(0, 0, 3)]})
        self.assertEqual(self.log.log_start_offset, 3)
        self.assertEqual(len(stored_batches(self.log)), 1)

    def test_high_watermark_sentinel(self) -> None:
        """Offset -1 deletes up to the high watermark: nothing is left to read.

        As in Kafka, the active segment's file stays (only segments that a
        later one follows are deleted), so the log's size does not drop.
        """
        size = self.log.size_in_bytes
        self.assertEqual(self.delete(t=[(0, -1), (1, -1)]), {"t": [(0, 0, 5), (1, 0, 0)]})
        self.assertEqual((self.log.log_start_offset, self.log.log_end_offset), (5, 5))
        self.assertEqual(stored_batches(self.log), [])
        self.assertEqual(self.log.size_in_bytes, size)

    def test_lower_offset_keeps_start(self) -> None:
        """An offset below the current start deletes nothing and answers the current start."""
        self.delete(t=[(0, 3)])
        self.assertEqual(self.delete(t=[(0, 1)]), {"t": [(0, 0, 3)]})

    def test_offset_out_of_range(self) -> None:
        """Past the high watermark, or negative other than -1, is OFFSET_OUT_OF_RANGE."""
        out = int(ErrorCode.OFFSET_OUT_OF_RANGE)
        self.assertEqual(self.delete(t=[(0, 6), (1, -2)]), {"t": [(0, out, -1), (1, out, -1)]})
        self.assertEqual(self.log.log_start_offset, 0)
        self.assertEqual(self.delete(t=[(0, 5)]), {"t": [(0, 0, 5)]})

    def test_unknown_topic_or_partition(self) -> None:
        """An unknown topic or partition is UNKNOWN_TOPIC_OR_PARTITION with low watermark -1."""
        unknown = int(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        self.assertEqual(
            self.delete(t=[(4, 0)], nope=[(0, 0)]),
            {"t": [(4, unknown, -1)], "nope": [(0, unknown, -1)]},
        )

    def test_internal_topic(self) -> None:
        """Records of an internal topic cannot be deleted: INVALID_TOPIC_EXCEPTION."""
        self.successResultOf(self.controller.create_topic("__consumer_offsets", 1))
        self.assertEqual(
            self.delete(__consumer_offsets=[(0, 0)]),
            {"__consumer_offsets": [(0, int(ErrorCode.INVALID_TOPIC_EXCEPTION), -1)]},
        )

    def test_compacted_topic(self) -> None:
        """A cleanup.policy without delete is POLICY_VIOLATION; compact,delete allows it."""
        self.successResultOf(
            self.controller.create_topic("c", 1, configs={"cleanup.policy": "compact"})
        )
        self.successResultOf(
            self.controller.create_topic("cd", 1, configs={"cleanup.policy": "compact,delete"})
        )
        self.assertEqual(
            self.delete(c=[(0, 0)], cd=[(0, 0)]),
            {"c": [(0, int(ErrorCode.POLICY_VIOLATION), -1)], "cd": [(0, 0, 0)]},
        )

    def test_broker_default_policy(self) -> None:
        """Without a topic override the broker's log.cleanup.policy decides."""
        self.broker = make_broker(
            config=BrokerConfig.from_properties({"log.cleanup.policy": "compact"})
        )
        self.successResultOf(self.broker.controller.create_topic("b", 1))
        self.assertEqual(self.delete(b=[(0, 0)]), {"b": [(0, int(ErrorCode.POLICY_VIOLATION), -1)]})

    def test_dynamic_default_policy(self) -> None:
        """A dynamic cluster-wide log.cleanup.policy=compact is POLICY_VIOLATION, as in Kafka."""
        self.successResultOf(
            self.controller.set_configs(RESOURCE_BROKER, "", {"log.cleanup.policy": "compact"})
        )
        self.assertEqual(self.delete(t=[(0, 1)]), {"t": [(0, int(ErrorCode.POLICY_VIOLATION), -1)]})
        self.successResultOf(
            self.controller.set_configs(RESOURCE_BROKER, "1", {"log.cleanup.policy": "delete"})
        )
        self.assertEqual(self.delete(t=[(0, 1)]), {"t": [(0, 0, 1)]})

    def test_duplicate_partition_answered_once(self) -> None:
        """A partition listed twice is answered once, for the last offset."""
        request = DeleteRecordsRequest(
            topics=(
                DeleteRecordsTopic(
                    name="t", partitions=(DeleteRecordsPartition(partition_index=0, offset=1),)
                ),
                DeleteRecordsTopic(
                    name="t", partitions=(DeleteRecordsPartition(partition_index=0, offset=2),)
                ),
            )
        )
        response = self.successResultOf(call(self.broker, SPEC, request, 2))
        self.assertEqual(
            [
                (t.name, [(p.partition_index, p.low_watermark) for p in t.partitions])
                for t in response.topics
            ],
            [("t", [(0, 2)])],
        )

    def test_kafka_python_every_version(self) -> None:
        """kafka-python requests are answered and its decoder reads our answers, v0-v2."""
        for version in range(0, 3):
            request = ClientRequest(
                topics=[
                    ClientRequest.DeleteRecordsTopic(
                        name="t",
                        partitions=[
                            ClientRequest.DeleteRecordsTopic.DeleteRecordsPartition(
                                partition_index=0, offset=version + 1
                            ),
                            ClientRequest.DeleteRecordsTopic.DeleteRecordsPartition(
                                partition_index=3, offset=0
                            ),
                        ],
                    )
                ],
                timeout_ms=500,
            )
            response = client_roundtrip(self, self.broker, SPEC, request, ClientResponse, version)
            answers = {
                p.partition_index: (p.error_code, p.low_watermark)
                for p in response.topics[0].partitions
            }
            self.assertEqual(
                answers, {0: (0, version + 1), 3: (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1)}
            )

    def test_error_response_every_version(self) -> None:
        """The whole-request error answer gives every partition the code and low watermark -1."""
        request = DeleteRecordsRequest(
            topics=(
                DeleteRecordsTopic(
                    name="t", partitions=(DeleteRecordsPartition(partition_index=0, offset=1),)
                ),
            ),
        )
        for version in range(0, 3):
            data = schema.encode_bytes(
                SPEC.error_response(request, version, ErrorCode.NOT_CONTROLLER), version
            )
            (p,) = ClientResponse.decode(data, version=version).topics[0].partitions
            self.assertEqual((p.error_code, p.low_watermark), (ErrorCode.NOT_CONTROLLER, -1))
