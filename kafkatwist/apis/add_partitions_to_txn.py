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
  those that are not); otherwise they are added as above.

Version notes:
* v2+: PRODUCER_FENCED; v3+: flexible; v4+: batched transactions, verify
  only, a top-level error code; v5: TRANSACTION_ABORTABLE (KIP-890).
"""

from __future__ import annotations

from collections.abc import Sequence

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
    AddPartitionsToTxnTransaction,
)
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
    image = ctx.broker.metadata.image
    missing = {
        (t, p)
        for t, p in partitions
        if (state := image.topics.get(t)) is None or p not in state.partitions
    }
    if missing:
        return {
            tp: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            if tp in missing
            else ErrorCode.OPERATION_NOT_ATTEMPTED
            for tp in partitions
        }
    code = await coordinator.add_partitions(
        transactional_id, producer_id, producer_epoch, partitions
    )
    code = for_version(code, ctx.api_version, 2)
    return dict.fromkeys(partitions, code)


async def handle(
    ctx: RequestContext, request: AddPartitionsToTxnRequest
) -> AddPartitionsToTxnResponse:
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
    """The error for every partition (v4+: also at the top)."""
    if version < 4:
        return AddPartitionsToTxnResponse(
            results_by_topic_v3_and_below=_all(request.v3_and_below_topics, code)
        )
    txns: Sequence[AddPartitionsToTxnTransaction] = request.transactions
    return AddPartitionsToTxnResponse(
        error_code=int(code),
        results_by_transaction=tuple(
            AddPartitionsToTxnResult(
                transactional_id=t.transactional_id, topic_results=_all(t.topics, code)
            )
            for t in txns
        ),
    )


SPEC = ApiSpec(
    api_key=24,
    versions=VersionRange(0, 5),
    request=AddPartitionsToTxnRequest,
    response=AddPartitionsToTxnResponse,
    handle=handle,
    error_response=error_response,
)
