"""The course's 25 stages: the requests each one sends and the checks it makes.

A stage is its setup (L{setups}) and its run, a C{(host, port, ctx)}
callable that raises C{AssertionError} on the first failed check. Stages that
differ only in their setup share one run: the ApiVersions stages are one
factory with the keys each expects, the listing, fetching and producing
stages one run (or factory) each. The table L{STAGES} lists them in course
order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tests.challenge.tester.connection import KafkaConnection
from tests.challenge.tester.constants import (
    API_API_VERSIONS,
    API_DESCRIBE_TOPIC_PARTITIONS,
    API_FETCH,
    API_PRODUCE,
    BIND_STAGE_TIMEOUT_SECONDS,
    NO_ERROR,
    STAGE_TIMEOUT_SECONDS,
    UNKNOWN_TOPIC_ID,
    UNKNOWN_TOPIC_OR_PARTITION,
    UNSUPPORTED_VERSION,
    ZERO_UUID,
)
from tests.challenge.tester.context import StageContext
from tests.challenge.tester.kafka_files_generator import LogDirLayout
from tests.challenge.tester.record_batch import RecordBatch, produce_batch
from tests.challenge.tester.request_encoders import (
    encode_api_versions_request,
    encode_describe_topic_partitions_request,
    encode_fetch_request,
    encode_produce_request,
)
from tests.challenge.tester.response_assertions import (
    ExpectedProducePartition,
    ExpectedTopic,
    check_api_versions,
    check_api_versions_error_code,
    check_correlation_id_only,
    check_describe_topic_partitions,
    check_fetch,
    check_log_file,
    check_produce,
    expected_produce_success,
    expected_topics_from_layout,
)
from tests.challenge.tester.setups import (
    setup_ar4,
    setup_ck2,
    setup_eg2,
    setup_fd8,
    setup_hn6,
    setup_ku4,
    setup_mf2,
    setup_no_topics,
    setup_one_string_partition,
    setup_single_empty_partition,
    setup_wq2,
)
from tests.challenge.tester.tester_random import TesterRandom

StageRun = Callable[[str, int, StageContext], None]
"""A stage's checks against the program listening on C{(host, port)}."""

ApiKeyRange = tuple[int, int, int]
"""C{(api_key, min_version, max_version)} an ApiVersions answer must cover."""

API_VERSIONS_KEY: ApiKeyRange = (API_API_VERSIONS, 0, 4)


def _conn(host: str, port: int, ctx: StageContext) -> KafkaConnection:
    """Connect with the tester's default retries."""
    return KafkaConnection.connect(host, port, ctx)


def _require_layout(ctx: StageContext) -> LogDirLayout:
    """The layout the stage's setup wrote."""
    if ctx.layout is None:
        raise RuntimeError("call the stage's setup (Stage.setup) before running it")
    return ctx.layout


# -- base and concurrency stages -------------------------------------------------


def stage_vi6(host: str, port: int, ctx: StageContext) -> None:
    """Bind to a port: a TCP connection succeeds (15 retries, 1 s apart)."""
    KafkaConnection.connect(host, port, ctx, retries=15).close()


def stage_nv3(host: str, port: int, ctx: StageContext) -> None:
    """Send Correlation ID: ApiVersions v4 with correlation id 7; only bytes 4..8 are checked."""
    with _conn(host, port, ctx) as conn:
        raw = conn.send_and_receive(encode_api_versions_request(7))
    check_correlation_id_only(raw, 7)


def stage_wa6(host: str, port: int, ctx: StageContext) -> None:
    """Parse Correlation ID: random correlation id echoed; message size not checked."""
    correlation_id = ctx.rand.correlation_id()
    with _conn(host, port, ctx) as conn:
        raw = conn.send_and_receive(encode_api_versions_request(correlation_id))
    check_correlation_id_only(raw, correlation_id)


def stage_nc5(host: str, port: int, ctx: StageContext) -> None:
    """Parse API Version: version in [1000, 2000) gets error_code 35."""
    correlation_id = ctx.rand.correlation_id()
    version = ctx.rand.invalid_api_version()
    with _conn(host, port, ctx) as conn:
        raw = conn.send_and_receive(
            encode_api_versions_request(correlation_id, api_version=version)
        )
    check_api_versions_error_code(raw, correlation_id, UNSUPPORTED_VERSION)


