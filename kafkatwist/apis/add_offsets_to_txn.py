"""AddOffsetsToTxn (api key 25): v0-v4.

Behavior (Kafka's ``KafkaApis.handleAddOffsetsToTxnRequest``):
* the group's ``__consumer_offsets`` partition joins the producer's
  transaction as AddPartitionsToTxn would add it (written to
  ``__transaction_state`` before the answer), so that the transaction's
  markers also end the offsets TxnOffsetCommit writes there;
  ``__consumer_offsets`` is created first if it does not exist;
* errors as AddPartitionsToTxn: INVALID_PRODUCER_ID_MAPPING,
  PRODUCER_FENCED (INVALID_PRODUCER_EPOCH before v2),
  CONCURRENT_TRANSACTIONS, COORDINATOR_LOAD_IN_PROGRESS;
* authorization first: WRITE on the transactional id (else
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED), then READ on the group (else
  GROUP_AUTHORIZATION_FAILED).

Version notes:
* v2+: PRODUCER_FENCED; v3+: flexible; v4: TRANSACTION_ABORTABLE (KIP-890).
"""

from __future__ import annotations

from kafkatwist.apis._authz import require
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.apis._txn import for_version
from kafkatwist.errors import KafkaError
from kafkatwist.groups.records import OFFSETS_TOPIC
from kafkatwist.messages.add_offsets_to_txn import AddOffsetsToTxnRequest, AddOffsetsToTxnResponse
from kafkatwist.security.acl import AclOperation, ResourceType
from kafkatwist.wire.versions import VersionRange


async def handle(ctx: RequestContext, request: AddOffsetsToTxnRequest) -> AddOffsetsToTxnResponse:
    require(ctx, AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, request.transactional_id)
    require(ctx, AclOperation.READ, ResourceType.GROUP, request.group_id)
    groups = ctx.broker.groups
    try:
        await groups.ensure_offsets_topic()
    except KafkaError as e:
        return AddOffsetsToTxnResponse(throttle_time_ms=0, error_code=int(e.code))
    partition = (OFFSETS_TOPIC, groups.partition_for(request.group_id))
    code = await ctx.broker.transactions.coordinator.add_partitions(
        request.transactional_id, request.producer_id, request.producer_epoch, [partition]
    )
    code = for_version(code, ctx.api_version, 2)
    return AddOffsetsToTxnResponse(throttle_time_ms=0, error_code=int(code))


SPEC = ApiSpec(
    api_key=25,
    versions=VersionRange(0, 4),
    request=AddOffsetsToTxnRequest,
    response=AddOffsetsToTxnResponse,
    handle=handle,
)
