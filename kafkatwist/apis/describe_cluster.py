"""DescribeCluster (api key 60): v0-v2.

Behavior:
* the live brokers of the cluster (C{broker.cluster}), by node id, with
  their racks: this broker at the address a client reaches it by (its
  advertised listener, or the address the client connected to), the others
  at their registered endpoint for the request's listener; the cluster id
  is the one in ``meta.properties``;
* the controller id is the cluster's: a KRaft broker answers with a live
  broker's id (KIP-919);
* no ACL is needed; ``include_cluster_authorized_operations`` (KIP-430): the
  bit field of the cluster operations (CREATE, ALTER, DESCRIBE,
  CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE) the
  principal may do, every one without an authorizer, 0 without DESCRIBE on
  the cluster (Kafka's C{AuthHelper.computeDescribeClusterResponse});
  otherwise the schema default (INT32 min);
* ``endpoint_type`` (v1+): 1 (brokers) is answered; 2 (controllers) →
  MISMATCHED_ENDPOINT_TYPE, as Kafka's broker listener says; anything else →
  UNSUPPORTED_ENDPOINT_TYPE (INVALID_REQUEST at v0, where it cannot be sent);
  error answers carry a message and otherwise the schema defaults;
* v2+: the brokers are described with ``is_fenced`` false: they are live;
  ``include_fenced_brokers`` (KIP-1073) would add the fenced brokers: the
  cluster knows only live brokers (a broker whose lease expired is gone,
  where Kafka's controller would keep it fenced), so it adds none.

Version notes:
* v0+: flexible; v1+: endpoint type (KIP-919); v2+: fenced brokers (KIP-1073).
"""

from __future__ import annotations

from kafkatwist.apis._authz import cluster_authorized_operations
from kafkatwist.apis._cluster import live_nodes
from kafkatwist.apis._spec import ApiSpec, RequestContext
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.describe_cluster import (
    DescribeClusterBroker,
    DescribeClusterRequest,
    DescribeClusterResponse,
)
from kafkatwist.wire.versions import VersionRange

BROKER_ENDPOINT = 1
CONTROLLER_ENDPOINT = 2
_ENDPOINT_NAMES = {BROKER_ENDPOINT: "BROKER", CONTROLLER_ENDPOINT: "CONTROLLER"}


def _refuse(ctx: RequestContext, code: ErrorCode, message: str) -> DescribeClusterResponse:
    if ctx.api_version == 0:
        code = ErrorCode.INVALID_REQUEST
    return DescribeClusterResponse(error_code=int(code), error_message=message)


async def handle(ctx: RequestContext, request: DescribeClusterRequest) -> DescribeClusterResponse:
    endpoint = request.endpoint_type
    if endpoint not in _ENDPOINT_NAMES:
        return _refuse(
            ctx, ErrorCode.UNSUPPORTED_ENDPOINT_TYPE, f"Unsupported endpoint type {endpoint}"
        )
    if endpoint != BROKER_ENDPOINT:
        return _refuse(
            ctx,
            ErrorCode.MISMATCHED_ENDPOINT_TYPE,
            "The request was sent to an endpoint of type BROKER, but we wanted an endpoint "
            f"of type {_ENDPOINT_NAMES[endpoint]}",
        )
    broker = ctx.broker
    return DescribeClusterResponse(
        error_code=0,
        endpoint_type=BROKER_ENDPOINT,
        cluster_id=broker.cluster_id,
        controller_id=broker.cluster.controller_id,
        brokers=tuple(
            DescribeClusterBroker(
                broker_id=n.node_id, host=n.host, port=n.port, rack=n.rack, is_fenced=False
            )
            for n in live_nodes(ctx)
        ),
        cluster_authorized_operations=cluster_authorized_operations(
            ctx, request.include_cluster_authorized_operations
        ),
    )


def error_response(
    request: DescribeClusterRequest, version: int, code: ErrorCode
) -> DescribeClusterResponse:
    return DescribeClusterResponse(error_code=int(code))


SPEC = ApiSpec(
    api_key=60,
    versions=VersionRange(0, 2),
    request=DescribeClusterRequest,
    response=DescribeClusterResponse,
    handle=handle,
    error_response=error_response,
    unused_fields={
        "DescribeClusterRequest.include_fenced_brokers": "asks for the fenced brokers too "
        "(KIP-1073); the cluster knows only live brokers",
    },
)

__all__ = ["SPEC"]