def api_versions_stage(*expected_keys: ApiKeyRange) -> StageRun:
    """One ApiVersions v4 request; the full answer must cover C{expected_keys}.

    pv1 expects ApiVersions 0..>=4; yk1, gs0 and um3 add DescribeTopicPartitions,
    Fetch and Produce.
    """

    def run(host: str, port: int, ctx: StageContext) -> None:
        correlation_id = ctx.rand.correlation_id()
        with _conn(host, port, ctx) as conn:
            raw = conn.send_and_receive(encode_api_versions_request(correlation_id))
        check_api_versions(raw, correlation_id, expected_keys, ctx.strict)

    return run


def stage_nh4(host: str, port: int, ctx: StageContext) -> None:
    """Serial requests: 2-4 ApiVersions requests, same correlation id, one connection."""
    count = ctx.rand.randint(2, 5)
    correlation_id = ctx.rand.correlation_id()
    with _conn(host, port, ctx) as conn:
        for i in range(count):
            raw = conn.send_and_receive(encode_api_versions_request(correlation_id))
            check_api_versions(raw, correlation_id, [API_VERSIONS_KEY], ctx.strict)
            ctx.log(f"request {i + 1} of {count} passed")


def stage_sk0(host: str, port: int, ctx: StageContext) -> None:
    """Concurrent requests: 2-3 clients connect, all send, responses read in reverse order."""
    count = ctx.rand.randint(2, 4)
    connections = [_conn(host, port, ctx) for _ in range(count)]
    try:
        correlation_ids = []
        for conn in connections:
            correlation_id = ctx.rand.correlation_id()
            correlation_ids.append(correlation_id)
            conn.send(encode_api_versions_request(correlation_id))
        for index in reversed(range(count)):
            raw = connections[index].receive()
            check_api_versions(raw, correlation_ids[index], [API_VERSIONS_KEY], ctx.strict)
    finally:
        for conn in connections:
            conn.close()


# -- listing partitions ----------------------------------------------------------


def stage_vt6(host: str, port: int, ctx: StageContext) -> None:
    """List for an unknown topic: error 3, zero UUID, no partitions, null cursor."""
    _require_layout(ctx)
    correlation_id = ctx.rand.correlation_id()
    unknown = f"UNKNOWN_TOPIC_{ctx.rand.randint(1, 100)}"
    with _conn(host, port, ctx) as conn:
        raw = conn.send_and_receive(
            encode_describe_topic_partitions_request(correlation_id, [unknown], 1)
        )
    check_describe_topic_partitions(
        raw,
        correlation_id,
        [ExpectedTopic(unknown, UNKNOWN_TOPIC_OR_PARTITION, ZERO_UUID, ())],
        ctx.strict,
    )


def describe_all_topics(host: str, port: int, ctx: StageContext) -> None:
    """ea7/ku4/wq2: every topic and partition listed, topics sorted by name."""
    layout = _require_layout(ctx)
    correlation_id = ctx.rand.correlation_id()
    names = [t.name for t in layout.topics]
    limit = sum(len(t.partitions) for t in layout.topics)
    with _conn(host, port, ctx) as conn:
        raw = conn.send_and_receive(
            encode_describe_topic_partitions_request(correlation_id, names, limit)
        )
    check_describe_topic_partitions(
        raw, correlation_id, expected_topics_from_layout(layout), ctx.strict
    )


# -- consuming messages ------------------------------------------------------------


def stage_dh6(host: str, port: int, ctx: StageContext) -> None:
    """Fetch with no topics: empty responses array."""
    correlation_id = ctx.rand.correlation_id()
    with _conn(host, port, ctx) as conn:
        raw = conn.send_and_receive(encode_fetch_request(correlation_id, []))
    check_fetch(raw, correlation_id, strict=ctx.strict)


def stage_hn6(host: str, port: int, ctx: StageContext) -> None:
    """Fetch with an unknown topic: partition error 100 (UNKNOWN_TOPIC_ID)."""
    _require_layout(ctx)
    topic_id = ctx.params["unknown_topic_id"]
    correlation_id = ctx.rand.correlation_id()
    with _conn(host, port, ctx) as conn:
        raw = conn.send_and_receive(encode_fetch_request(correlation_id, [(topic_id, [0])]))
    check_fetch(
        raw,
        correlation_id,
        topic_id=topic_id,
        partition_index=0,
        partition_error_code=UNKNOWN_TOPIC_ID,
        strict=ctx.strict,
    )


