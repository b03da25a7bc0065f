"""ListTransactions (api key 66): v0-v2.

Behavior (Kafka's ``TransactionStateManager.listTransactionStates``): every
transactional id with its producer id and state name, filtered by state
names (unknown names are listed in ``unknown_state_filters``), by producer
ids and (v1, KIP-994) by duration: only transactions running longer than
``duration_filter`` ms, and (v2, KIP-1152) by a regular expression the
whole transactional id must match (``transactional_id_pattern``; null or
empty: every id; one that does not compile: INVALID_REGULAR_EXPRESSION);
COORDINATOR_LOAD_IN_PROGRESS while ``__transaction_state`` loads. Only the
transactional ids the principal may DESCRIBE are listed (Kafka's
``KafkaApis.handleListTransactionsRequest``).
"""

from __future__ import annotations

from kafkatwist.apis._authz import filter_authorized
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.messages.list_transactions import (
    ListTransactionsRequest,
    ListTransactionsResponse,
    TransactionState,
)
from kafkatwist.security.acl import AclOperation, ResourceType
from kafkatwist.wire.versions import VersionRange


async def handle(ctx: RequestContext, request: ListTransactionsRequest) -> ListTransactionsResponse:
    duration = request.duration_filter if ctx.api_version >= 1 else -1
    pattern = request.transactional_id_pattern if ctx.api_version >= 2 else None
    code, unknown, listed = ctx.broker.transactions.list(
        request.state_filters, set(request.producer_id_filters), duration, pattern
    )
    visible = filter_authorized(
        ctx,
        AclOperation.DESCRIBE,
        ResourceType.TRANSACTIONAL_ID,
        (t.transactional_id for t in listed),
    )
    listed = [t for t in listed if t.transactional_id in visible]
    return ListTransactionsResponse(
        throttle_time_ms=0,
        error_code=int(code),
        unknown_state_filters=tuple(unknown),
        transaction_states=tuple(
            TransactionState(
                transactional_id=t.transactional_id,
                producer_id=t.producer_id,
                transaction_state=t.state,
            )
            for t in sorted(listed, key=lambda t: t.transactional_id)
        ),
    )


SPEC = ApiSpec(
    api_key=66,
    versions=VersionRange(0, 2),
    request=ListTransactionsRequest,
    response=ListTransactionsResponse,
    handle=handle,
)
