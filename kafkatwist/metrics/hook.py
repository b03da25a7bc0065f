"""MetricsHook: the request hook that counts what the metrics report of each request.

Registered in L{kafkatwist.broker.Broker.hooks} only when the metrics
listener is configured, so nothing of it runs otherwise. Per request it
does a few dictionary updates; per Produce partition it reads its batch
headers (a record count is in each: no record is looked at); per Fetch
partition it adds the size of the records answered. Everything is plain
ints and floats, read by L{kafkatwist.metrics.collector} at scrape time.

What it keeps:

* per API name and version: requests answered (Kafka's C{RequestsPerSec});
* per API name: the count and sum of the request times in ms (received to
  answered, Kafka's C{TotalTimeMs}) and the last L{WINDOW} of them, from
  which the scrape computes Kafka's percentiles;
* per topic: bytes and messages appended by Produce (C{BytesInPerSec},
  C{MessagesInPerSec}; a partition answered with an error is not counted)
  and record bytes answered by Fetch (C{BytesOutPerSec}), and Kafka's
  C{TotalProduceRequestsPerSec} / C{TotalFetchRequestsPerSec} and their
  C{Failed...} counterparts, counted per partition as Kafka does;
* the Produce and Fetch requests received and not answered yet (the
  purgatories' sizes at scrape time), held weakly: a request abandoned by
  a closed connection is never answered, and drops out when freed.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from weakref import WeakSet

from attrs import define, field
from twisted.internet.defer import Deferred

from kafkatwist.hooks import Exchange
from kafkatwist.messages.fetch import FetchRequest, FetchResponse
from kafkatwist.messages.produce import ProduceRequest, ProduceResponse
from kafkatwist.wire.batch import (
    BATCH_HEADER_SIZE,
    LENGTH_OFFSET,
    LOG_OVERHEAD,
    MAGIC_OFFSET,
    MAGIC_V2,
    RECORDS_COUNT_OFFSET,
)
from kafkatwist.wire.schema import Records

__all__ = ["WINDOW", "MetricsHook", "RequestTimes", "TopicCounts", "records_size"]

#: How many of the latest request times each API keeps for the percentiles
#: (Kafka's histograms sample 1028 in an exponentially decaying reservoir).
WINDOW = 1028

_INT32 = struct.Struct(">i")

PRODUCE_KEY = 0
FETCH_KEY = 1


@define(eq=False)
class RequestTimes:
    """One API's request times: count, sum, and the latest L{WINDOW} (a ring)."""

    count: int = 0
    total_ms: float = 0.0
    window: list[float] = field(factory=list)

    def add(self, ms: float) -> None:
        """Record one request time."""
        if len(self.window) < WINDOW:
            self.window.append(ms)
        else:
            self.window[self.count % WINDOW] = ms
        self.count += 1
        self.total_ms += ms


@define(eq=False)
class TopicCounts:
    """One topic's Produce and Fetch counts."""

    bytes_in: int = 0
    messages_in: int = 0
    bytes_out: int = 0
    produce_requests: int = 0
    failed_produce_requests: int = 0
    fetch_requests: int = 0
    failed_fetch_requests: int = 0


def records_size(records: Records | None) -> int:
    """The bytes of a records field: one buffer, or a sequence of them (a zero-copy answer)."""
    if records is None:
        return 0
    if isinstance(records, memoryview):
        return records.nbytes
    if isinstance(records, bytes | bytearray):
        return len(records)
    return sum(chunk.nbytes if isinstance(chunk, memoryview) else len(chunk) for chunk in records)


def record_count(records: Records | None) -> int:
    """
    The records in a produced partition's batches, from each batch header's count.

    Reads two ints of each v2 batch header (its length, its record count);
    the handler has validated the batches of a partition it appended. A
    message set of magic 0 or 1 (Produce v0-v2) has no such count: 0.
    """
    if not isinstance(records, bytes | bytearray | memoryview):
        return 0
    end = records.nbytes if isinstance(records, memoryview) else len(records)
    count = pos = 0
    while pos + BATCH_HEADER_SIZE <= end and records[pos + MAGIC_OFFSET] == MAGIC_V2:
        count += _INT32.unpack_from(records, pos + RECORDS_COUNT_OFFSET)[0]
        pos += _INT32.unpack_from(records, pos + LENGTH_OFFSET)[0] + LOG_OVERHEAD
    return count


