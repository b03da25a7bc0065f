"""GetTelemetrySubscriptions (api key 71): v0 (KIP-714).

Behavior (Kafka's C{ClientMetricsManager.processGetTelemetrySubscriptionRequest};
see L{kafkatwist.telemetry}):
* authorization: no ACL is checked, as Kafka's
  C{KafkaApis.handleGetTelemetrySubscriptionsRequest};
* the zero client instance id gets a new id, any other is kept;
* the answer is the instance's subscription: its id, the metrics the
  matching CLIENT_METRICS subscriptions request (none when no subscription
  matches: the client then pushes nothing), the push interval (300000 ms
  with none), the accepted compression types (zstd, lz4, gzip, snappy),
  ``telemetry.max.bytes`` (1048576, Kafka's default) and delta temporality;
* asked again within the push interval: THROTTLING_QUOTA_EXCEEDED, with the
  rest of the answer at its defaults (Kafka's C{getErrorResponse}); a
  change of the subscriptions answers at once.

Kafka serves the telemetry APIs only when a metrics reporter implementing
C{ClientTelemetry} is configured; kafkatwist always has its receiver (the
manager counts the payloads for an exporter to come), so it always serves them.

Version notes:
* v0 is flexible.
"""

from __future__ import annotations

from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.apis._telemetry import client_attributes
from kafkatwist.errors import KafkaError
from kafkatwist.messages.get_telemetry_subscriptions import (
    GetTelemetrySubscriptionsRequest,
    GetTelemetrySubscriptionsResponse,
)
from kafkatwist.telemetry import ACCEPTED_COMPRESSION_TYPES
from kafkatwist.wire.versions import VersionRange


async def handle(
    ctx: RequestContext, request: GetTelemetrySubscriptionsRequest
) -> GetTelemetrySubscriptionsResponse:
    manager = ctx.broker.telemetry
    try:
        instance_id, instance = manager.get_subscriptions(
            request.client_instance_id, client_attributes(ctx), ctx.broker.now_ms()
        )
    except KafkaError as e:
        return GetTelemetrySubscriptionsResponse(error_code=int(e.code))
    return GetTelemetrySubscriptionsResponse(
        error_code=0,
        client_instance_id=instance_id,
        subscription_id=instance.subscription_id,
        accepted_compression_types=ACCEPTED_COMPRESSION_TYPES,
        push_interval_ms=instance.push_interval_ms,
        telemetry_max_bytes=manager.max_bytes,
        delta_temporality=True,
        requested_metrics=tuple(sorted(instance.metrics)),
    )


SPEC = ApiSpec(
    api_key=71,
    versions=VersionRange(0, 0),
    request=GetTelemetrySubscriptionsRequest,
    response=GetTelemetrySubscriptionsResponse,
    handle=handle,
)

__all__ = ["SPEC"]
