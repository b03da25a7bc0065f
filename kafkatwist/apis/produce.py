"""Produce (api key 0): v0-v11.

Behavior:
* unknown topic or partition: UNKNOWN_TOPIC_OR_PARTITION, with base offset,
  log append time and log start offset all -1 (no auto-creation here: Kafka
  creates topics only through Metadata);
* each partition's records are validated per batch (magic 2, lengths,
  CRC-32C, ``max.message.bytes``), then record by record in C (count,
  varints, lengths, headers, keys on compacted topics) after a bounded
  decompression (L{kafkatwist.wire.validator.check_records}); a rejected
  batch is never appended, its answer carries Kafka's ``error_message``
  (and, for keyless records on a compacted topic, ``record_errors``), and
  one line is logged;
* offsets are assigned by rewriting each batch's base offset, which the CRC
  does not cover, so nothing is re-encoded; the batch goes to the active
  segment byte for byte, whatever its codec;
* unless the topic's ``compression.type`` names another codec than the
  batch's (not ``producer``): then the batch is re-encoded with it, as
  Kafka's LogValidator does (L{kafkatwist.wire.recompress});
* idempotent batches (producer id >= 0) are checked against the partition's
  producer state (L{kafkatwist.producers.state}): a retry of one of the last
  five batches answers NONE with the original base offset (and, as Kafka,
  that batch's max timestamp as ``log_append_time_ms``); a sequence gap or a
  new epoch not at sequence 0 is OUT_OF_ORDER_SEQUENCE_NUMBER, an older epoch
  INVALID_PRODUCER_EPOCH; nothing refused is appended;
* the response carries the assigned base offset, the log start offset and
  ``log_append_time_ms`` (-1 unless the topic uses LogAppendTime);
* acks=0 sends no response, but any partition error closes the connection
  (logged once) so the client learns of it, as in Kafka; acks=1 and acks=-1
  answer after the append (and after the fsync when the topic's flush policy
  asks for one); other acks values get INVALID_REQUIRED_ACKS.
* transactional batches (a request with a ``transactional_id``) are first
  checked with the transaction coordinator, as Kafka 4.x brokers do
  (KIP-890, ``AddPartitionsToTxnManager``): a partition not in the
  producer's transaction is refused (INVALID_TXN_STATE, TRANSACTION_ABORTABLE
  from v11) for a transaction version 1 producer, and added to the
  transaction for a version 2 producer
  (L{kafkatwist.transactions.coordinator.TransactionCoordinator.ensure_partitions});
  a fenced epoch is INVALID_PRODUCER_EPOCH, and a coordinator that is busy
  (CONCURRENT_TRANSACTIONS, loading) NOT_ENOUGH_REPLICAS, which every
  producer retries; the log then checks the batch itself (epoch,
  sequence, a transaction of the producer);
* internal topics (``__consumer_offsets``, ``__transaction_state``) get
  INVALID_TOPIC_EXCEPTION unless the client id is ``__admin_client``
  (Kafka's ``ReplicaManager.appendToLocalLog``); the coordinators append to
  them through the broker, not through Produce.

Version notes:
* v0 is advertised because librdkafka needs it for compressed produce
  (KAFKA-18659); only magic-2 batches are accepted at any version.
* v3+: transactional id; v5+: log start offset; v8+: record errors and an
  error message; v9+: flexible; v10+: current leader and node endpoints.
"""

from __future__ import annotations

from collections.abc import Iterable

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger

from kafkatwist.apis._partitions import find_partition
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode, KafkaError, ProtocolViolation, RecordsError
from kafkatwist.messages.produce import (
    BatchIndexAndErrorMessage,
    PartitionProduceResponse,
    ProduceRequest,
    ProduceResponse,
    TopicProduceResponse,
)
from kafkatwist.storage.kraft import TopicState
from kafkatwist.storage.results import AppendInfo
from kafkatwist.wire.batch import BATCH_HEADER_SIZE, parse_batch_header
from kafkatwist.wire.schema import Records
from kafkatwist.wire.validator import RecordErrors, validate_produce_records
from kafkatwist.wire.versions import VersionRange

_log = Logger()


