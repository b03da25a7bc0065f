"""ListTransactions (api key 66): v0-v1.

Behavior (Kafka's ``TransactionStateManager.listTransactionStates``): every
transactional id with its producer id and state name, filtered by state
names (unknown names are listed in ``unknown_state_filters``), by producer
ids and (v1, KIP-994) by duration: only transactions running longer than
``duration_filter`` ms; COORDINATOR_LOAD_IN_PROGRESS while
``__transaction_state`` loads.
"""

from __future__ import annotations

from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.messages.list_transactions import (
    ListTransactionsRequest,
    ListTransactionsResponse,
    TransactionState,
)
from kafkatwist.wire.versions import VersionRange


async def handle(ctx: RequestContext, request: ListTransactionsRequest) -> ListTransactionsResponse:
    duration = request.duration_filter if ctx.api_version >= 1 else -1
    code, unknown, listed = ctx.broker.transactions.list(
        request.state_filters, set(request.producer_id_filters), duration
    )
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
    versions=VersionRange(0, 1),
    request=ListTransactionsRequest,
    response=ListTransactionsResponse,
    handle=handle,
)
