"""The consumer group protocol (KIP-848): ConsumerGroupHeartbeat, reconciliation, records."""

from __future__ import annotations

__all__ = [
    "coordinator",
    "describe",
    "group",
    "member",
    "reconcile",
    "records",
    "regex",
    "replay",
    "target",
    "timers",
    "validation",
]
