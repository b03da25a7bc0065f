"""AddPartitionsToTxn (api key 24): v0-v5.

Behavior (Kafka's ``KafkaApis.handleAddPartitionsToTxnRequest`` and
``TransactionCoordinator.handleAddPartitionsToTransaction``):
* the partitions join the producer's transaction, which becomes Ongoing;
  the transition is written to ``__transaction_state`` before the answer;
  partitions already in the Ongoing transaction answer NONE at once;
* a partition of a topic that does not exist: UNKNOWN_TOPIC_OR_PARTITION,
  and OPERATION_NOT_ATTEMPTED for the others (nothing is added);
* an unknown transactional id or another producer id:
  INVALID_PRODUCER_ID_MAPPING; another epoch: PRODUCER_FENCED
  (INVALID_PRODUCER_EPOCH before v2); a transaction being committed or
  aborted: CONCURRENT_TRANSACTIONS; while ``__transaction_state`` loads:
  COORDINATOR_LOAD_IN_PROGRESS;
* v4+ (sent by brokers, batched by transaction): ``verify_only`` checks
  that the partitions are in the transaction without adding them
  (``handleVerifyPartitionsInTransaction``: TRANSACTION_ABORTABLE for
  those that are not); otherwise they are added as above;
* authorization (Kafka's ``KafkaApis.handleAddPartitionsToTxnRequest``):
  v4+ comes from brokers and needs CLUSTER_ACTION on the cluster, else the
  whole request is CLUSTER_AUTHORIZATION_FAILED (a top-level code only, as
  Kafka's error response); below v4 (clients) WRITE on the transactional id,
  else TRANSACTIONAL_ID_AUTHORIZATION_FAILED for every partition, then
  WRITE on each topic, else TOPIC_AUTHORIZATION_FAILED for its partitions
  (an internal topic is always refused), checked before the topics'
  existence; then nothing is added and the other partitions answer
  OPERATION_NOT_ATTEMPTED.

Version notes:
* v2+: PRODUCER_FENCED; v3+: flexible; v4+: batched transactions, verify
  only, a top-level error code; v5: TRANSACTION_ABORTABLE (KIP-890).
"""

from __future__ import annotations

from collections.abc import Sequence

from kafkatwist.apis._authz import filter_authorized, require_cluster
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.apis._txn import TopicPartition, by_topic, flatten, for_version
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.add_partitions_to_txn import (
    AddPartitionsToTxnPartitionResult,
    AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse,
    AddPartitionsToTxnResult,
    AddPartitionsToTxnTopic,
    AddPartitionsToTxnTopicResult,
)
from kafkatwist.security.acl import AclOperation, ResourceType
from kafkatwist.storage.metadata_image import INTERNAL_TOPICS
from kafkatwist.wire.versions import VersionRange


def _results(codes: dict[TopicPartition, ErrorCode]) -> tuple[AddPartitionsToTxnTopicResult, ...]:
    return tuple(
        AddPartitionsToTxnTopicResult(
            name=topic,
            results_by_partition=tuple(
                AddPartitionsToTxnPartitionResult(partition_index=p, partition_error_code=c)
                for p, c in parts
            ),
        )
        for topic, parts in by_topic(codes)
    )


async def _add(
    ctx: RequestContext,
    transactional_id: str,
    producer_id: int,
    producer_epoch: int,
    topics: Sequence[AddPartitionsToTxnTopic],
    verify_only: bool,
) -> dict[TopicPartition, ErrorCode]:
    """One transaction's partitions: an error for each."""
    partitions = flatten((t.name, t.partitions) for t in topics)
    coordinator = ctx.broker.transactions.coordinator
    if verify_only:
        return coordinator.verify_partitions(
            transactional_id, producer_id, producer_epoch, partitions
        )
    refused = _refused(ctx, transactional_id, partitions)
    if refused is None:
        return dict.fromkeys(partitions, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    image = ctx.broker.metadata.image
    failed = {
        (t, p): ErrorCode.TOPIC_AUTHORIZATION_FAILED
        if t in refused
        else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        for t, p in partitions
        if t in refused or (state := image.topics.get(t)) is None or p not in state.partitions
    }
    if failed:
        return {tp: failed.get(tp, ErrorCode.OPERATION_NOT_ATTEMPTED) for tp in partitions}
    code = await coordinator.add_partitions(
        transactional_id, producer_id, producer_epoch, partitions
    )
    code = for_version(code, ctx.api_version, 2)
    return dict.fromkeys(partitions, code)


def _refused(
    ctx: RequestContext, transactional_id: str, partitions: Sequence[TopicPartition]
) -> set[str] | None:
    """
    Below v4: None without WRITE on the transactional id, else the topics
    without WRITE (internal ones included).
    v4+ (brokers, authorized for the cluster already): nothing is refused.
    """
    if ctx.api_version >= 4:
        return set()
    if not ctx.authorize(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, transactional_id):
        return None
    topics = {t for t, _ in partitions}
    external = topics - INTERNAL_TOPICS
    return topics - filter_authorized(ctx, AclOperation.WRITE, ResourceType.TOPIC, external)


async def handle(
    ctx: RequestContext, request: AddPartitionsToTxnRequest
) -> AddPartitionsToTxnResponse:
    if ctx.api_version >= 4:
        require_cluster(ctx, AclOperation.CLUSTER_ACTION)
    if ctx.api_version < 4:
        codes = await _add(
            ctx,
            request.v3_and_below_transactional_id,
            request.v3_and_below_producer_id,
            request.v3_and_below_producer_epoch,
            request.v3_and_below_topics,
            False,
        )
        return AddPartitionsToTxnResponse(
            throttle_time_ms=0, results_by_topic_v3_and_below=_results(codes)
        )
    results = []
    for txn in request.transactions:
        codes = await _add(
            ctx,
            txn.transactional_id,
            txn.producer_id,
            txn.producer_epoch,
            txn.topics,
            txn.verify_only,
        )
        results.append(
            AddPartitionsToTxnResult(
                transactional_id=txn.transactional_id, topic_results=_results(codes)
            )
        )
    return AddPartitionsToTxnResponse(
        throttle_time_ms=0, error_code=0, results_by_transaction=tuple(results)
    )


def _all(
    topics: Sequence[AddPartitionsToTxnTopic], code: ErrorCode
) -> tuple[AddPartitionsToTxnTopicResult, ...]:
    return _results(dict.fromkeys(flatten((t.name, t.partitions) for t in topics), code))


def error_response(
    request: AddPartitionsToTxnRequest, version: int, code: ErrorCode
) -> AddPartitionsToTxnResponse:
    """The error for every partition; v4+: only at the top (Kafka's ``getErrorResponse``)."""
    if version < 4:
        return AddPartitionsToTxnResponse(
            results_by_topic_v3_and_below=_all(request.v3_and_below_topics, code)
        )
    return AddPartitionsToTxnResponse(error_code=int(code))


SPEC = ApiSpec(
    api_key=24,
    versions=VersionRange(0, 5),
    request=AddPartitionsToTxnRequest,
    response=AddPartitionsToTxnResponse,
    handle=handle,
    error_response=error_response,
)
