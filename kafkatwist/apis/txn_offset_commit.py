"""TxnOffsetCommit (api key 28): v0-v5.

Behavior (Kafka's ``KafkaApis.handleTxnOffsetCommitRequest`` and the group
coordinator's ``commitTransactionalOffsets``):
* the offsets are written to ``__consumer_offsets`` as a transactional
  batch of the producer and kept as its pending offsets: OffsetFetch shows
  them only once the transaction commits (its marker reaches the group's
  partition); an abort discards them
  (L{kafkatwist.groups.txn_offsets});
* below v5 the group's ``__consumer_offsets`` partition must be in the
  producer's transaction (AddOffsetsToTxn): otherwise INVALID_TXN_STATE
  (v4: TRANSACTION_ABORTABLE); not checked when
  ``transaction.partition.verification.enable`` is false. v5 is transaction
  version 2 (KIP-890 part 2): the partition is added implicitly
  (L{kafkatwist.transactions.service.TransactionService.ensure_partitions});
  another producer id: INVALID_PRODUCER_ID_MAPPING; another epoch:
  INVALID_PRODUCER_EPOCH;
* KIP-447: v3+ ``generation_id``, ``member_id`` and ``group_instance_id``
  are checked against the group when given (ILLEGAL_GENERATION,
  UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID); an unknown group with a
  generation is ILLEGAL_GENERATION;
* a topic that does not exist: UNKNOWN_TOPIC_OR_PARTITION for its
  partitions; metadata over ``offset.metadata.max.bytes``:
  OFFSET_METADATA_TOO_LARGE;
* NOT_COORDINATOR when the group is not coordinated here;
  COORDINATOR_LOAD_IN_PROGRESS while either coordinator loads, for the
  partitions that pass the checks below;
* authorization first (Kafka's ``KafkaApis.handleTxnOffsetCommitRequest``):
  WRITE on the transactional id (else TRANSACTIONAL_ID_AUTHORIZATION_FAILED
  for every partition), READ on the group (else GROUP_AUTHORIZATION_FAILED
  for every partition), then READ on each topic (else
  TOPIC_AUTHORIZATION_FAILED for its partitions, before its existence).

Version notes:
* v2+: committed leader epoch; v3+: flexible, generation id, member id and
  group instance id (KIP-447); v4: TRANSACTION_ABORTABLE (KIP-890); v5:
  transaction version 2, the same body (KIP-890 part 2).
"""

from __future__ import annotations

from kafkatwist.apis._authz import filter_authorized, require
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.apis._txn import TopicPartition, by_topic, partition_verification_enabled
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.groups.offsets import OffsetCommitPartition
from kafkatwist.groups.records import OFFSETS_TOPIC
from kafkatwist.messages.txn_offset_commit import (
    TxnOffsetCommitRequest,
    TxnOffsetCommitResponse,
    TxnOffsetCommitResponsePartition,
    TxnOffsetCommitResponseTopic,
)
from kafkatwist.security.acl import AclOperation, ResourceType
from kafkatwist.wire.versions import VersionRange

#: Verification errors as a producer of transaction version 1 sees them.
_VERIFY_ERRORS = {
    ErrorCode.PRODUCER_FENCED: ErrorCode.INVALID_PRODUCER_EPOCH,
}


def _response(codes: dict[TopicPartition, ErrorCode]) -> TxnOffsetCommitResponse:
    return TxnOffsetCommitResponse(
        throttle_time_ms=0,
        topics=tuple(
            TxnOffsetCommitResponseTopic(
                name=topic,
                partitions=tuple(
                    TxnOffsetCommitResponsePartition(partition_index=p, error_code=c)
                    for p, c in parts
                ),
            )
            for topic, parts in by_topic(codes)
        ),
    )


#: The first TxnOffsetCommit version of transaction version 2 (KIP-890 part 2).
TV2_TXN_OFFSET_COMMIT_VERSION = 5


async def _in_transaction(ctx: RequestContext, request: TxnOffsetCommitRequest) -> ErrorCode:
    """
    Whether the group's partition is in the producer's transaction (added for TV2).

    Kafka's C{CoordinatorPartitionWriter.maybeStartTransactionVerification}:
    v5+ adds the partition; below, it is verified unless
    ``transaction.partition.verification.enable`` is false.
    """
    add = ctx.api_version >= TV2_TXN_OFFSET_COMMIT_VERSION
    if not add and not partition_verification_enabled(ctx.broker.configs):
        return ErrorCode.NONE
    groups = ctx.broker.groups
    try:
        await groups.ensure_offsets_topic()
    except KafkaError as e:
        return e.code
    partition = (OFFSETS_TOPIC, groups.partition_for(request.group_id))
    codes = await ctx.broker.transactions.ensure_partitions(
        request.transactional_id,
        request.producer_id,
        request.producer_epoch,
        [partition],
        add,
    )
    code = codes[partition]
    if code == ErrorCode.TRANSACTION_ABORTABLE and ctx.api_version < 4:
        return ErrorCode.INVALID_TXN_STATE
    return _VERIFY_ERRORS.get(code, code)


async def handle(ctx: RequestContext, request: TxnOffsetCommitRequest) -> TxnOffsetCommitResponse:
    require(ctx, AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, request.transactional_id)
    require(ctx, AclOperation.READ, ResourceType.GROUP, request.group_id)
    wanted = [(t.name, p.partition_index) for t in request.topics for p in t.partitions]
    readable = filter_authorized(
        ctx, AclOperation.READ, ResourceType.TOPIC, (t.name for t in request.topics)
    )
    image = ctx.broker.metadata.image
    codes: dict[TopicPartition, ErrorCode] = {}
    partitions = []
    for t in request.topics:
        state = image.topics.get(t.name)
        for p in t.partitions:
            if t.name not in readable:
                codes[(t.name, p.partition_index)] = ErrorCode.TOPIC_AUTHORIZATION_FAILED
                continue
            if state is None or p.partition_index not in state.partitions:
                codes[(t.name, p.partition_index)] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                continue
            partitions.append(
                OffsetCommitPartition(
                    topic=t.name,
                    partition=p.partition_index,
                    offset=p.committed_offset,
                    leader_epoch=p.committed_leader_epoch,
                    metadata=p.committed_metadata,
                )
            )
    refused = ctx.broker.groups.error_for(request.group_id)
    if (
        partitions
        and refused is None
        and ctx.broker.transactions.loading_id(request.transactional_id)
    ):
        refused = ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
    if partitions and refused is not None:
        codes.update({(p.topic, p.partition): refused for p in partitions})
    elif partitions:
        code = await _in_transaction(ctx, request)
        if code != ErrorCode.NONE:
            codes.update({(p.topic, p.partition): code for p in partitions})
        else:
            committed = await ctx.broker.groups.txn_offsets.commit(
                request.group_id,
                request.producer_id,
                request.producer_epoch,
                request.generation_id,
                request.member_id,
                request.group_instance_id,
                partitions,
            )
            codes.update(committed)
    return _response({tp: codes[tp] for tp in wanted if tp in codes})


def error_response(
    request: TxnOffsetCommitRequest, version: int, code: ErrorCode
) -> TxnOffsetCommitResponse:
    """The error for every partition."""
    return _response(
        {(t.name, p.partition_index): code for t in request.topics for p in t.partitions}
    )


SPEC = ApiSpec(
    api_key=28,
    versions=VersionRange(0, 5),
    request=TxnOffsetCommitRequest,
    response=TxnOffsetCommitResponse,
    handle=handle,
    error_response=error_response,
)
