"""__consumer_offsets stays bounded: a group committing every second for hours, with the cleaner."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import offset_commit, offset_fetch
from kafkatwist.broker import Broker
from kafkatwist.config.cleaner_config import CleanerConfig
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.groups.records import OFFSETS_TOPIC
from kafkatwist.messages.offset_commit import (
    OffsetCommitRequest,
    OffsetCommitRequestPartition,
    OffsetCommitRequestTopic,
    OffsetCommitResponse,
)
from kafkatwist.messages.offset_fetch import (
    OffsetFetchRequest,
    OffsetFetchRequestTopic,
    OffsetFetchResponse,
)
from kafkatwist.storage.cleaner import clean_log
from kafkatwist.storage.cleaner.manager import LogCleanerManager
from kafkatwist.storage.cleaner.service import LogCleaner
from kafkatwist.storage.manager import LogManager
from tests.brokers import call, clock_of, make_broker
from tests.storage.support import run_now

PARTITIONS = 10
SEGMENT_BYTES = 1 << 20  # the smallest segment.bytes Kafka 4.0 creates a topic with


def commit(case: SynchronousTestCase, broker: Broker, offset: int) -> None:
    """Group "g" commits C{offset} for every partition of topic "t" (OffsetCommit v8)."""
    request = OffsetCommitRequest(
        group_id="g",
        topics=(
            OffsetCommitRequestTopic(
                name="t",
                partitions=tuple(
                    OffsetCommitRequestPartition(partition_index=p, committed_offset=offset)
                    for p in range(PARTITIONS)
                ),
            ),
        ),
    )
    response: OffsetCommitResponse = case.successResultOf(
        call(broker, offset_commit.SPEC, request, 8)
    )
    assert all(p.error_code == 0 for t in response.topics for p in t.partitions)


def committed(case: SynchronousTestCase, broker: Broker) -> set[int]:
    """The offsets group "g" has committed for topic "t" (OffsetFetch v7)."""
    request = OffsetFetchRequest(
        group_id="g",
        topics=(OffsetFetchRequestTopic(name="t", partition_indexes=tuple(range(PARTITIONS))),),
    )
    response: OffsetFetchResponse = case.successResultOf(
        call(broker, offset_fetch.SPEC, request, 7)
    )
    return {p.committed_offset for t in response.topics for p in t.partitions}


def run_commits(case: SynchronousTestCase, seconds: int) -> tuple[int, int, int, str]:
    """
    A broker with the cleaner commits once a second for C{seconds}.

    @return: the bytes appended to ``__consumer_offsets``, its size at the
        end, the passes run, and the log dir.
    """
    config = BrokerConfig.from_properties(
        {
            "offsets.topic.num.partitions": "1",
            "offsets.topic.segment.bytes": str(SEGMENT_BYTES),
            "group.initial.rebalance.delay.ms": "0",
        }
    )
    broker = make_broker(config=config)
    clock = clock_of(broker)
    assert isinstance(broker.logs, LogManager)
    cleaner = LogCleaner.create(
        LogCleanerManager(broker.logs, run_now),
        clock,
        lambda: CleanerConfig.from_layers(broker.configs.layers()),
        clean_log,
        run_now,
        sleep=clock.advance,
    )
    case.successResultOf(cleaner.start())
    case.successResultOf(broker.controller.create_topic("t", PARTITIONS))
    appended = 0
    for second in range(seconds):
        log = broker.logs.get(OFFSETS_TOPIC, 0)
        end_before = log.log_end_offset if log is not None else 0
        size_before = log.size_in_bytes if log is not None else 0
        commit(case, broker, second)
        log = broker.logs.get(OFFSETS_TOPIC, 0)
        assert log is not None and log.log_end_offset > end_before
        appended += log.size_in_bytes - size_before if log.size_in_bytes > size_before else 0
        clock.advance(1)
    case.assertEqual(committed(case, broker), {seconds - 1})
    case.successResultOf(cleaner.stop())
    log = broker.logs.get(OFFSETS_TOPIC, 0)
    assert log is not None
    log_dir = broker.logs.log_dir_of(OFFSETS_TOPIC, 0)
    assert log_dir is not None
    size = log.size_in_bytes
    case.successResultOf(broker.logs.close())
    return appended, size, cleaner.cleaned, log_dir


class OffsetsTopicCompactionTests(SynchronousTestCase):
    """Kafka's promise: committing offsets for ever keeps __consumer_offsets bounded."""

    def test_commits_every_second_for_three_hours(self) -> None:
        """10,800 commits of 10 partitions: the log stays within two segments; offsets survive."""
        appended, size, passes, log_dir = run_commits(self, 3 * 3600)
        self.assertGreater(appended, 4 * SEGMENT_BYTES)
        self.assertLess(size, 2 * SEGMENT_BYTES)
        self.assertGreater(passes, 1)
        # A restarted broker replays the cleaned log: the latest offsets are there.
        again = make_broker(
            log_dir=log_dir,
            config=BrokerConfig.from_properties({"offsets.topic.num.partitions": "1"}),
        )
        self.successResultOf(again.groups.start())
        self.assertEqual(committed(self, again), {3 * 3600 - 1})