def _error(
    index: int,
    code: ErrorCode,
    message: str | None = None,
    record_errors: tuple[BatchIndexAndErrorMessage, ...] = (),
) -> PartitionProduceResponse:
    return PartitionProduceResponse(
        index=index,
        error_code=int(code),
        base_offset=-1,
        log_append_time_ms=-1,
        log_start_offset=-1,
        record_errors=record_errors,
        error_message=message,
    )


def _refused(
    ctx: RequestContext, partition: str, index: int, e: RecordsError
) -> PartitionProduceResponse:
    """The answer to records refused by validation, logged in one line."""
    _log.info(
        "Refused a produce to {partition} from client {client_id!r}: {error}",
        partition=partition,
        client_id=ctx.header.client_id,
        error=str(e),
    )
    errors: tuple[BatchIndexAndErrorMessage, ...] = ()
    if isinstance(e, RecordErrors):
        errors = tuple(
            BatchIndexAndErrorMessage(batch_index=i, batch_index_error_message=m)
            for i, m in e.record_errors
        )
    return _error(index, e.code, e.message, errors)


#: Kafka's ``AdminUtils.ADMIN_CLIENT_ID``: the one client id allowed to produce to internal topics.
ADMIN_CLIENT_ID = "__admin_client"


def _append(
    ctx: RequestContext,
    topic: TopicState | None,
    index: int,
    records: Records | None,
    refused: dict[tuple[str, int], ErrorCode],
) -> Deferred[PartitionProduceResponse]:
    """Validate and append one partition's records; fires with the partition's answer."""
    partition = find_partition(ctx, topic, index)
    if isinstance(partition, ErrorCode):
        return succeed(_error(index, partition))
    not_in_txn = refused.get((partition.topic.name, index))
    if not_in_txn is not None:
        return succeed(_error(index, not_in_txn))
    if partition.topic.is_internal and ctx.header.client_id != ADMIN_CLIENT_ID:
        message = f"Cannot append to internal topic {partition.topic.name}"
        return succeed(_error(index, ErrorCode.INVALID_TOPIC_EXCEPTION, message))
    log = partition.log()
    # A decoded request holds one buffer (a sequence of them is only ever encoded).
    buf = records if isinstance(records, (bytes, bytearray, memoryview)) else b""
    try:
        batches = validate_produce_records(
            buf,
            max_batch_bytes=log.config.max_message_bytes,
            api_version=ctx.api_version,
        )
    except RecordsError as e:
        return succeed(_refused(ctx, f"{partition.topic.name}-{index}", index, e))
    appended = ctx.broker.partitions.append(partition.topic, index, log, buf, batches)
    return Deferred.fromCoroutine(_answer(ctx, f"{partition.topic.name}-{index}", index, appended))


async def _answer(
    ctx: RequestContext, name: str, index: int, appended: Deferred[AppendInfo]
) -> PartitionProduceResponse:
    """The partition's answer once its append is done."""
    try:
        info = await appended
    except RecordsError as e:
        return _refused(ctx, name, index, e)
    except KafkaError as e:
        return _error(index, e.code, e.message)
    return PartitionProduceResponse(
        index=index,
        error_code=0,
        base_offset=info.base_offset,
        log_append_time_ms=info.log_append_time_ms,
        log_start_offset=info.log_start_offset,
    )


async def handle(ctx: RequestContext, request: ProduceRequest) -> ProduceResponse | None:
    image = ctx.broker.metadata.image
    if request.acks not in (0, 1, -1):
        code = ErrorCode.INVALID_REQUIRED_ACKS
        return error_response(request, ctx.api_version, code)
    refused: dict[tuple[str, int], ErrorCode] = {}
    if request.transactional_id is not None:
        refused = await _verify_transaction(ctx, request)
    # Every append starts before the first answer is awaited.
    pending = [
        (
            td.name,
            [
                _append(ctx, image.topics.get(td.name), pd.index, pd.records, refused)
                for pd in td.partition_data
            ],
        )
        for td in request.topic_data
    ]
    responses = [(name, [await d for d in answers]) for name, answers in pending]
    if request.acks == 0:
        _close_on_error(ctx, responses)
        return None
    return _response(responses)