@define(eq=False)
class MetricsHook:
    """
    The metrics' L{kafkatwist.hooks.RequestHook}.

    @ivar topic_name: The name of an existing topic, given its name (Produce and
        Fetch before v13) or its id (v13+, the name empty); None when no such topic
        exists: then nothing is counted for it, as Kafka keeps no stats of a topic
        it does not know (and a client naming many topics cannot grow L{topics}).
    """

    topic_name: Callable[[str, uuid.UUID], str | None]
    #: Requests answered, by (API name, version).
    requests: dict[tuple[str, int], int] = field(factory=dict)
    #: Request times, by API name.
    times: dict[str, RequestTimes] = field(factory=dict)
    #: Produce and Fetch counts, by topic name.
    topics: dict[str, TopicCounts] = field(factory=dict)
    #: Produce requests received, not answered yet.
    producing: WeakSet[Exchange] = field(factory=WeakSet)
    #: Fetch requests received, not answered yet.
    fetching: WeakSet[Exchange] = field(factory=WeakSet)

    def received(self, exchange: Exchange) -> Deferred[None] | None:
        """Note a Produce or Fetch as waiting."""
        key = exchange.header.api_key
        if key == FETCH_KEY:
            self.fetching.add(exchange)
        elif key == PRODUCE_KEY:
            self.producing.add(exchange)
        return None

    def answered(self, exchange: Exchange) -> None:
        """Count the request, its time and, for Produce and Fetch, its topics' bytes."""
        header = exchange.header
        name = exchange.api_name
        key = (name, header.api_version)
        self.requests[key] = self.requests.get(key, 0) + 1
        times = self.times.get(name)
        if times is None:
            times = self.times[name] = RequestTimes()
        times.add((exchange.finished - exchange.started) * 1000.0)
        if header.api_key == FETCH_KEY:
            self.fetching.discard(exchange)
            if isinstance(exchange.response, FetchResponse):
                self._fetched(exchange.response)
        elif header.api_key == PRODUCE_KEY:
            self.producing.discard(exchange)
            if isinstance(exchange.request, ProduceRequest):
                response = exchange.response
                self._produced(
                    exchange.request, response if isinstance(response, ProduceResponse) else None
                )

    def _topic(self, name: str, topic_id: uuid.UUID) -> TopicCounts | None:
        """The counts of a topic named C{name}, else by C{topic_id} (None if unknown)."""
        known = self.topic_name(name, topic_id)
        if known is None:
            return None
        name = known
        counts = self.topics.get(name)
        if counts is None:
            counts = self.topics[name] = TopicCounts()
        return counts

    def _produced(self, request: ProduceRequest, response: ProduceResponse | None) -> None:
        """
        Count the batches appended: every partition not answered with an error.

        C{response} is None for acks=0: then every partition counts (an
        error would have closed the connection).
        """
        failed: set[tuple[str, uuid.UUID, int]] = set()
        if response is not None:
            for tr in response.responses:
                for pr in tr.partition_responses:
                    if pr.error_code:
                        failed.add((tr.name, tr.topic_id, pr.index))
        for td in request.topic_data:
            counts = self._topic(td.name, td.topic_id)
            if counts is None:
                continue
            for pd in td.partition_data:
                counts.produce_requests += 1
                if failed and (td.name, td.topic_id, pd.index) in failed:
                    counts.failed_produce_requests += 1
                    continue
                counts.bytes_in += records_size(pd.records)
                counts.messages_in += record_count(pd.records)

    def _fetched(self, response: FetchResponse) -> None:
        """Count the record bytes answered, per topic (Kafka's C{BytesOutPerSec})."""
        for tr in response.responses:
            counts = self._topic(tr.topic, tr.topic_id)
            if counts is None:
                continue
            for pd in tr.partitions:
                counts.fetch_requests += 1
                if pd.error_code:
                    counts.failed_fetch_requests += 1
                counts.bytes_out += records_size(pd.records)

    @staticmethod
    def waiting_partitions(exchanges: WeakSet[Exchange]) -> int:
        """The partitions the waiting requests name (Kafka's C{PurgatorySize} counts watch keys)."""
        total = 0
        for exchange in list(exchanges):
            request = exchange.request
            if isinstance(request, FetchRequest):
                total += sum(len(ft.partitions) for ft in request.topics)
            elif isinstance(request, ProduceRequest):
                total += sum(len(td.partition_data) for td in request.topic_data)
        return total
