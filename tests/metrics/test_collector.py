"""Tests for the broker collector (L{kafkatwist.metrics.collector}): names, labels and values."""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry, generate_latest
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.messages.metadata_records import PartitionChangeRecord
from kafkatwist.metrics.collector import QUANTILES, BrokerCollector, percentile
from tests.metrics.support import Metered, Samples, batch, samples_of, value


def scrape(collector: BrokerCollector) -> Samples:
    """Render the collector as Prometheus text and parse it back: samples by name and labels."""
    registry = CollectorRegistry()
    registry.register(collector)
    return samples_of(generate_latest(registry).decode())


class CollectorTests(SynchronousTestCase):
    """The collector reads the hook's counters and the broker's live state."""

    def setUp(self) -> None:
        self.m = Metered()
        self.successResultOf(self.m.broker.controller.create_topic("a", 2))
        self.successResultOf(self.m.broker.controller.create_topic("b", 1))
        self.connections = {"PLAINTEXT": 3, "SSL": 0}
        self.collector = BrokerCollector(self.m.broker, self.m.hook, lambda: self.connections)

    def test_topic_counters(self) -> None:
        """Bytes and messages in and bytes out, per topic and (unlabelled) for all topics."""
        one, two = batch(b"a", b"b"), batch(b"ccc")
        self.successResultOf(self.m.produce("a", 0, one))
        self.successResultOf(self.m.produce("b", 0, two))
        self.successResultOf(self.m.fetch("a", 0, 0))
        s = scrape(self.collector)
        btm = "kafka_server_brokertopicmetrics_"
        self.assertEqual(value(s, btm + "bytesin_total", topic="a"), len(one))
        self.assertEqual(value(s, btm + "bytesin_total", topic="b"), len(two))
        self.assertEqual(value(s, btm + "bytesin_total"), len(one) + len(two))
        self.assertEqual(value(s, btm + "messagesin_total", topic="a"), 2)
        self.assertEqual(value(s, btm + "messagesin_total"), 3)
        self.assertEqual(value(s, btm + "bytesout_total", topic="a"), len(one))
        self.assertEqual(value(s, btm + "bytesout_total"), len(one))
        self.assertEqual(value(s, btm + "totalproducerequests_total"), 2)
        self.assertEqual(value(s, btm + "totalfetchrequests_total", topic="a"), 1)

    def test_deleted_topic_forgotten(self) -> None:
        """A deleted topic's counters go with it."""
        self.successResultOf(self.m.produce("b", 0, batch(b"x")))
        topic = self.m.broker.metadata.image.topics["b"]
        self.successResultOf(self.m.broker.controller.delete_topic(topic))
        s = scrape(self.collector)
        self.assertNotIn(
            ("kafka_server_brokertopicmetrics_bytesin_total", frozenset({("topic", "b")})), s
        )
        self.assertEqual(value(s, "kafka_server_brokertopicmetrics_bytesin_total"), 0)

    def test_request_metrics(self) -> None:
        """Requests by API and version, and a summary of each API's time."""
        for _ in range(3):
            self.successResultOf(self.m.produce("a", 0, batch(b"x")))
        self.successResultOf(self.m.produce("a", 0, batch(b"x"), version=9))
        s = scrape(self.collector)
        name = "kafka_network_requestmetrics_requests_total"
        self.assertEqual(value(s, name, request="Produce", version="11"), 3)
        self.assertEqual(value(s, name, request="Produce", version="9"), 1)
        times = "kafka_network_requestmetrics_totaltimems"
        self.assertEqual(value(s, times + "_count", request="Produce"), 4)
        total = value(s, times + "_sum", request="Produce")
        self.assertAlmostEqual(total, self.m.hook.times["Produce"].total_ms)
        for q in QUANTILES:
            self.assertGreaterEqual(value(s, times, request="Produce", quantile=str(q)), 0)

    def test_partition_counts(self) -> None:
        """Topic and partition counts; nothing offline or under-replicated."""
        s = scrape(self.collector)
        self.assertEqual(value(s, "kafka_controller_kafkacontroller_globaltopiccount"), 2)
        self.assertEqual(value(s, "kafka_controller_kafkacontroller_globalpartitioncount"), 3)
        self.assertEqual(value(s, "kafka_server_replicamanager_partitioncount"), 3)
        self.assertEqual(value(s, "kafka_server_replicamanager_leadercount"), 3)
        self.assertEqual(value(s, "kafka_controller_kafkacontroller_offlinepartitionscount"), 0)
        self.assertEqual(value(s, "kafka_server_replicamanager_underreplicatedpartitions"), 0)
        self.assertEqual(value(s, "kafka_controller_kafkacontroller_activecontrollercount"), 1)

    def test_partition_without_leader_is_offline(self) -> None:
        """A partition whose leader is -1 in the metadata image counts as offline."""
        topic_id = self.m.broker.metadata.image.topics["a"].topic_id
        change = PartitionChangeRecord(partition_id=1, topic_id=topic_id, leader=-1)
        self.successResultOf(self.m.broker.metadata.append([change]))
        s = scrape(self.collector)
        self.assertEqual(value(s, "kafka_controller_kafkacontroller_offlinepartitionscount"), 1)
        self.assertEqual(value(s, "kafka_server_replicamanager_leadercount"), 2)

    def test_log_sizes(self) -> None:
        """Each partition log's size and offsets, labelled by topic and partition."""
        data = batch(b"a", b"b", b"c")
        self.successResultOf(self.m.produce("a", 1, data))
        s = scrape(self.collector)
        self.assertEqual(value(s, "kafka_log_log_size", topic="a", partition="1"), len(data))
        self.assertEqual(value(s, "kafka_log_log_size", topic="a", partition="0"), 0)
        self.assertEqual(value(s, "kafka_log_log_logendoffset", topic="a", partition="1"), 3)
        self.assertEqual(value(s, "kafka_log_log_logstartoffset", topic="a", partition="1"), 0)

    def test_purgatories(self) -> None:
        """A parked Fetch is in the Fetch purgatory (one request, one partition) until answered."""
        d = self.m.fetch("a", 0, 0, max_wait_ms=1000)
        self.assertNoResult(d)
        s = scrape(self.collector)
        prefix = "kafka_server_delayedoperationpurgatory_"
        self.assertEqual(value(s, prefix + "purgatorysize", delayedOperation="Fetch"), 1)
        self.assertEqual(value(s, prefix + "numdelayedoperations", delayedOperation="Fetch"), 1)
        self.assertEqual(value(s, prefix + "purgatorysize", delayedOperation="Produce"), 0)
        self.successResultOf(self.m.produce("a", 0, batch(b"wake")))
        self.successResultOf(d)
        s = scrape(self.collector)
        self.assertEqual(value(s, prefix + "purgatorysize", delayedOperation="Fetch"), 0)

    def test_connections(self) -> None:
        """Open connections, by listener."""
        s = scrape(self.collector)
        name = "kafka_server_socket_server_metrics_connection_count"
        self.assertEqual(value(s, name, listener="PLAINTEXT"), 3)
        self.assertEqual(value(s, name, listener="SSL"), 0)

    def test_no_groups(self) -> None:
        """Group counts are 0 for every state when there are no groups."""
        s = scrape(self.collector)
        prefix = "kafka_coordinator_group_groupmetadatamanager_"
        self.assertEqual(value(s, prefix + "numgroups"), 0)
        self.assertEqual(value(s, prefix + "numgroupsstable"), 0)
        self.assertEqual(value(s, prefix + "numoffsets"), 0)
        gcm = "kafka_server_group_coordinator_metrics_"
        self.assertEqual(value(s, gcm + "group_count", protocol="consumer"), 0)
        self.assertEqual(value(s, gcm + "consumer_group_count", state="Stable"), 0)
        self.assertEqual(value(s, gcm + "classic_group_count", state="Empty"), 0)


class PercentileTests(SynchronousTestCase):
    """Kafka's (Dropwizard's) percentile interpolation."""

    def test_interpolates(self) -> None:
        """Between ranks, the value is interpolated; beyond the ends, the extremes."""
        ordered = [1.0, 2.0, 3.0, 4.0]
        self.assertEqual(percentile(ordered, 0.5), 2.5)
        self.assertEqual(percentile(ordered, 0.1), 1.0)
        self.assertEqual(percentile(ordered, 0.999), 4.0)

    def test_empty(self) -> None:
        """No values: NaN."""
        self.assertTrue(math.isnan(percentile([], 0.5)))
