"""The request quota (C{request_percentage}): the handler time a request took, and its throttle.

Kafka charges each request the time its request handler thread spent on it
(C{RequestChannel.Request.requestThreadTimeNanos}: from dequeue to the
response, or to the end of the first pass for a request parked in a
purgatory) as a percentage of one second per second
(C{ClientRequestQuotaManager.nanosToPercentage}). Here the reactor thread
is the request thread: L{kafkatwist.clock.HandlingTimer} adds up the time spent in each step
of the handler's coroutine, between its waits (a long-poll Fetch parked, a
JoinGroup waiting for its rebalance, a disk read in the thread pool), so a
request is charged only the time it kept the reactor busy.

Over the quota, the throttle is at most one window
(C{QuotaUtils.boundedThrottleTime}); it goes into the response's
C{throttle_time_ms} (when its version has the field) and mutes the
connection that long (KIP-219), as Kafka's C{sendResponseMaybeThrottle}.
"""

from __future__ import annotations

from functools import cache
from typing import TypeVar

import attrs

from kafkatwist.apis._spec import RequestContext
from kafkatwist.wire.schema import field_specs
from kafkatwist.wire.versions import VersionRange

_T = TypeVar("_T")


def request_throttle(ctx: RequestContext) -> int:
    """
    Charge the request's handler time to its client's C{request_percentage}; the throttle (ms).

    Nothing is recorded while no request quota exists; a request is charged once.
    """
    if ctx.request_time_charged:
        return 0
    ctx.request_time_charged = True
    quota = ctx.broker.quotas.request
    if not quota.enabled or ctx.timer is None:
        return 0
    percent = ctx.timer.elapsed() * 100.0
    return quota.record(ctx.user, ctx.client_id, percent, ctx.broker.now_ms())


@cache
def _throttle_versions(response_cls: type) -> VersionRange | None:
    for a, spec in field_specs(response_cls):
        if a.name == "throttle_time_ms":
            return spec.versions
    return None


def with_throttle(response: _T, version: int, throttle_ms: int) -> _T:
    """C{response} with C{throttle_time_ms} raised to C{throttle_ms}, when its version has it."""
    cls: type = type(response)
    versions = _throttle_versions(cls)
    if versions is None or version not in versions:
        return response
    current: int = getattr(response, "throttle_time_ms")  # noqa: B009 (a field found above)
    if current >= throttle_ms:
        return response
    return attrs.evolve(response, throttle_time_ms=throttle_ms)  # type: ignore[misc]


__all__ = ["request_throttle", "with_throttle"]
