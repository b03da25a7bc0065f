"""Helpers of the transaction tests over a real PostgreSQL (pytest-twisted, the real reactor)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from twisted.internet import task


class Finalizers:
    """L{fresh_database}'s cleanups, run by pytest's finalizers."""

    def __init__(self, request: Any) -> None:
        self._request = request

    def addCleanup(self, f: Any, *args: object) -> None:
        self._request.addfinalizer(lambda: f(*args))


def the_reactor() -> Any:
    """The reactor pytest-twisted installed (imported late: trial imports this module too)."""
    from twisted.internet import reactor

    return reactor


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait until C{check} answers True (a bounded wait for other threads' work)."""
    for _ in range(500):
        if await check():
            return
        await task.deferLater(the_reactor(), 0.02, lambda: None)
    raise AssertionError(f"never happened: {what}")