def _fetch_and_check(
    conn: KafkaConnection,
    ctx: StageContext,
    topic_id: str,
    partition_id: int,
    expected_batches: Sequence[RecordBatch],
) -> None:
    """Fetch one partition from offset 0: error 0 and exactly C{expected_batches}."""
    correlation_id = ctx.rand.correlation_id()
    raw = conn.send_and_receive(encode_fetch_request(correlation_id, [(topic_id, [partition_id])]))
    check_fetch(
        raw,
        correlation_id,
        topic_id=topic_id,
        partition_index=partition_id,
        partition_error_code=NO_ERROR,
        expected_batches=expected_batches,
        strict=ctx.strict,
    )


def fetch_first_topic(host: str, port: int, ctx: StageContext) -> None:
    """cm4/eg2/fd8: the batches the tester wrote (none, one, or 2-3) come back."""
    layout = _require_layout(ctx)
    topic = layout.topics[0]
    partition = topic.partitions[0]
    with _conn(host, port, ctx) as conn:
        _fetch_and_check(conn, ctx, topic.uuid, partition.partition_id, partition.batches)


# -- producing messages ------------------------------------------------------------

ProduceTopics = Sequence[tuple[str, Sequence[tuple[int, RecordBatch]]]]
"""C{(topic name, [(partition, batch), ...])} for each topic of a Produce request."""


def _produce_and_check(
    conn: KafkaConnection,
    ctx: StageContext,
    topics: ProduceTopics,
    expected: Sequence[tuple[str, Sequence[ExpectedProducePartition]]],
) -> None:
    """Send one Produce request and check its answer."""
    correlation_id = ctx.rand.correlation_id()
    raw = conn.send_and_receive(encode_produce_request(correlation_id, topics))
    check_produce(raw, correlation_id, expected, ctx.strict)


def stage_ck2(host: str, port: int, ctx: StageContext) -> None:
    """Invalid topic or partition: error 3 and -1 offsets, two requests on one connection."""
    layout = _require_layout(ctx)
    known = layout.topics[0].name
    with _conn(host, port, ctx) as conn:
        for name, partition_id in (
            (known, ctx.rand.randint(100, 1000)),
            (ctx.params["unknown_topic"], 0),
        ):
            batch = produce_batch([ctx.rand.word()])
            expected = ExpectedProducePartition(
                partition_id,
                UNKNOWN_TOPIC_OR_PARTITION,
                base_offset=-1,
                log_append_time_ms=-1,
                log_start_offset=-1,
            )
            _produce_and_check(conn, ctx, [(name, [(partition_id, batch)])], [(name, [expected])])


def one_word(rand: TesterRandom) -> list[str]:
    """The records of a single-record batch."""
    return [rand.word()]


def two_or_three_words(rand: TesterRandom) -> list[str]:
    """The records of a multi-record batch."""
    return rand.words(rand.randint(2, 4))


def produce_stage(
    messages_for: Callable[[TesterRandom], list[str]], *, check_disk: bool, fetch_back: bool
) -> StageRun:
    """One Produce request with a batch for every partition of the layout.

    The answer must report success (error 0, base offset 0, log_append_time -1,
    log_start 0) for each; with C{check_disk} each partition's segment must
    start with the sent batch (CRC compared); with C{fetch_back} a Fetch of
    the first partition must return the batch unchanged.
    """

    def run(host: str, port: int, ctx: StageContext) -> None:
        layout = _require_layout(ctx)
        topics = [
            (
                topic.name,
                [(p.partition_id, produce_batch(messages_for(ctx.rand))) for p in topic.partitions],
            )
            for topic in layout.topics
        ]
        expected = expected_produce_success(
            [(name, [pid for pid, _ in parts]) for name, parts in topics]
        )
        with _conn(host, port, ctx) as conn:
            _produce_and_check(conn, ctx, topics, expected)
            if check_disk:
                for name, parts in topics:
                    for partition_id, batch in parts:
                        check_log_file(layout.partition_log_path(name, partition_id), batch)
            if fetch_back:
                partition_id, batch = topics[0][1][0]
                _fetch_and_check(conn, ctx, layout.topics[0].uuid, partition_id, [batch])

    return run


@dataclass(frozen=True)
class Stage:
    """One course stage: files to write, then the checks against the running program."""

    slug: str
    name: str
    extension: str
    setup: Callable[[StageContext], None]
    run: StageRun
    aliases: tuple[str, ...] = ()
    timeout: float = STAGE_TIMEOUT_SECONDS


BASE = "base"
CONCURRENT = "concurrent-clients"
LISTING = "listing-partitions"
CONSUMING = "consuming-messages"
PRODUCING = "producing-messages"

