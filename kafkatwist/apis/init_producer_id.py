"""InitProducerId (api key 22): v0-v5, idempotent producers only.

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
* any other transactional id: TRANSACTIONAL_ID_AUTHORIZATION_FAILED. There is
  no transaction coordinator here; Kafka answers this code when the client
  may not use a transactional id, and clients treat it as fatal, so
  ``init_transactions()`` fails at once with a clear error instead of
  retrying COORDINATOR_NOT_AVAILABLE until its timeout;
* errors carry producer id -1 and epoch -1 (Kafka's ``initTransactionError``).

Version notes:
* v2+: flexible; v3+: producer id and epoch in the request (KIP-360);
  v4+ and v5 change only transactional behaviour (PRODUCER_FENCED, KIP-890).
"""

from __future__ import annotations

from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages.init_producer_id import InitProducerIdRequest, InitProducerIdResponse
from kafkatwist.wire.versions import VersionRange

NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1


async def handle(ctx: RequestContext, request: InitProducerIdRequest) -> InitProducerIdResponse:
    transactional_id = request.transactional_id
    if transactional_id:
        raise KafkaError(
            ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
            "transactions are not supported by this broker",
        )
    if (request.producer_id == NO_PRODUCER_ID) != (request.producer_epoch == NO_PRODUCER_EPOCH):
        raise KafkaError(
            ErrorCode.INVALID_REQUEST, "producer id and epoch must both be set or unset"
        )
    if transactional_id is not None:
        raise KafkaError(ErrorCode.INVALID_REQUEST, "empty transactional id")
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
