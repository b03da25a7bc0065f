"""RequestMemoryPool: the bytes of requests in flight, bounded across all connections.

Kafka's C{queued.max.request.bytes} (C{SocketServer}'s C{SimpleMemoryPool}
in non-strict mode): a connection reserves a request's size as soon as it
has read the request's length prefix, and releases it once the request has
been answered. While the pool is exhausted, connections that need memory stop
reading (they wait, muted, in arrival order) until a release makes room.

Non-strict, as in Kafka: a reservation succeeds whenever any memory is left,
even if the request is larger than what is left, so a request larger than the
whole pool is still admitted (never a deadlock), and the bytes held never
exceed the limit by more than one request (C{socket.request.max.bytes}).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol


class MemoryWaiter(Protocol):
    """A connection waiting for memory."""

    def memory_available(self) -> None:
        """Memory was released: try to reserve again and go on reading."""


class RequestMemoryPool:
    """
    The request bytes held across connections.

    @ivar limit: the most bytes in flight before connections stop reading;
        0 or less means unbounded (Kafka's -1).
    @ivar used: the bytes reserved now.
    """

    def __init__(self, limit: int = -1) -> None:
        self.limit = limit
        self.used = 0
        self._waiting: OrderedDict[MemoryWaiter, None] = OrderedDict()
        self._waking = False

    def _full(self) -> bool:
        return 0 < self.limit <= self.used

    def try_reserve(self, size: int) -> bool:
        """Reserve C{size} bytes if any memory is left (Kafka's non-strict C{tryAllocate})."""
        if self._full():
            return False
        self.used += size
        return True

    def release(self, size: int) -> None:
        """Give back C{size} reserved bytes and wake waiters while memory is left."""
        self.used -= size
        self._wake()

    def wait(self, waiter: MemoryWaiter) -> None:
        """Queue C{waiter}: its C{memory_available} is called once memory is released."""
        self._waiting[waiter] = None

    def forget(self, waiter: MemoryWaiter) -> None:
        """Stop waiting for C{waiter} (its connection is gone)."""
        self._waiting.pop(waiter, None)

    @property
    def waiting(self) -> int:
        """How many connections wait for memory."""
        return len(self._waiting)

    def _wake(self) -> None:
        # A woken connection may answer at once and release again: the
        # outer call keeps waking, in order, while memory is left.
        if self._waking:
            return
        self._waking = True
        try:
            while self._waiting and not self._full():
                waiter, _ = self._waiting.popitem(last=False)
                waiter.memory_available()
        finally:
            self._waking = False