stage_pv1 = api_versions_stage(API_VERSIONS_KEY)
stage_yk1 = api_versions_stage(API_VERSIONS_KEY, (API_DESCRIBE_TOPIC_PARTITIONS, 0, 0))
stage_gs0 = api_versions_stage((API_FETCH, 0, 16), API_VERSIONS_KEY)
stage_um3 = api_versions_stage((API_PRODUCE, 0, 11), API_VERSIONS_KEY)
stage_dp1 = produce_stage(one_word, check_disk=False, fetch_back=False)
stage_ps7 = produce_stage(one_word, check_disk=True, fetch_back=True)
stage_sb8 = produce_stage(two_or_three_words, check_disk=True, fetch_back=True)
stage_mf2 = stage_ar4 = produce_stage(two_or_three_words, check_disk=True, fetch_back=False)

#: Each stage's name in the course, by slug.
NAMES = {
    "vi6": "Bind to a port",
    "nv3": "Send Correlation ID",
    "wa6": "Parse Correlation ID",
    "nc5": "Parse API Version",
    "pv1": "Handle APIVersions requests",
    "nh4": "Serial requests",
    "sk0": "Concurrent requests",
    "yk1": "Include DescribeTopicPartitions in APIVersions",
    "vt6": "List for an unknown topic",
    "ea7": "List for a single partition",
    "ku4": "List for multiple partitions",
    "wq2": "List for multiple topics",
    "gs0": "Include Fetch in APIVersions",
    "dh6": "Fetch with no topics",
    "hn6": "Fetch with an unknown topic",
    "cm4": "Fetch with an empty topic",
    "eg2": "Fetch single message from disk",
    "fd8": "Fetch multiple messages from disk",
    "um3": "Include Produce in APIVersions",
    "ck2": "Respond for invalid topic or partition",
    "dp1": "Respond for valid topic and partition",
    "ps7": "Produce a single record",
    "sb8": "Produce multiple records",
    "mf2": "Produce to multiple partitions",
    "ar4": "Produce to multiple partitions of multiple topics",
}


def _stage(
    slug: str,
    extension: str,
    setup: Callable[[StageContext], None],
    run: StageRun,
    *aliases: str,
    timeout: float = STAGE_TIMEOUT_SECONDS,
) -> Stage:
    return Stage(slug, NAMES[slug], extension, setup, run, aliases, timeout)


STAGES: tuple[Stage, ...] = (
    _stage("vi6", BASE, setup_no_topics, stage_vi6, timeout=BIND_STAGE_TIMEOUT_SECONDS),
    _stage("nv3", BASE, setup_no_topics, stage_nv3),
    _stage("wa6", BASE, setup_no_topics, stage_wa6),
    _stage("nc5", BASE, setup_no_topics, stage_nc5),
    _stage("pv1", BASE, setup_no_topics, stage_pv1),
    _stage("nh4", CONCURRENT, setup_no_topics, stage_nh4),
    _stage("sk0", CONCURRENT, setup_no_topics, stage_sk0),
    _stage("yk1", LISTING, setup_no_topics, stage_yk1),
    _stage("vt6", LISTING, setup_one_string_partition, stage_vt6),
    _stage("ea7", LISTING, setup_one_string_partition, describe_all_topics),
    _stage("ku4", LISTING, setup_ku4, describe_all_topics),
    _stage("wq2", LISTING, setup_wq2, describe_all_topics),
    _stage("gs0", CONSUMING, setup_no_topics, stage_gs0),
    _stage("dh6", CONSUMING, setup_no_topics, stage_dh6),
    _stage("hn6", CONSUMING, setup_hn6, stage_hn6),
    _stage("cm4", CONSUMING, setup_single_empty_partition, fetch_first_topic),
    _stage("eg2", CONSUMING, setup_eg2, fetch_first_topic),
    _stage("fd8", CONSUMING, setup_fd8, fetch_first_topic),
    _stage("um3", PRODUCING, setup_no_topics, stage_um3, "xz1"),
    _stage("ck2", PRODUCING, setup_ck2, stage_ck2, "zf2"),
    _stage("dp1", PRODUCING, setup_single_empty_partition, stage_dp1, "gg1"),
    _stage("ps7", PRODUCING, setup_single_empty_partition, stage_ps7, "ls8"),
    _stage("sb8", PRODUCING, setup_single_empty_partition, stage_sb8, "yd8"),
    _stage("mf2", PRODUCING, setup_mf2, stage_mf2, "ct4"),
    _stage("ar4", PRODUCING, setup_ar4, stage_ar4, "ov0"),
)

STAGE_BY_SLUG: dict[str, Stage] = {
    slug: stage for stage in STAGES for slug in (stage.slug, *stage.aliases)
}