#: Verification errors a producer does not retry as Kafka means, and what it gets instead
#: (Kafka's C{ReplicaManager}: NOT_ENOUGH_REPLICAS is retried and refreshes no metadata).
_PRODUCE_ERRORS = {
    ErrorCode.PRODUCER_FENCED: ErrorCode.INVALID_PRODUCER_EPOCH,
    ErrorCode.CONCURRENT_TRANSACTIONS: ErrorCode.NOT_ENOUGH_REPLICAS,
    ErrorCode.COORDINATOR_LOAD_IN_PROGRESS: ErrorCode.NOT_ENOUGH_REPLICAS,
    ErrorCode.COORDINATOR_NOT_AVAILABLE: ErrorCode.NOT_ENOUGH_REPLICAS,
    ErrorCode.NOT_COORDINATOR: ErrorCode.NOT_ENOUGH_REPLICAS,
}


async def _verify_transaction(
    ctx: RequestContext, request: ProduceRequest
) -> dict[tuple[str, int], ErrorCode]:
    """
    The partitions of a transactional produce that are not (and cannot be) in its transaction.

    One check per request, with the producer id and epoch of the first
    transactional batch (Kafka verifies a request's partitions together).
    """
    image = ctx.broker.metadata.image
    wanted: list[tuple[str, int]] = []
    producer: tuple[int, int] | None = None
    for td in request.topic_data:
        topic = image.topics.get(td.name)
        for pd in td.partition_data:
            buf = pd.records
            if topic is None or pd.index not in topic.partitions:
                continue
            if not isinstance(buf, (bytes, bytearray, memoryview)) or len(buf) < BATCH_HEADER_SIZE:
                continue
            try:
                header = parse_batch_header(buf)
            except RecordsError:
                continue  # validation refuses it
            if not header.is_transactional or header.producer_id < 0:
                continue
            producer = producer or (header.producer_id, header.producer_epoch)
            wanted.append((td.name, pd.index))
    if producer is None or request.transactional_id is None:
        return {}
    codes = await ctx.broker.transactions.coordinator.ensure_partitions(
        request.transactional_id, producer[0], producer[1], wanted
    )
    refused = {}
    for tp, code in codes.items():
        if code == ErrorCode.NONE:
            continue
        if code == ErrorCode.TRANSACTION_ABORTABLE and ctx.api_version < 11:
            code = ErrorCode.INVALID_TXN_STATE
        refused[tp] = _PRODUCE_ERRORS.get(code, code)
    return refused


def _close_on_error(
    ctx: RequestContext, responses: list[tuple[str, list[PartitionProduceResponse]]]
) -> None:
    """
    With acks=0 a client learns of an error only by the connection closing.

    Kafka's C{KafkaApis.handleProduceRequest} closes the connection when any
    partition of an acks=0 request failed, so the client refreshes its
    metadata; the reason is logged once.

    @raise ProtocolViolation: when a partition failed (the connection closes).
    """
    errors = [
        f"{name}-{answer.index}: {_error_name(answer.error_code)}"
        for name, answers in responses
        for answer in answers
        if answer.error_code
    ]
    if errors:
        raise ProtocolViolation(
            f"error in acks=0 Produce (correlation id {ctx.header.correlation_id}, client id "
            f"{ctx.header.client_id!r}): {', '.join(errors)}"
        )


def _error_name(code: int) -> str:
    try:
        return ErrorCode(code).name
    except ValueError:
        return str(code)


def _response(
    topics: Iterable[tuple[str, Iterable[PartitionProduceResponse]]],
) -> ProduceResponse:
    """The answers, by topic."""
    return ProduceResponse(
        responses=tuple(
            TopicProduceResponse(name=name, partition_responses=tuple(answers))
            for name, answers in topics
        )
    )


def error_response(request: ProduceRequest, version: int, code: ErrorCode) -> ProduceResponse:
    return _response(
        (td.name, [_error(pd.index, code) for pd in td.partition_data]) for td in request.topic_data
    )


SPEC = ApiSpec(
    api_key=0,
    versions=VersionRange(0, 11),
    request=ProduceRequest,
    response=ProduceResponse,
    handle=handle,
    error_response=error_response,
)
