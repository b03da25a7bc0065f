"""RequestMemoryPool: the bytes of requests in flight, bounded across all connections.

Kafka's C{queued.max.request.bytes} bounds the memory held by requests read
but not yet answered: while it is exhausted, connections stop reading until
an answered request releases memory (C{SocketServer}'s C{MemoryPool}).

Kafka reserves a request's whole size as soon as its length prefix is read.
That would let a client stall every other one for the price of a few length
prefixes that promise 100 MiB each and never deliver it, so here the pool is
charged with the bytes actually read: a connection is charged for every byte
it buffers and released when the request those bytes form has been answered
(or the connection is gone). While the pool is full, connections stop reading,
except one: the I{finisher}, a connection caught in the middle of a request,
may read on until that request is complete. So a request larger than the whole
pool is still served (never a deadlock, as Kafka's non-strict pool), and the
bytes held stay under the limit plus one request (C{socket.request.max.bytes})
plus one socket read per connection that was reading when the pool filled.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol


class MemoryWaiter(Protocol):
    """A connection waiting for memory."""

    def memory_available(self) -> None:
        """Memory was released, or the finisher's place is free: try to read again."""


class RequestMemoryPool:
    """
    The request bytes held across connections.

    @ivar limit: the most bytes held before connections stop reading; 0 or
        less means unbounded (Kafka's -1).
    @ivar used: the bytes held now.
    @ivar finisher: the connection that may read on while the pool is full,
        to complete the request it is in the middle of; None if none.
    """

    def __init__(self, limit: int = -1) -> None:
        self.limit = limit
        self.used = 0
        self.finisher: MemoryWaiter | None = None
        self._waiting: OrderedDict[MemoryWaiter, None] = OrderedDict()
        self._waking = False
        self._again = False

    def full(self) -> bool:
        """Whether connections must stop reading (all but the finisher)."""
        return 0 < self.limit <= self.used

    def charge(self, size: int) -> None:
        """C{size} more bytes were read (they are held whatever the limit)."""
        self.used += size

    def release(self, size: int) -> None:
        """C{size} bytes are no longer held; wake waiters if memory is left."""
        self.used -= size
        if self._waiting and not self.full():
            self._wake()

    def wait(self, waiter: MemoryWaiter) -> None:
        """Queue C{waiter}: its C{memory_available} is called when it may read again."""
        self._waiting[waiter] = None

    def finished(self, waiter: MemoryWaiter) -> None:
        """C{waiter} completed its request (or is gone): the finisher's place is free."""
        if self.finisher is waiter:
            self.finisher = None
            if self._waiting:
                self._wake()

    def forget(self, waiter: MemoryWaiter) -> None:
        """C{waiter}'s connection is gone: stop waiting for it, free its place."""
        self._waiting.pop(waiter, None)
        self.finished(waiter)

    @property
    def waiting(self) -> int:
        """How many connections wait for memory."""
        return len(self._waiting)

    def _wake(self) -> None:
        # Each waiter is tried once per pass, in order; one that still cannot
        # read queues itself again. A woken connection may answer at once and
        # release again: the outer call then makes another pass.
        if self._waking:
            self._again = True
            return
        self._waking = True
        try:
            again = True
            while again:
                self._again = False
                for waiter in list(self._waiting):
                    if self.full() and self.finisher is not None:
                        break
                    if self._waiting.pop(waiter, False) is None:
                        waiter.memory_available()
                again = self._again and bool(self._waiting)
        finally:
            self._waking = False
