"""InitProducerId (api key 22): v0-v5.

Behavior:
* without a transactional id: a new producer id with epoch 0, always. This is
  Kafka's ``TransactionCoordinator.handleInitProducerId`` ("if the
  transactional id is null, then always blindly accept the request and
  return a new producerId"): an idempotent producer's v3+ producer id and
  epoch are not looked at (the Java client and librdkafka bump an
  idempotent producer's epoch themselves, KIP-360), so there is nothing to
  answer INVALID_PRODUCER_EPOCH or PRODUCER_FENCED about;
* ids come from blocks of 1000 recorded as ``ProducerIdsRecord`` in the KRaft
  metadata log (L{kafkatwist.producers.ids}), so none is reused after a
  restart;
* v3+: a producer id without an epoch, or an epoch without a producer id:
  INVALID_REQUEST (Kafka's ``KafkaApis.handleInitProducerIdRequest``);
* an empty transactional id: INVALID_REQUEST, as Kafka;
* any other transactional id goes to the transaction coordinator
  (L{kafkatwist.transactions.coordinator}): a timeout above
  ``transaction.max.timeout.ms`` is INVALID_TRANSACTION_TIMEOUT; the id's
  producer id is allocated on first use and its epoch bumped at every
  call, which fences the previous instance; an ongoing transaction of the
  id is aborted first (CONCURRENT_TRANSACTIONS until it is, the client
  retries); a v3+ request with the producer id and epoch it had (KIP-360)
  gets the next epoch, or PRODUCER_FENCED when they are not the id's;
  exhausted epochs give a new producer id;
* errors carry producer id -1 and epoch -1 (Kafka's ``initTransactionError``);
* authorization comes first (Kafka's ``KafkaApis.handleInitProducerIdRequest``):
  a transactional id needs WRITE on it (else
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED); an idempotent producer needs
  IDEMPOTENT_WRITE on the cluster or WRITE on some topic (KIP-679,
  ``authorizeByResourceType``), else CLUSTER_AUTHORIZATION_FAILED.

Version notes:
* v2+: flexible; v3+: producer id and epoch in the request (KIP-360);
  v4+: PRODUCER_FENCED (older versions get INVALID_PRODUCER_EPOCH instead).
* v5: the same body (KIP-890 added TRANSACTION_ABORTABLE to its errors).
* v6 (KIP-939 two-phase commit: ``enable_2pc``, ``keep_prepared_txn``, the
  ongoing transaction's producer id and epoch in the answer) is not served:
  Kafka 4.3's schema marks it ``latestVersionUnstable`` and a Kafka broker
  advertises it only with ``unstable.api.versions.enable``, so no released
  client sends it.
"""

from __future__ import annotations

from kafkatwist.apis._authz import authorize_cluster, require
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages.init_producer_id import InitProducerIdRequest, InitProducerIdResponse
from kafkatwist.security.acl import AclOperation, ResourceType
from kafkatwist.wire.versions import VersionRange

NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1


async def handle(ctx: RequestContext, request: InitProducerIdRequest) -> InitProducerIdResponse:
    transactional_id = request.transactional_id
    if transactional_id is not None:
        require(ctx, AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, transactional_id)
    elif not authorize_cluster(
        ctx, AclOperation.IDEMPOTENT_WRITE
    ) and not ctx.authorize_by_resource_type(AclOperation.WRITE, ResourceType.TOPIC):
        raise KafkaError(ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
    if (request.producer_id == NO_PRODUCER_ID) != (request.producer_epoch == NO_PRODUCER_EPOCH):
        raise KafkaError(
            ErrorCode.INVALID_REQUEST, "producer id and epoch must both be set or unset"
        )
    if transactional_id is not None:
        if not transactional_id:
            raise KafkaError(ErrorCode.INVALID_REQUEST, "empty transactional id")
        expected = None
        if request.producer_id != NO_PRODUCER_ID:
            expected = (request.producer_id, request.producer_epoch)
        code, pid, epoch = await ctx.broker.transactions.coordinator.init_producer_id(
            transactional_id, request.transaction_timeout_ms, expected
        )
        if code == ErrorCode.PRODUCER_FENCED and ctx.api_version < 4:
            code = ErrorCode.INVALID_PRODUCER_EPOCH
        return InitProducerIdResponse(
            throttle_time_ms=0, error_code=int(code), producer_id=pid, producer_epoch=epoch
        )
    producer_id = await ctx.broker.producer_ids.allocate()
    return InitProducerIdResponse(
        throttle_time_ms=0,
        error_code=int(ErrorCode.NONE),
        producer_id=producer_id,
        producer_epoch=0,
    )


def error_response(
    request: InitProducerIdRequest, version: int, code: ErrorCode
) -> InitProducerIdResponse:
    return InitProducerIdResponse(
        throttle_time_ms=0,
        error_code=int(code),
        producer_id=NO_PRODUCER_ID,
        producer_epoch=NO_PRODUCER_EPOCH,
    )


SPEC = ApiSpec(
    api_key=22,
    versions=VersionRange(0, 5),
    request=InitProducerIdRequest,
    response=InitProducerIdResponse,
    handle=handle,
    error_response=error_response,
)
