"""The consumer group protocol (KIP-848): ConsumerGroupHeartbeat, reconciliation, records."""

from __future__ import annotations

__all__ = [
    "classic_members",
    "conversion",
    "coordinator",
    "describe",
    "embedded",
    "group",
    "lookup",
    "member",
    "migration",
    "reconcile",
    "records",
    "regex",
    "replay",
    "target",
    "timers",
    "validation",
]
