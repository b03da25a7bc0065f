"""The session, rebalance, join and sync timers of consumer group members.

A consumer-protocol member has a session timer and, while it revokes
partitions, a rebalance timer; a classic-protocol member has a session timer
(its JoinGroup's session timeout), a join timer while it is asked to rejoin
and a sync timer between its JoinGroup and SyncGroup (Kafka's
C{consumerGroupJoinKey} / C{consumerGroupSyncKey}).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from attrs import define, field, frozen

from kafkatwist.clock import DelayedCall, ReactorTime

SESSION = "session"
REBALANCE = "rebalance"
JOIN = "join"
SYNC = "sync"
_KINDS = (SESSION, REBALANCE, JOIN, SYNC)
#: What expired, for the log line of a fenced member.
EXPIRED = {
    SESSION: "session",
    REBALANCE: "rebalance timeout (revocation)",
    JOIN: "rebalance timeout (the classic member did not rejoin)",
    SYNC: "rebalance timeout (the classic member did not sync)",
}

#: Called as (group id, member id, kind, member epoch) when a timer expires.
OnExpiry = Callable[[str, str, str, int], None]


@define(eq=False)
class MemberTimers:
    """One timer per (group, member, kind); scheduling again replaces it."""

    _clock: ReactorTime
    _on_expiry: OnExpiry
    _timers: dict[tuple[str, str, str], DelayedCall] = field(factory=dict, init=False)

    def schedule(
        self, group_id: str, member_id: str, kind: str, timeout_ms: int, epoch: int = 0
    ) -> None:
        """(Re)start the timer; C{epoch} is handed back on expiry."""
        self.cancel(group_id, member_id, kind)
        self._timers[(group_id, member_id, kind)] = self._clock.callLater(
            max(timeout_ms, 0) / 1000.0, self._fire, group_id, member_id, kind, epoch
        )

    def schedule_if_absent(self, group_id: str, member_id: str, kind: str, timeout_ms: int) -> None:
        """Start the timer unless it is already running (Kafka's C{scheduleIfAbsent})."""
        if (group_id, member_id, kind) not in self._timers:
            self.schedule(group_id, member_id, kind, timeout_ms)

    def _fire(self, group_id: str, member_id: str, kind: str, epoch: int) -> None:
        self._timers.pop((group_id, member_id, kind), None)
        self._on_expiry(group_id, member_id, kind, epoch)

    def cancel(self, group_id: str, member_id: str, kind: str) -> None:
        call = self._timers.pop((group_id, member_id, kind), None)
        if call is not None and call.active():
            call.cancel()

    def cancel_member(self, group_id: str, member_id: str) -> None:
        for kind in _KINDS:
            self.cancel(group_id, member_id, kind)

    def cancel_group(self, group_id: str) -> None:
        for key in [k for k in self._timers if k[0] == group_id]:
            self.cancel(*key)

    def stop(self) -> None:
        """Cancel every timer."""
        for call in self._timers.values():
            if call.active():
                call.cancel()
        self._timers.clear()


class GroupTimeouts(Protocol):
    """
    The session timeout and heartbeat interval of a consumer group's members:
    the group's configs (L{kafkatwist.config.group_overrides.GroupConfigReader})
    or the broker's values.
    """

    def consumer_session_timeout_ms(self, group_id: str) -> int: ...

    def consumer_heartbeat_interval_ms(self, group_id: str) -> int: ...


@frozen
class BrokerTimeouts:
    """The broker's C{group.consumer.*} values for every group (no group configs)."""

    session_timeout_ms: int
    heartbeat_interval_ms: int

    def consumer_session_timeout_ms(self, group_id: str) -> int:
        """C{group.consumer.session.timeout.ms}."""
        return self.session_timeout_ms

    def consumer_heartbeat_interval_ms(self, group_id: str) -> int:
        """C{group.consumer.heartbeat.interval.ms}."""
        return self.heartbeat_interval_ms


class GroupOverrides(GroupTimeouts, Protocol):
    """The group configs (L{kafkatwist.config.group_overrides.GroupConfigReader})."""

    def overrides(self, group_id: str) -> dict[str, str]: ...


@frozen
class ConfiguredTimeouts:
    """
    A group's C{consumer.session.timeout.ms} / C{consumer.heartbeat.interval.ms}
    override (clamped into the broker's bounds by the reader), else the
    broker's C{group.consumer.*} value.
    """

    _configs: GroupOverrides
    _broker: BrokerTimeouts

    def consumer_session_timeout_ms(self, group_id: str) -> int:
        """The group's session timeout."""
        if "consumer.session.timeout.ms" in self._configs.overrides(group_id):
            return self._configs.consumer_session_timeout_ms(group_id)
        return self._broker.session_timeout_ms

    def consumer_heartbeat_interval_ms(self, group_id: str) -> int:
        """The group's heartbeat interval."""
        if "consumer.heartbeat.interval.ms" in self._configs.overrides(group_id):
            return self._configs.consumer_heartbeat_interval_ms(group_id)
        return self._broker.heartbeat_interval_ms
