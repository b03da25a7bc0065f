"""Produce (api key 0): v0-v13.

Behavior:
* authorization (Kafka's C{KafkaApis.handleProduceRequest}): a request whose
  batches are transactional needs a transactional id with WRITE on it, else
  every partition answers TRANSACTIONAL_ID_AUTHORIZATION_FAILED (acks=0:
  the connection closes); each topic needs WRITE, else its partitions get
  TOPIC_AUTHORIZATION_FAILED, checked before the topic's existence, so an
  unauthorized client learns nothing of which topics exist (from v13 an
  unknown topic id is UNKNOWN_TOPIC_ID first: there is no name to check).
  Idempotent batches need nothing more (Kafka 3.0+ dropped the cluster
  IDEMPOTENT_WRITE check, KIP-679);
* unknown topic or partition: UNKNOWN_TOPIC_OR_PARTITION, with base offset,
  log append time and log start offset all -1 (no auto-creation here: Kafka
  creates topics only through Metadata);
* a partition another broker of the cluster leads, or whose log is still
  loading here, is NOT_LEADER_OR_FOLLOWER (L{kafkatwist.apis._partitions.find_partition});
* each partition's records are validated per batch (magic 2, lengths,
  CRC-32C, ``max.message.bytes``), then record by record in C (count,
  varints, lengths, headers, keys on compacted topics) after a bounded
  decompression (L{kafkatwist.wire.record_checks.check_records}); a rejected
  batch is never appended, its answer carries Kafka's ``error_message``
  (and, for keyless records on a compacted topic, ``record_errors``), and
  one line is logged, once per connection for each partition and error
  code (a client repeating a refused batch does not flood the log);
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
  asks for one); other acks values get INVALID_REQUIRED_ACKS (after the
  authorization checks, as Kafka's C{ReplicaManager.appendRecords}).
* transactional batches (a request with a ``transactional_id``) are first
  checked with the transaction coordinator, as Kafka 4.x brokers do
  (KIP-890, ``AddPartitionsToTxnManager``), by request version as Kafka's
  ``KafkaApis.handleProduceRequest``: below v12 (transaction version 1) a
  partition not in the producer's transaction is refused
  (INVALID_TXN_STATE, TRANSACTION_ABORTABLE from v11), and nothing is
  checked when ``transaction.partition.verification.enable`` is false;
  v12+ (transaction version 2) adds the partitions to the transaction
  (L{kafkatwist.transactions.service.TransactionService.ensure_partitions}),
  trying again for 100 ms while the coordinator answers
  CONCURRENT_TRANSACTIONS, then answering it; a fenced epoch is
  INVALID_PRODUCER_EPOCH, and a coordinator that is busy
  (CONCURRENT_TRANSACTIONS below v12, loading) NOT_ENOUGH_REPLICAS, which
  every producer retries; the log then checks the batch itself (epoch,
  sequence, a transaction of the producer);
* internal topics (``__consumer_offsets``, ``__transaction_state``) get
  INVALID_TOPIC_EXCEPTION unless the client id is ``__admin_client``
  (Kafka's ``ReplicaManager.appendToLocalLog``); the coordinators append to
  them through the broker, not through Produce;
* the produce byte rate quota (C{producer_byte_rate}, L{kafkatwist.quotas}):
  each request's size is charged to the client's rate once it is appended,
  and its handling time to C{request_percentage} (not for acks=0); over
  either, the response carries the longer C{throttle_time_ms} and the
  connection reads nothing more for that long (KIP-219), acks=0 included.

Version notes:
* v0-v2 (Kafka 4.0 removed them, KIP-896; kafkatwist serves them as Kafka
  3.9 did): the records may be a magic 0 or 1 message set, up-converted to
  one magic 2 batch before the usual checks
  (L{kafkatwist.wire.upconvert}: CRC-32, wrappers decompressed, keys,
  values and magic 1 timestamps kept, the topic's codec), or magic 2
  batches, several per partition (Kafka checks one batch from v3 only);
  v1+: throttle time; v2+: log append time. The request's ``acks`` and
  ``timeout_ms`` mean what they mean at v3.
* v3+: transactional id; v5+: log start offset; v8+: record errors and an
  error message; v9+: flexible; v10+: current leader and node endpoints
  (KIP-951) on each NOT_LEADER_OR_FOLLOWER answer: the image's leader id and
  epoch, and the leader's endpoint when it is live;
  v11: TRANSACTION_ABORTABLE; v12: transaction version 2 (the same body).
* v13: topics are named by id (KIP-516), in the request and the answer; an
  id the metadata image does not know is UNKNOWN_TOPIC_ID for each of its
  partitions (Kafka's C{KafkaApis.handleProduceRequest}).
* ``timeout_ms`` is not read: it bounds the wait of acks=-1 for the in-sync
  followers, and there are none.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger

from kafkatwist.apis._authz import denied_names
from kafkatwist.apis._partitions import find_partition
from kafkatwist.apis._produce_leaders import CURRENT_LEADER_VERSION, with_leaders
from kafkatwist.apis._produce_txn import transactional_id_authorized, verify_transaction
from kafkatwist.apis._quotas import request_throttle, with_throttle
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode, KafkaError, ProtocolViolation, RecordsError
from kafkatwist.messages.produce import (
    BatchIndexAndErrorMessage,
    NodeEndpoint,
    PartitionProduceData,
    PartitionProduceResponse,
    ProduceRequest,
    ProduceResponse,
    TopicProduceData,
    TopicProduceResponse,
)
from kafkatwist.security.acl import AclOperation, ResourceType
from kafkatwist.storage.interfaces import IPartitionLog
from kafkatwist.storage.kraft import TopicState
from kafkatwist.storage.results import AppendInfo
from kafkatwist.wire.primitives import Buffer
from kafkatwist.wire.record_checks import RecordErrors
from kafkatwist.wire.schema import Records
from kafkatwist.wire.upconvert import has_wrapper, is_legacy, up_convert
from kafkatwist.wire.validator import validate_produce_records
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
    """
    The answer to records refused by validation, logged in one line.

    Logged once per connection for each partition and error code (the
    reason is in the line), so that a client repeating a refused batch
    does not flood the log.
    """
    seen = f"refused {partition} {e.code.name}"
    if seen not in ctx.logged:
        ctx.logged.add(seen)
        _log.info(
            "Refused a produce to {partition} from client {client_id!r} ({peer}): {error}",
            partition=partition,
            client_id=ctx.header.client_id,
            peer=ctx.peer,
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


#: The first Produce version that names topics by id (KIP-516).
TOPIC_ID_PRODUCE_VERSION = 13


def _topic_of(ctx: RequestContext, td: TopicProduceData) -> TopicState | None:
    """The topic C{td} names: by id from v13, by name below; None if unknown."""
    image = ctx.broker.metadata.image
    if ctx.api_version >= TOPIC_ID_PRODUCE_VERSION:
        return image.topics_by_id.get(td.topic_id)
    return image.topics.get(td.name)


def _name_of(ctx: RequestContext, td: TopicProduceData, topic: TopicState | None) -> str | None:
    """The topic's name as authorized: the request's below v13, the known topic's from v13."""
    if ctx.api_version >= TOPIC_ID_PRODUCE_VERSION:
        return None if topic is None else topic.name
    return td.name


