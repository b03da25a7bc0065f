"""What a connection uses of its transport, typed for mypy, and the host of an address."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IAddress


class Connection(Protocol):
    """
    What a connection uses of its transport: a TCP transport (or a test's).

    Twisted types C{Protocol.transport} as the zope interface L{ITransport},
    whose methods mypy cannot call without the mypy-zope plugin; this is the
    same surface, typed for mypy.
    """

    disconnecting: bool

    def getPeer(self) -> IAddress: ...

    def getHost(self) -> IAddress: ...

    def writeSequence(self, data: Iterable[bytes]) -> None: ...

    def loseConnection(self) -> None: ...

    def abortConnection(self) -> None: ...

    def registerProducer(self, producer: object, streaming: bool) -> None: ...

    def unregisterProducer(self) -> None: ...

    def pauseProducing(self) -> None: ...

    def resumeProducing(self) -> None: ...


def ip_host(address: IAddress) -> str | None:
    """The host of an IP address; None for other address families."""
    if isinstance(address, (IPv4Address, IPv6Address)):
        host: str = address.host
        return host
    return None
