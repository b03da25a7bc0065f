"""DescribeLogDirs (api key 35) against a broker on the file engine, at every version."""

from __future__ import annotations

import os
import shutil
import tempfile

from kafka.protocol.admin.cluster import DescribeLogDirsRequest as ClientRequest
from kafka.protocol.admin.cluster import DescribeLogDirsResponse as ClientResponse
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import REGISTRY, describe_log_dirs
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.describe_log_dirs import (
    DescribableLogDirTopic,
    DescribeLogDirsRequest,
    DescribeLogDirsResponse,
)
from kafkatwist.wire import schema
from tests.brokers import call, make_broker
from tests.offsets_support import batch, client_roundtrip, produce

SPEC = describe_log_dirs.SPEC


class DescribeLogDirsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="kafkatwist-logdirs-")
        self.broker = make_broker(
            config=BrokerConfig.from_properties({"log.dirs": self.dir}), log_dirs=[self.dir]
        )
        controller = self.broker.controller
        self.successResultOf(controller.create_topic("a", 2))
        self.successResultOf(controller.create_topic("b", 1))
        produce(self, self.broker, "a", 0, [[1, 2], [3]])
        self.a0_size = len(batch([1, 2])) + len(batch([3]))

    def describe(
        self, version: int, topics: tuple[DescribableLogDirTopic, ...] | None = None
    ) -> DescribeLogDirsResponse:
        response: DescribeLogDirsResponse = self.successResultOf(
            call(self.broker, SPEC, DescribeLogDirsRequest(topics=topics), version)
        )
        schema.encode_bytes(response, version)
        return response

    def listing(
        self, response: DescribeLogDirsResponse
    ) -> dict[str, dict[str, list[tuple[int, int, int, bool]]]]:
        return {
            r.log_dir: {
                t.name: [
                    (p.partition_index, p.partition_size, p.offset_lag, p.is_future_key)
                    for p in t.partitions
                ]
                for t in r.topics
            }
            for r in response.results
        }

    def test_registered(self) -> None:
        """DescribeLogDirs is registered with versions 0-5."""
        self.assertIn(SPEC, REGISTRY)
        self.assertEqual((SPEC.versions.lowest, SPEC.versions.highest), (0, 5))

    def test_every_partition(self) -> None:
        """A null topic list describes every partition, with its size, lag 0 and not future."""
        response = self.describe(4)
        self.assertEqual(response.error_code, 0)
        self.assertEqual(
            self.listing(response),
            {
                os.path.abspath(self.dir): {
                    "a": [(0, self.a0_size, 0, False), (1, 0, 0, False)],
                    "b": [(0, 0, 0, False)],
                }
            },
        )

    def test_named_partitions(self) -> None:
        """Only the named partitions are described; unknown ones are left out, not errors."""
        topics = (
            DescribableLogDirTopic(topic="a", partitions=(1, 5)),
            DescribableLogDirTopic(topic="zz", partitions=(0,)),
        )
        response = self.describe(4, topics)
        self.assertEqual(
            self.listing(response), {os.path.abspath(self.dir): {"a": [(1, 0, 0, False)]}}
        )
        self.assertEqual(response.results[0].error_code, 0)

    def test_empty_topic_list(self) -> None:
        """An empty topic list still lists the log dir, with no topics."""
        self.assertEqual(self.listing(self.describe(4, ())), {os.path.abspath(self.dir): {}})

    def test_volume_bytes(self) -> None:
        """v4 reports the volume's total and usable bytes, as statvfs sees them."""
        (result,) = self.describe(4).results
        st = os.statvfs(self.dir)
        self.assertEqual(result.total_bytes, st.f_blocks * st.f_frsize)
        self.assertTrue(0 < result.usable_bytes <= result.total_bytes)
        # trial's assertAlmostEqual ignores delta= (it rounds to places): other tests
        # writing files meanwhile moved the free space by a block and failed it.
        self.assertApproximates(
            result.usable_bytes, st.f_bavail * st.f_frsize, result.total_bytes // 100
        )

    def test_unreadable_log_dir(self) -> None:
        """A log dir that cannot be read answers KAFKA_STORAGE_ERROR with no topics."""
        missing = os.path.join(self.dir, "missing")
        self.broker = make_broker(
            config=BrokerConfig.from_properties({"log.dirs": f"{missing},{self.dir}"}),
            log_dirs=[missing, self.dir],
        )
        self.successResultOf(self.broker.controller.create_topic("c", 1))
        shutil.rmtree(missing)  # the log manager made it; now it is gone
        response = self.describe(4)
        self.assertEqual(
            [(r.log_dir, r.error_code, len(r.topics), r.total_bytes) for r in response.results],
            [
                (missing, ErrorCode.KAFKA_STORAGE_ERROR, 0, -1),
                (os.path.abspath(self.dir), 0, 0, response.results[1].total_bytes),
            ],
        )

    def test_logs_listed_under_their_dir(self) -> None:
        """A log in the second log dir is listed there, not under the first."""
        first = tempfile.mkdtemp(prefix="kafkatwist-logdirs1-")
        second = tempfile.mkdtemp(prefix="kafkatwist-logdirs2-")
        self.broker = make_broker(
            config=BrokerConfig.from_properties({"log.dirs": f"{first},{second}"}),
            log_dirs=[first, second],
        )
        self.successResultOf(self.broker.controller.create_topic("d", 2))
        # New logs go to the dir holding the fewest: d-0 to the first, d-1 to the second.
        self.broker.partitions.partition_log(self.broker.metadata.image.topics["d"], 0)
        produce(self, self.broker, "d", 1, [[5]])
        self.assertEqual(
            self.listing(self.describe(4)),
            {
                os.path.abspath(first): {"d": [(0, 0, 0, False)]},
                os.path.abspath(second): {"d": [(1, len(batch([5])), 0, False)]},
            },
        )

    def test_kafka_python_every_version(self) -> None:
        """kafka-python requests are answered and its decoder reads our answers, v0-v5."""
        for version in range(0, 6):
            for topics in (None, [ClientRequest.DescribableLogDirTopic(topic="a", partitions=[0])]):
                request = ClientRequest(topics=topics)
                response = client_roundtrip(
                    self, self.broker, SPEC, request, ClientResponse, version
                )
                (result,) = response.results
                self.assertEqual(
                    (result.error_code, result.log_dir), (0, os.path.abspath(self.dir))
                )
                sizes = {
                    (t.name, p.partition_index): p.partition_size
                    for t in result.topics
                    for p in t.partitions
                }
                self.assertEqual(sizes[("a", 0)], self.a0_size)
                self.assertEqual(len(sizes), 3 if topics is None else 1)
                if version >= 4:
                    self.assertGreater(result.total_bytes, 0)
                else:
                    self.assertEqual(result.total_bytes, -1)
                if version >= 5:
                    self.assertIs(result.is_cordoned, False)

    def test_error_response_every_version(self) -> None:
        """The whole-request error answer carries the code from v3 and no results."""
        for version in range(0, 6):
            response = SPEC.error_response(
                DescribeLogDirsRequest(topics=None), version, ErrorCode.CLUSTER_AUTHORIZATION_FAILED
            )
            decoded = ClientResponse.decode(schema.encode_bytes(response, version), version=version)
            self.assertEqual(list(decoded.results), [])
            expected = ErrorCode.CLUSTER_AUTHORIZATION_FAILED if version >= 3 else 0
            self.assertEqual(decoded.error_code, expected)
