"""What each stage writes before the program starts (the stages' C{GenerateServerConfig...}).

Every setup draws from C{ctx.rand} in the tester's order, so a seed gives the
same topics, UUIDs and messages as before, and stores the layout in
C{ctx.layout} (and any stage parameter in C{ctx.params}).
"""

from __future__ import annotations

from collections.abc import Sequence

from tests.challenge.tester.context import StageContext
from tests.challenge.tester.kafka_files_generator import PartitionSpec, TopicSpec, prepare_log_dir
from tests.challenge.tester.tester_random import TesterRandom


def setup_no_topics(ctx: StageContext) -> None:
    """server.properties + meta.properties + .kafka_cleanshutdown, nothing else."""
    ctx.layout = prepare_log_dir(ctx.log_dir, topics=())


def _setup_topics(ctx: StageContext, topics: Sequence[TopicSpec]) -> None:
    """Write C{topics} and remember the layout."""
    ctx.layout = prepare_log_dir(ctx.log_dir, topics=topics)


def _string_partitions(r: TesterRandom, count: int) -> tuple[PartitionSpec, ...]:
    """Partitions 0..count-1, each holding one RandomString message."""
    return tuple(PartitionSpec(i, (r.string(),)) for i in range(count))


def _empty_partitions(count: int) -> tuple[PartitionSpec, ...]:
    """Partitions 0..count-1 with empty logs."""
    return tuple(PartitionSpec(i, ()) for i in range(count))


def setup_one_string_partition(ctx: StageContext) -> None:
    """vt6/ea7: one topic whose partition 0 holds one RandomString message."""
    r = ctx.rand
    _setup_topics(ctx, [TopicSpec(r.word(), r.topic_uuid(), _string_partitions(r, 1))])


def setup_ku4(ctx: StageContext) -> None:
    """One topic with partitions 0 and 1, one RandomString message each."""
    r = ctx.rand
    name, topic_uuid = r.word(), r.topic_uuid()
    _setup_topics(ctx, [TopicSpec(name, topic_uuid, _string_partitions(r, 2))])


def setup_wq2(ctx: StageContext) -> None:
    """Two topics (1 and 2 partitions, one message each), UUIDs from getRandomTopicUUIDs."""
    r = ctx.rand
    names = r.words(2)
    uuids = r.topic_uuids(2)
    first = TopicSpec(names[0], uuids[0], _string_partitions(r, 1))
    _setup_topics(ctx, [first, TopicSpec(names[1], uuids[1], _string_partitions(r, 2))])


def setup_hn6(ctx: StageContext) -> None:
    """One topic with one message; the stage fetches another UUID of the same series."""
    r = ctx.rand
    uuids = r.topic_uuids(2)
    ctx.params["unknown_topic_id"] = uuids[1]
    _setup_topics(ctx, [TopicSpec(r.word(), uuids[0], _string_partitions(r, 1))])


def setup_single_empty_partition(ctx: StageContext) -> None:
    """cm4/dp1/ps7/sb8: one topic with partition 0 and an empty log."""
    r = ctx.rand
    _setup_topics(ctx, [TopicSpec(r.word(), r.topic_uuid(), _empty_partitions(1))])


def setup_eg2(ctx: StageContext) -> None:
    """One topic whose partition 0 holds one RandomWord message."""
    r = ctx.rand
    _setup_topics(ctx, [TopicSpec(r.word(), r.topic_uuid(), (PartitionSpec(0, (r.word(),)),))])


def setup_fd8(ctx: StageContext) -> None:
    """One topic whose partition 0 holds 2-3 RandomWord messages, one batch each."""
    r = ctx.rand
    name, topic_uuid = r.word(), r.topic_uuid()
    _setup_topics(
        ctx,
        [TopicSpec(name, topic_uuid, (PartitionSpec(0, tuple(r.words(r.randint(2, 4)))),))],
    )


def setup_ck2(ctx: StageContext) -> None:
    """One topic with one message; the stage also produces to a second, unknown, name."""
    r = ctx.rand
    names = r.words(2)
    ctx.params["unknown_topic"] = names[1]
    _setup_topics(ctx, [TopicSpec(names[0], r.topic_uuid(), (PartitionSpec(0, (r.word(),)),))])


def setup_mf2(ctx: StageContext) -> None:
    """One topic with 2-3 empty partitions."""
    r = ctx.rand
    name, topic_uuid = r.word(), r.topic_uuid()
    count = r.randint(2, 4)
    _setup_topics(ctx, [TopicSpec(name, topic_uuid, _empty_partitions(count))])


def setup_ar4(ctx: StageContext) -> None:
    """Two topics with 1-2 empty partitions each."""
    r = ctx.rand
    names = r.words(2)
    counts = (r.randint(1, 3), r.randint(1, 3))
    first = TopicSpec(names[0], r.topic_uuid(), _empty_partitions(counts[0]))
    _setup_topics(ctx, [first, TopicSpec(names[1], r.topic_uuid(), _empty_partitions(counts[1]))])
