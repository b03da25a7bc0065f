"""DescribeTransactions (api key 65): v0.

Behavior (Kafka's ``TransactionCoordinator.handleDescribeTransactions``):
each transactional id gets its state name (``Empty``, ``Ongoing``,
``PrepareCommit``...), timeout, start time, producer id and epoch and the
partitions of its transaction; an unknown (or expiring) id:
TRANSACTIONAL_ID_NOT_FOUND; an empty one: INVALID_REQUEST; while
``__transaction_state`` loads: COORDINATOR_LOAD_IN_PROGRESS.

Authorization (Kafka's ``KafkaApis.handleDescribeTransactionsRequest``):
DESCRIBE on each transactional id, else TRANSACTIONAL_ID_AUTHORIZATION_FAILED
for it; the partitions of topics the principal may not DESCRIBE are left
out of a described transaction.
"""

from __future__ import annotations

from kafkatwist.apis._authz import filter_authorized
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.describe_transactions import (
    DescribeTransactionsRequest,
    DescribeTransactionsResponse,
    TopicData,
    TransactionState,
)
from kafkatwist.security.acl import AclOperation, ResourceType
from kafkatwist.wire.versions import VersionRange


def _describe(ctx: RequestContext, transactional_id: str) -> TransactionState:
    if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.TRANSACTIONAL_ID, transactional_id):
        return TransactionState(
            error_code=int(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED),
            transactional_id=transactional_id,
        )
    code, txn = ctx.broker.transactions.describe(transactional_id)
    if txn is None:
        return TransactionState(error_code=int(code), transactional_id=transactional_id)
    visible = filter_authorized(
        ctx, AclOperation.DESCRIBE, ResourceType.TOPIC, (t for t, _ in txn.partitions)
    )
    by_topic: dict[str, list[int]] = {}
    for topic, p in sorted(txn.partitions):
        if topic in visible:
            by_topic.setdefault(topic, []).append(p)
    return TransactionState(
        error_code=0,
        transactional_id=transactional_id,
        transaction_state=txn.state.kafka_name,
        transaction_timeout_ms=txn.timeout_ms,
        transaction_start_time_ms=txn.start_ms,
        producer_id=txn.producer_id,
        producer_epoch=txn.producer_epoch,
        topics=tuple(TopicData(topic=t, partitions=tuple(ps)) for t, ps in by_topic.items()),
    )


async def handle(
    ctx: RequestContext, request: DescribeTransactionsRequest
) -> DescribeTransactionsResponse:
    return DescribeTransactionsResponse(
        throttle_time_ms=0,
        transaction_states=tuple(_describe(ctx, t) for t in request.transactional_ids),
    )


def error_response(
    request: DescribeTransactionsRequest, version: int, code: ErrorCode
) -> DescribeTransactionsResponse:
    """The error for every id."""
    return DescribeTransactionsResponse(
        transaction_states=tuple(
            TransactionState(error_code=int(code), transactional_id=t)
            for t in request.transactional_ids
        )
    )


SPEC = ApiSpec(
    api_key=65,
    versions=VersionRange(0, 0),
    request=DescribeTransactionsRequest,
    response=DescribeTransactionsResponse,
    handle=handle,
    error_response=error_response,
)
