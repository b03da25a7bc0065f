"""EndTxn (api key 26): v0-v5.

Behavior (Kafka's ``TransactionCoordinator.endTransaction``):
* commit or abort the producer's Ongoing transaction: PrepareCommit or
  PrepareAbort is written to ``__transaction_state`` and then the answer
  goes out; the markers are written to every partition of the transaction
  and CompleteCommit/CompleteAbort last;
* a retry of an EndTxn already done answers NONE; one still writing its
  markers answers CONCURRENT_TRANSACTIONS; the other outcome than the one
  under way, or no transaction: INVALID_TXN_STATE;
* an unknown transactional id or another producer id:
  INVALID_PRODUCER_ID_MAPPING; another epoch: PRODUCER_FENCED
  (INVALID_PRODUCER_EPOCH before v2);
* v5 (KIP-890, transaction version 2): the epoch is bumped by every
  EndTxn and the answer carries the producer id and epoch to go on with
  (a new producer id at epoch 0 when the epochs are exhausted);
* WRITE on the transactional id, else TRANSACTIONAL_ID_AUTHORIZATION_FAILED
  (Kafka's ``KafkaApis.handleEndTxnRequest``).

Version notes:
* v2+: PRODUCER_FENCED; v3+: flexible; v4: TRANSACTION_ABORTABLE;
  v5: producer id and epoch in the response, epoch bump (KIP-890).
"""

from __future__ import annotations

from kafkatwist.apis._authz import require
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.apis._txn import for_version
from kafkatwist.messages.end_txn import EndTxnRequest, EndTxnResponse
from kafkatwist.security.acl import AclOperation, ResourceType
from kafkatwist.transactions.metadata import TV_0, TV_2
from kafkatwist.wire.versions import VersionRange


async def handle(ctx: RequestContext, request: EndTxnRequest) -> EndTxnResponse:
    require(ctx, AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, request.transactional_id)
    version = ctx.api_version
    code, pid, epoch = await ctx.broker.transactions.coordinator.end_transaction(
        request.transactional_id,
        request.producer_id,
        request.producer_epoch,
        commit=request.committed,
        client_version=TV_2 if version >= 5 else TV_0,
    )
    return EndTxnResponse(
        throttle_time_ms=0,
        error_code=int(for_version(code, version, 2)),
        producer_id=pid,
        producer_epoch=epoch,
    )


SPEC = ApiSpec(
    api_key=26,
    versions=VersionRange(0, 5),
    request=EndTxnRequest,
    response=EndTxnResponse,
    handle=handle,
)
