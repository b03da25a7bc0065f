"""The session and rebalance timers of consumer group members."""

from __future__ import annotations

from collections.abc import Callable

from attrs import define, field

from kafkatwist.clock import DelayedCall, ReactorTime

SESSION = "session"
REBALANCE = "rebalance"

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

    def _fire(self, group_id: str, member_id: str, kind: str, epoch: int) -> None:
        self._timers.pop((group_id, member_id, kind), None)
        self._on_expiry(group_id, member_id, kind, epoch)

    def cancel(self, group_id: str, member_id: str, kind: str) -> None:
        call = self._timers.pop((group_id, member_id, kind), None)
        if call is not None and call.active():
            call.cancel()

    def cancel_member(self, group_id: str, member_id: str) -> None:
        self.cancel(group_id, member_id, SESSION)
        self.cancel(group_id, member_id, REBALANCE)

    def cancel_group(self, group_id: str) -> None:
        for key in [k for k in self._timers if k[0] == group_id]:
            self.cancel(*key)

    def stop(self) -> None:
        """Cancel every timer."""
        for call in self._timers.values():
            if call.active():
                call.cancel()
        self._timers.clear()