def _append(
    ctx: RequestContext,
    topic: TopicState | None,
    allowed: bool,
    index: int,
    records: Records | None,
    refused: dict[tuple[str, int], ErrorCode],
) -> Deferred[PartitionProduceResponse]:
    """
    Validate and append one partition's records; fires with the partition's answer.

    In Kafka's order: an unknown topic id (v13), then C{allowed} (WRITE on
    the topic, checked before its existence is), then an unknown topic or
    partition.
    """
    if topic is None and ctx.api_version >= TOPIC_ID_PRODUCE_VERSION:
        return succeed(_error(index, ErrorCode.UNKNOWN_TOPIC_ID))
    if not allowed:
        return succeed(_error(index, ErrorCode.TOPIC_AUTHORIZATION_FAILED))
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
    name = f"{partition.topic.name}-{index}"
    # A decoded request holds one buffer (a sequence of them is only ever encoded).
    buf = records if isinstance(records, (bytes, bytearray, memoryview)) else b""
    if ctx.api_version < BATCH_PRODUCE_VERSION and is_legacy(buf):
        return Deferred.fromCoroutine(_append_legacy(ctx, partition.topic, index, log, buf))
    try:
        batches = validate_produce_records(
            buf,
            max_batch_bytes=log.config.max_message_bytes,
            allow_multiple_batches=ctx.api_version < BATCH_PRODUCE_VERSION,
            api_version=ctx.api_version,
        )
    except RecordsError as e:
        return succeed(_refused(ctx, name, index, e))
    appended = ctx.broker.partitions.append(partition.topic, index, log, buf, batches)
    return Deferred.fromCoroutine(_answer(ctx, name, index, appended))


