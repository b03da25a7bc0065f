"""A broker with the metrics hook, driven through the real dispatcher and handlers."""

from __future__ import annotations

import uuid
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from kafkatwist.apis import REGISTRY
from kafkatwist.broker import Broker
from kafkatwist.messages.fetch import FetchPartition, FetchRequest, FetchResponse, FetchTopic
from kafkatwist.messages.produce import (
    PartitionProduceData,
    ProduceRequest,
    ProduceResponse,
    TopicProduceData,
)
from kafkatwist.metrics.hook import MetricsHook
from kafkatwist.transport.dispatch import Dispatcher
from kafkatwist.wire.record import build_batch
from tests.brokers import make_broker
from tests.support import decode_reply, request_frame

#: Prometheus samples: each one's value by name and labels.
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples_of(text: str) -> Samples:
    """Prometheus (or OpenMetrics) text, parsed: every sample's value by name and labels."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample named C{name} with exactly C{labels}."""
    return samples[(name, frozenset(labels.items()))]


def batch(*values: bytes) -> bytes:
    """One record batch holding C{values}."""
    return build_batch([(None, v) for v in values], base_timestamp=1_700_000_000_000)


class Metered:
    """A broker with the metrics hook registered, and requests sent through its dispatcher."""

    def __init__(self, broker: Broker | None = None) -> None:
        self.broker = broker if broker is not None else make_broker()
        self.hook = MetricsHook(self.topic_name)
        self.broker.hooks.append(self.hook)
        self.dispatcher = Dispatcher(REGISTRY, self.broker)
        self._correlation = 0

    def topic_name(self, name: str, topic_id: uuid.UUID) -> str | None:
        image = self.broker.metadata.image
        if name:
            return name if name in image.topics else None
        topic = image.topics_by_id.get(topic_id)
        return None if topic is None else topic.name

    def send(self, api_key: int, version: int, request: Any) -> Any:
        """Dispatch C{request}; the Deferred of its reply."""
        self._correlation += 1
        frame = request_frame(api_key, version, self._correlation, request, framed=False)
        return self.dispatcher.dispatch(frame, "127.0.0.1:5000")

    def produce(
        self, topic: str, partition: int, records: bytes, *, acks: int = -1, version: int = 11
    ) -> Any:
        """A Produce of C{records} to one partition; the Deferred of its reply."""
        data = TopicProduceData(
            name=topic,
            partition_data=(PartitionProduceData(index=partition, records=records),),
        )
        if version >= 13:
            data = TopicProduceData(
                topic_id=self.broker.metadata.image.topics[topic].topic_id,
                partition_data=data.partition_data,
            )
        request = ProduceRequest(acks=acks, timeout_ms=1000, topic_data=(data,))
        return self.send(0, version, request)

    def fetch(
        self, topic: str, partition: int, offset: int, *, version: int = 12, max_wait_ms: int = 0
    ) -> Any:
        """A Fetch of one partition from C{offset}; the Deferred of its reply."""
        fetched = FetchTopic(
            topic=topic,
            partitions=(
                FetchPartition(
                    partition=partition, fetch_offset=offset, partition_max_bytes=1 << 20
                ),
            ),
        )
        if version >= 13:
            fetched = FetchTopic(
                topic_id=self.broker.metadata.image.topics[topic].topic_id,
                partitions=fetched.partitions,
            )
        request = FetchRequest(
            max_wait_ms=max_wait_ms, min_bytes=1, max_bytes=1 << 20, topics=(fetched,)
        )
        return self.send(1, version, request)


def produced(reply: Any, version: int = 11) -> ProduceResponse:
    """The decoded Produce response."""
    return decode_reply(reply, ProduceResponse, version)[1]


def fetched(reply: Any, version: int = 12) -> FetchResponse:
    """The decoded Fetch response."""
    return decode_reply(reply, FetchResponse, version)[1]
