"""BrokerCollector: Kafka's metrics, named as the Prometheus JMX exporter names them.

A C{prometheus_client} custom collector. Nothing here runs on the request
path: the counters come from L{kafkatwist.metrics.hook.MetricsHook} (plain
ints), the gauges are computed from the broker's live state when
C{/metrics} is scraped, on the reactor thread (the state is the reactor's).

Names follow the JMX exporter's Kafka rules (its C{example_configs/kafka-2_0_0.yml},
C{lowercaseOutputName: true}): C{kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec,topic=t}
(a meter's C{Count}) becomes C{kafka_server_brokertopicmetrics_bytesin_total{topic="t"}};
a gauge's C{Value} C{kafka_<domain>_<type>_<name>}; a histogram's C{Count} and
C{NNthPercentile} C{..._count} and C{...{quantile="0.NN"}} (here a summary,
with the C{_sum} the exporter lacks). Kafka's C{kafka.server:type=<group>} metrics
of its own metrics library (C{group-coordinator-metrics}, C{socket-server-metrics})
have no JMX exporter rule there: they take its default form, the
attribute appended and C{-} made C{_}. README "Metrics and health" lists them all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence

from attrs import define
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.metrics_core import Metric

from kafkatwist.broker import Broker
from kafkatwist.metrics.hook import MetricsHook, TopicCounts

__all__ = ["QUANTILES", "BrokerCollector", "percentile"]

#: Kafka's histogram percentiles (50th, 75th, 95th, 98th, 99th, 999th), as quantiles.
QUANTILES = (0.5, 0.75, 0.95, 0.98, 0.99, 0.999)

#: The classic group states (Kafka's C{ClassicGroupState}) and their C{NumGroups<State>} names.
CLASSIC_STATES = ("PreparingRebalance", "CompletingRebalance", "Stable", "Dead", "Empty")
#: The consumer group states (KIP-848, Kafka's C{ConsumerGroupState}).
CONSUMER_STATES = ("Empty", "Assigning", "Reconciling", "Stable", "Dead")

_BTM = "kafka_server_brokertopicmetrics_"
_PURGATORY = "kafka_server_delayedoperationpurgatory_"
_GCM = "kafka_server_group_coordinator_metrics_"


def percentile(ordered: Sequence[float], quantile: float) -> float:
    """
    The C{quantile} of sorted values, interpolated as Kafka's (Dropwizard's) C{Snapshot.getValue}.

    NaN when there are none.
    """
    n = len(ordered)
    if n == 0:
        return math.nan
    pos = quantile * (n + 1)
    index = int(pos)
    if index < 1:
        return ordered[0]
    if index >= n:
        return ordered[-1]
    lower, upper = ordered[index - 1], ordered[index]
    return lower + (pos - index) * (upper - lower)


@define(eq=False)
class BrokerCollector:
    """
    Collects the broker's metrics for a C{CollectorRegistry}.

    @ivar broker: The broker's services (its metadata image, logs, groups).
    @ivar hook: The request counters.
    @ivar connections: The open connections of each listener, by listener name.
    """

    broker: Broker
    hook: MetricsHook
    connections: Callable[[], Mapping[str, int]]

    def collect(self) -> Iterator[Metric]:
        """Every metric family, computed now."""
        yield from self._topic_metrics()
        yield from self._request_metrics()
        yield from self._purgatory_metrics()
        yield from self._partition_metrics()
        yield from self._log_metrics()
        yield from self._group_metrics()
        yield from self._connection_metrics()

    def _topic_metrics(self) -> Iterator[Metric]:
        """BrokerTopicMetrics: per topic, and for all topics without a label."""
        topics = self.broker.metadata.image.topics
        counts = self.hook.topics
        for gone in [name for name in counts if name not in topics]:
            del counts[gone]  # a deleted topic's metrics go with it, as Kafka's
        fields: tuple[tuple[str, str, Callable[[TopicCounts], int]], ...] = (
            ("bytesin", "Bytes appended by Produce (record batches).", lambda c: c.bytes_in),
            ("messagesin", "Records appended by Produce.", lambda c: c.messages_in),
            ("bytesout", "Record bytes answered to Fetch.", lambda c: c.bytes_out),
            (
                "totalproducerequests",
                "Produce partitions requested.",
                lambda c: c.produce_requests,
            ),
            (
                "failedproducerequests",
                "Produce partitions answered with an error.",
                lambda c: c.failed_produce_requests,
            ),
            ("totalfetchrequests", "Fetch partitions answered.", lambda c: c.fetch_requests),
            (
                "failedfetchrequests",
                "Fetch partitions answered with an error.",
                lambda c: c.failed_fetch_requests,
            ),
        )
        for name, doc, value in fields:
            family = CounterMetricFamily(_BTM + name, doc, labels=["topic"])
            total = 0
            for topic in sorted(counts):
                v = value(counts[topic])
                total += v
                family.add_metric([topic], v)
            family.add_sample(family.name + "_total", {}, total)
            yield family

    def _request_metrics(self) -> Iterator[Metric]:
        """RequestMetrics: requests by API and version, and each API's total time."""
        requests = CounterMetricFamily(
            "kafka_network_requestmetrics_requests",
            "Requests answered, by API (request) and version.",
            labels=["request", "version"],
        )
        for (api, version), n in sorted(self.hook.requests.items()):
            requests.add_metric([api, str(version)], n)
        yield requests
        times = SummaryMetricFamily(
            "kafka_network_requestmetrics_totaltimems",
            "Request time in ms, from decoded to answered; quantiles over the latest "
            "1028 requests of the API.",
            labels=["request"],
        )
        for api, t in sorted(self.hook.times.items()):
            ordered = sorted(t.window)
            for q in QUANTILES:
                times.add_sample(
                    times.name, {"request": api, "quantile": str(q)}, percentile(ordered, q)
                )
            times.add_metric([api], t.count, t.total_ms)
        yield times

    def _purgatory_metrics(self) -> Iterator[Metric]:
        """DelayedOperationPurgatory: Produce and Fetch requests waiting, and their partitions."""
        size = GaugeMetricFamily(
            _PURGATORY + "purgatorysize",
            "Partitions named by the requests waiting to be answered.",
            labels=["delayedOperation"],
        )
        delayed = GaugeMetricFamily(
            _PURGATORY + "numdelayedoperations",
            "Requests received and not answered yet.",
            labels=["delayedOperation"],
        )
        for operation, waiting in (("Produce", self.hook.producing), ("Fetch", self.hook.fetching)):
            size.add_metric([operation], MetricsHook.waiting_partitions(waiting))
            delayed.add_metric([operation], len(waiting))
        yield size
        yield delayed

    def _offline(self) -> set[tuple[str, int]]:
        """Partitions without a leader, whose log failed to load, or whose log is offline."""
        logs = self.broker.logs
        offline = set(logs.failed())
        for topic in self.broker.metadata.image.topics.values():
            for p in topic.partitions.values():
                if p.leader < 0:
                    offline.add((topic.name, p.partition))
        for topic_name, partition in logs.partitions():
            log = logs.get(topic_name, partition)
            if log is not None and log.is_offline:
                offline.add((topic_name, partition))
        return offline

    def _partition_metrics(self) -> Iterator[Metric]:
        """KafkaController and ReplicaManager: partition, topic and offline counts."""
        image = self.broker.metadata.image
        partitions = sum(len(t.partitions) for t in image.topics.values())
        offline = len(self._offline())
        node = self.broker.node_id
        leaders = sum(
            1 for t in image.topics.values() for p in t.partitions.values() if p.leader == node
        )
        values = {
            "activecontrollercount": 1,
            "globaltopiccount": len(image.topics),
            "globalpartitioncount": partitions,
            "offlinepartitionscount": offline,
            "partitioncount": partitions,
            "leadercount": leaders,
            "offlinereplicacount": offline,
            "underreplicatedpartitions": 0,
            "underminisrpartitioncount": 0,
        }
        for prefix, name, doc in _PARTITION_GAUGES:
            yield GaugeMetricFamily(prefix + name, doc, value=values[name])

    def _log_metrics(self) -> Iterator[Metric]:
        """Log: each open partition log's size, offsets and segment count."""
        size = GaugeMetricFamily(
            "kafka_log_log_size", "The bytes of the partition's segments.", labels=_TP
        )
        end = GaugeMetricFamily(
            "kafka_log_log_logendoffset", "The partition's log end offset.", labels=_TP
        )
        start = GaugeMetricFamily(
            "kafka_log_log_logstartoffset", "The partition's log start offset.", labels=_TP
        )
        logs = self.broker.logs
        for topic, partition in logs.partitions():
            log = logs.get(topic, partition)
            if log is None or log.is_offline:
                continue
            labels = [topic, str(partition)]
            size.add_metric(labels, log.size_in_bytes)
            end.add_metric(labels, log.log_end_offset)
            start.add_metric(labels, log.log_start_offset)
        yield size
        yield end
        yield start

    def _group_metrics(self) -> Iterator[Metric]:
        """Group counts by state: Kafka's GroupMetadataManager gauges and KIP-848's counts."""
        groups = self.broker.groups
        listed = groups.admin.list_groups()
        classic = [state for _, _, state, kind in listed if kind == "classic"]
        consumer = [state for _, _, state, kind in listed if kind == "consumer"]
        prefix = "kafka_coordinator_group_groupmetadatamanager_"
        yield GaugeMetricFamily(prefix + "numgroups", "Classic groups.", value=len(classic))
        for state in CLASSIC_STATES:
            yield GaugeMetricFamily(
                prefix + "numgroups" + state.lower(),
                f"Classic groups in state {state}.",
                value=classic.count(state),
            )
        offsets = sum(len(g.offsets) for g in groups.groups.values())
        yield GaugeMetricFamily(prefix + "numoffsets", "Committed offsets kept.", value=offsets)
        by_protocol = GaugeMetricFamily(
            _GCM + "group_count", "Groups by rebalance protocol.", labels=["protocol"]
        )
        by_protocol.add_metric(["classic"], len(classic))
        by_protocol.add_metric(["consumer"], len(consumer))
        yield by_protocol
        for name, states, present in (
            ("classic_group_count", CLASSIC_STATES, classic),
            ("consumer_group_count", CONSUMER_STATES, consumer),
        ):
            family = GaugeMetricFamily(
                _GCM + name, "Groups of the protocol by state.", labels=["state"]
            )
            for state in states:
                family.add_metric([state], present.count(state))
            yield family

    def _connection_metrics(self) -> Iterator[Metric]:
        """socket-server-metrics: open connections per listener."""
        family = GaugeMetricFamily(
            "kafka_server_socket_server_metrics_connection_count",
            "Open client connections, by listener.",
            labels=["listener"],
        )
        for name, count in sorted(self.connections().items()):
            family.add_metric([name], count)
        yield family


_TP = ["topic", "partition"]

_KC = "kafka_controller_kafkacontroller_"
_RM = "kafka_server_replicamanager_"
_ALWAYS_0 = "Always 0: one broker, every replica in sync."
#: (prefix, name, documentation) of the partition count gauges.
_PARTITION_GAUGES = (
    (_KC, "activecontrollercount", "1: this broker is the (only) controller."),
    (_KC, "globaltopiccount", "Topics in the cluster."),
    (_KC, "globalpartitioncount", "Partitions in the cluster."),
    (_KC, "offlinepartitionscount", "Partitions without a leader or whose log is offline."),
    (_RM, "partitioncount", "Partitions on this broker."),
    (_RM, "leadercount", "Partitions this broker leads."),
    (_RM, "offlinereplicacount", "Replicas on this broker that are offline."),
    (_RM, "underreplicatedpartitions", _ALWAYS_0),
    (_RM, "underminisrpartitioncount", _ALWAYS_0),
)