#: The first Produce version whose records must be one magic 2 batch; below
#: it, message sets of magic 0 and 1 are up-converted (Kafka 3.9).
BATCH_PRODUCE_VERSION = 3
#: Message sets converted on the reactor thread at most (uncompressed ones only).
INLINE_UPCONVERT_BYTES = 16 * 1024


async def _append_legacy(
    ctx: RequestContext, topic: TopicState, index: int, log: IPartitionLog, buf: Buffer
) -> PartitionProduceResponse:
    """
    Up-convert a magic 0/1 message set to one v2 batch, then append it like any other.

    As Kafka 3.9's C{LogValidator}
    (L{kafkatwist.wire.upconvert.up_convert}); a message set with a
    compressed wrapper or of more than L{INLINE_UPCONVERT_BYTES} is
    converted in a worker thread.
    """
    name = f"{topic.name}-{index}"
    config = log.config

    def convert() -> bytes:
        return up_convert(
            buf,
            compression_type=config.compression_type,
            max_message_bytes=config.max_message_bytes,
        )

    try:
        if len(buf) <= INLINE_UPCONVERT_BYTES and not has_wrapper(buf):
            batch = convert()
        else:
            batch = await ctx.broker.partitions.run_in_worker(convert)
        batches = validate_produce_records(
            batch, max_batch_bytes=config.max_message_bytes, api_version=ctx.api_version
        )
    except RecordsError as e:
        return _refused(ctx, name, index, e)
    appended = ctx.broker.partitions.append(topic, index, log, batch, batches)
    return await _answer(ctx, name, index, appended)


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
    if not transactional_id_authorized(ctx, request):
        return _refuse(ctx, request, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    topics = [(td, _topic_of(ctx, td)) for td in request.topic_data]
    # WRITE on each topic, once per name (Kafka's filterByAuthorized).
    denied = denied_names(
        ctx,
        AclOperation.WRITE,
        ResourceType.TOPIC,
        (name for td, topic in topics if (name := _name_of(ctx, td, topic)) is not None),
    )
    # (request topic, its topic, whether WRITE is allowed on it)
    checked = [
        (td, topic, not denied or _name_of(ctx, td, topic) not in denied) for td, topic in topics
    ]
    if request.acks not in (0, 1, -1):
        # Kafka's ReplicaManager answers it for the partitions it would append to.
        invalid = [
            (td, [_error(pd.index, _acks_refusal(ctx, topic, allowed)) for pd in td.partition_data])
            for td, topic, allowed in checked
        ]
        return _response(invalid)
    refused: dict[tuple[str, int], ErrorCode] = {}
    if request.transactional_id is not None:
        allowed_partitions: list[tuple[TopicState, PartitionProduceData]] = [
            (topic, pd)
            for td, topic, allowed in checked
            if topic is not None and allowed
            for pd in td.partition_data
        ]
        refused = await verify_transaction(ctx, request.transactional_id, allowed_partitions)
    # Every append starts before the first answer is awaited.
    pending = [
        (
            td,
            [
                _append(ctx, topic, allowed, pd.index, pd.records, refused)
                for pd in td.partition_data
            ],
        )
        for td, topic, allowed in checked
    ]
    responses = [(td, [await d for d in answers]) for td, answers in pending]
    endpoints: tuple[NodeEndpoint, ...] = ()
    if ctx.api_version >= CURRENT_LEADER_VERSION:
        responses, endpoints = with_leaders(ctx, [topic for _, topic, _ in checked], responses)
    # The produce byte rate quota, charged with the request's size, and the request
    # quota, which acks=0 is exempt from (Kafka's handleProduceRequest); over either,
    # the connection is muted for the longer throttle (even for acks=0).
    bandwidth = ctx.broker.quotas.produce.record(
        ctx.user, ctx.client_id, ctx.request_size, ctx.broker.now_ms()
    )
    if request.acks == 0:
        ctx.request_time_charged = True
    throttle = max(bandwidth, request_throttle(ctx))
    ctx.throttle_ms = throttle
    if request.acks == 0:
        _close_on_error(ctx, responses)
        return None
    answer = _response(responses)
    if endpoints:
        answer = attrs.evolve(answer, node_endpoints=endpoints)
    return with_throttle(answer, ctx.api_version, throttle)


def _acks_refusal(ctx: RequestContext, topic: TopicState | None, allowed: bool) -> ErrorCode:
    """A partition's code in a request with an invalid acks: the ID and auth errors come first."""
    if topic is None and ctx.api_version >= TOPIC_ID_PRODUCE_VERSION:
        return ErrorCode.UNKNOWN_TOPIC_ID
    return ErrorCode.INVALID_REQUIRED_ACKS if allowed else ErrorCode.TOPIC_AUTHORIZATION_FAILED


def _refuse(ctx: RequestContext, request: ProduceRequest, code: ErrorCode) -> ProduceResponse:
    """
    The whole request refused with C{code} (Kafka's C{sendErrorResponseMaybeThrottle}).

    @raise ProtocolViolation: for acks=0, which has no response: the
        connection closes instead, as Kafka's C{getErrorResponse} answers null.
    """
    if request.acks == 0:
        raise ProtocolViolation(
            f"{code.name} in acks=0 Produce (correlation id {ctx.header.correlation_id}, "
            f"client id {ctx.header.client_id!r})"
        )
    return error_response(request, ctx.api_version, code)


def _close_on_error(
    ctx: RequestContext, responses: list[tuple[TopicProduceData, list[PartitionProduceResponse]]]
) -> None:
    """
    With acks=0 a client learns of an error only by the connection closing.

    Kafka's C{KafkaApis.handleProduceRequest} closes the connection when any
    partition of an acks=0 request failed, so the client refreshes its
    metadata; the reason is logged once.

    @raise ProtocolViolation: when a partition failed (the connection closes).
    """
    errors = [
        f"{td.name or td.topic_id}-{answer.index}: {_error_name(answer.error_code)}"
        for td, answers in responses
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
    topics: Iterable[tuple[TopicProduceData, Iterable[PartitionProduceResponse]]],
) -> ProduceResponse:
    """The answers, by topic, named as the request named them (name, or id from v13)."""
    return ProduceResponse(
        responses=tuple(
            TopicProduceResponse(
                name=td.name, topic_id=td.topic_id, partition_responses=tuple(answers)
            )
            for td, answers in topics
        )
    )


def error_response(request: ProduceRequest, version: int, code: ErrorCode) -> ProduceResponse:
    return _response(
        (td, [_error(pd.index, code) for pd in td.partition_data]) for td in request.topic_data
    )


SPEC = ApiSpec(
    api_key=0,
    versions=VersionRange(0, 13),
    request=ProduceRequest,
    response=ProduceResponse,
    handle=handle,
    error_response=error_response,
    unused_fields={
        "ProduceRequest.timeout_ms": "how long acks=-1 waits for the in-sync followers; "
        "there are none, the append is acknowledged once written",
    },
)
