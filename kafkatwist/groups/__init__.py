"""The group coordinator: classic groups and their offsets, kept in ``__consumer_offsets``."""

from __future__ import annotations

__all__ = ["coordinator", "records", "state"]
