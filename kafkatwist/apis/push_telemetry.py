"""PushTelemetry (api key 72): v0 (KIP-714).

Behavior (Kafka's C{ClientMetricsManager.processPushTelemetryRequest}; see
L{kafkatwist.telemetry}), checked in Kafka's order:
* authorization: no ACL is checked, as Kafka's
  C{KafkaApis.handlePushTelemetryRequest};
* the zero or reserved client instance id is INVALID_REQUEST;
* a push after a terminating push is INVALID_REQUEST;
* a push within the push interval of the last one is
  THROTTLING_QUOTA_EXCEEDED, unless a GetTelemetrySubscriptions came
  between them (clients add jitter) or the push is terminating;
* a subscription id that is not the instance's current one (the
  subscriptions changed) is UNKNOWN_SUBSCRIPTION_ID: the client then asks
  for its subscription again;
* a compression type Kafka does not know is UNSUPPORTED_COMPRESSION_TYPE;
* a payload over ``telemetry.max.bytes`` (1048576) is TELEMETRY_TOO_LARGE;
* an accepted payload (OTLP protobuf, compressed as the client chose) is
  counted and handed to the manager's exporter hook as it came.

Version notes:
* v0 is flexible.
"""

from __future__ import annotations

from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.apis._telemetry import client_attributes
from kafkatwist.errors import KafkaError
from kafkatwist.messages.push_telemetry import PushTelemetryRequest, PushTelemetryResponse
from kafkatwist.wire.versions import VersionRange


async def handle(ctx: RequestContext, request: PushTelemetryRequest) -> PushTelemetryResponse:
    try:
        ctx.broker.telemetry.push(
            request.client_instance_id,
            request.subscription_id,
            request.terminating,
            request.compression_type,
            bytes(request.metrics),
            client_attributes(ctx),
            ctx.broker.now_ms(),
        )
    except KafkaError as e:
        return PushTelemetryResponse(error_code=int(e.code))
    return PushTelemetryResponse(error_code=0)


SPEC = ApiSpec(
    api_key=72,
    versions=VersionRange(0, 0),
    request=PushTelemetryRequest,
    response=PushTelemetryResponse,
    handle=handle,
)

__all__ = ["SPEC"]
