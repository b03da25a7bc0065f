"""The cluster of one: the file engine's broker, which leads every partition."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from attrs import define, field
from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from kafkatwist.cluster.interfaces import BrokerEndpoint, ILeadershipListener
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.storage.interfaces import IMetadataStore

_log = Logger()


def led_partitions(metadata: IMetadataStore, node_id: int) -> dict[tuple[str, int], int]:
    """The partitions of the image C{node_id} leads, with their leader epochs."""
    return {
        (topic.name, index): state.leader_epoch
        for topic in metadata.image.topics.values()
        for index, state in topic.partitions.items()
        if state.leader == node_id
    }


#: Loads a partition's log before its election is told (PgLogManager.become_leader).
Prepare = Callable[[str, int, int], "Deferred[object]"]
#: Drops a partition's log after its resignation is told (PgLogManager.resign).
Release = Callable[[str, int], None]


@define
class LeadershipTracker:
    """
    Turns metadata image changes into L{ILeadershipListener} calls.

    After each change, the partitions this broker leads are compared with the
    last ones: a partition no longer led (or deleted) is a resignation, a new
    one or one with a new leader epoch an election. Shared by every L{ICluster}.

    An engine whose logs must be loaded before they are used passes
    C{prepare}: the listeners hear of an election only once it has fired, and
    C{release} runs after they heard of a resignation. The changes of one
    partition are told in order (each waits for the one before).
    """

    metadata: IMetadataStore
    node_id: int
    prepare: Prepare | None = None
    release: Release | None = None
    _listeners: list[ILeadershipListener] = field(factory=list)
    _led: dict[tuple[str, int], int] = field(factory=dict)
    #: Per partition, the last change being told (elections wait for prepare).
    _pending: dict[tuple[str, int], Deferred[None]] = field(factory=dict)

    @property
    def led(self) -> dict[tuple[str, int], int]:
        """The partitions this broker leads as last seen, with their leader epochs."""
        return self._led

    def add_listener(self, listener: ILeadershipListener) -> None:
        self._listeners.append(listener)
        for (topic, partition), epoch in sorted(self._led.items()):
            self._call(listener.on_election, topic, partition, epoch)

    def settled(self) -> Deferred[None]:
        """Fires once the changes being told now are told (their C{prepare} done or failed)."""
        pending = list(self._pending.values())
        if not pending:
            return succeed(None)
        return DeferredList(pending, consumeErrors=True).addCallback(lambda _: None)

    def changed(self, records: Sequence[Any] = ()) -> None:
        """
        Compare the image's leadership with the last seen; tell the listeners.

        An election whose C{prepare} failed is tried again by the next call.
        """
        now = led_partitions(self.metadata, self.node_id)
        before, self._led = self._led, now
        for key in sorted(before.keys() - now.keys()):
            self._then(key, partial(self._resign, key))
        for key, epoch in sorted(now.items()):
            if before.get(key) != epoch:
                if key in before:  # a new epoch: resign the old one first
                    self._then(key, partial(self._resign, key))
                self._then(key, partial(self._elect, key, epoch))

    def _then(self, key: tuple[str, int], step: Callable[[], Deferred[None]]) -> None:
        before = self._pending.get(key)
        d = step() if before is None else before.addCallback(lambda _: step())
        d.addErrback(lambda f: _log.failure("Leadership change of {key} failed", f, key=key))
        if d.called and before is None:
            return
        self._pending[key] = d

        def done(_: object) -> None:
            if self._pending.get(key) is d:
                del self._pending[key]

        d.addBoth(done)

    def _elect(self, key: tuple[str, int], epoch: int) -> Deferred[None]:
        if self._led.get(key) != epoch:
            return succeed(None)  # superseded while waiting
        prepared = (
            self.prepare(key[0], key[1], epoch) if self.prepare is not None else succeed(None)
        )

        def tell(_: object) -> None:
            if self._led.get(key) != epoch:
                return
            for listener in self._listeners:
                self._call(listener.on_election, key[0], key[1], epoch)

        def forget(f: Failure) -> Failure:
            # Not elected after all: the next changed() tries it again.
            if self._led.get(key) == epoch:
                del self._led[key]
            return f

        return prepared.addCallbacks(tell, forget)

    def _resign(self, key: tuple[str, int]) -> Deferred[None]:
        for listener in self._listeners:
            self._call(listener.on_resignation, *key)
        if self.release is not None:
            try:
                self.release(*key)
            except Exception:
                _log.failure("Releasing {key} failed", key=key)
        return succeed(None)

    @staticmethod
    def _call(fn: Callable[..., None], *args: object) -> None:
        try:
            fn(*args)
        except Exception:
            _log.failure("A leadership listener failed for {args}", args=args)


@define
class LocalCluster:
    """
    A cluster of this broker alone (the file engine).

    It leads every partition: elections come from the image (at start, then
    for each new topic), and no replication factor above one can be met.
    """

    node_id: int
    metadata: IMetadataStore
    rack: str | None = None
    #: This broker's advertised listeners, set by the service once they are bound.
    listeners: dict[str, tuple[str, int]] = field(factory=dict)
    _tracker: LeadershipTracker = field(init=False)
    _started: bool = field(default=False, init=False)

    def __attrs_post_init__(self) -> None:
        self._tracker = LeadershipTracker(self.metadata, self.node_id)

    def live_brokers(self) -> Sequence[BrokerEndpoint]:
        return [BrokerEndpoint(self.node_id, dict(self.listeners), self.rack)]

    def is_live(self, node_id: int) -> bool:
        return node_id == self.node_id

    @property
    def controller_id(self) -> int:
        return self.node_id

    def assign_replicas(self, partitions: int, replication_factor: int) -> list[tuple[int, ...]]:
        if replication_factor > 1:
            raise KafkaError(
                ErrorCode.INVALID_REPLICATION_FACTOR,
                f"Unable to replicate the partition {replication_factor} time(s): "
                "The target replication factor of "
                f"{replication_factor} cannot be reached because only 1 broker(s) are registered.",
            )
        return [(self.node_id,)] * partitions

    def add_listener(self, listener: ILeadershipListener) -> None:
        self._tracker.add_listener(listener)

    def start(self, listeners: Mapping[str, tuple[str | None, int]]) -> Deferred[None]:
        self.listeners = {
            name: (host or "localhost", port) for name, (host, port) in listeners.items()
        }
        if not self._started:
            self._started = True
            self.metadata.subscribe(self._tracker.changed)
            self._tracker.changed()
        return succeed(None)

    def stop(self) -> Deferred[None]:
        return succeed(None)
