"""The group coordinator: classic groups and their offsets, kept in ``__consumer_offsets``."""

from __future__ import annotations

__all__ = [
    "admin",
    "coordinator",
    "loader",
    "membership",
    "offsets",
    "offsets_topic",
    "rebalance",
    "records",
    "state",
]
