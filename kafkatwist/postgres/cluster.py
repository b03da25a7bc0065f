"""The cluster of brokers sharing one PostgreSQL: membership, the controller, leadership.

L{PgCluster} is the PostgreSQL engine's L{kafkatwist.cluster.interfaces.ICluster}:

- At start it registers this broker (L{kafkatwist.postgres.membership.register})
  with a lease of C{broker.session.timeout.ms} on PostgreSQL's clock. While a
  previous incarnation of its node id is still live the registration is
  refused (DUPLICATE_BROKER_REGISTRATION) and retried every heartbeat
  interval until C{initial.broker.registration.timeout.ms} has passed.
- Every C{broker.heartbeat.interval.ms} on the injected clock, one round
  renews the lease, takes or keeps the controller lease, and reads the live
  set; a NOTIFY on C{kafkatwist_brokers} (someone registered or left) reads
  the live set at once.
- The broker holding the controller lease does the controller's duties in
  each round: the partitions whose leader is not live move to live brokers
  (PartitionChangeRecords written through the metadata store, which bumps
  their leader epochs), and with C{auto.leader.rebalance.enable} every
  C{leader.imbalance.check.interval.seconds} partitions go back to their
  preferred replica. The records are written with the store's C{append_when}:
  when another broker wrote first, they are rebuilt from the caught-up image.
- A clean stop is Kafka's controlled shutdown: this broker writes the moves
  of its own partitions to the other live brokers, then deregisters.
- A L{LeadershipTracker} turns the image's leadership into elections
  (after C{prepare}: the log manager's C{become_leader}) and resignations
  (then C{release}: its C{resign}). C{start} fires once the elections of
  the first heartbeat's image are told (their logs loaded).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from functools import partial

from attrs import define, field
from twisted.internet.defer import Deferred, DeferredLock, succeed
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure

from kafkatwist.clock import DelayedCall, ReactorTime
from kafkatwist.cluster.interfaces import BrokerEndpoint, ILeadershipListener
from kafkatwist.cluster.local import LeadershipTracker, Prepare, Release
from kafkatwist.cluster.placement import (
    assign_replicas,
    failover_changes,
    preferred_leader_changes,
)
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages.metadata_records import PartitionChangeRecord
from kafkatwist.postgres import membership
from kafkatwist.postgres.db import Database
from kafkatwist.postgres.membership import MembershipConfig, Round
from kafkatwist.storage.interfaces import IMetadataStore
from kafkatwist.storage.metadata_image import MetadataImage

_log = Logger()

#: Builds a controller duty's records from the current image (none: nothing to do).
Build = Callable[[MetadataImage], list[PartitionChangeRecord]]


@define
class PgCluster:
    """
    This broker's membership of the cluster registered in PostgreSQL.

    @ivar node_id: This broker's C{node.id}.
    """

    node_id: int
    _db: Database
    _metadata: IMetadataStore
    _clock: ReactorTime
    _config: MembershipConfig = field(factory=MembershipConfig)
    _prepare: Prepare | None = None
    _release: Release | None = None
    #: Kafka's random start index and follower shift for L{assign_replicas}.
    _random: random.Random = field(factory=random.Random)
    _tracker: LeadershipTracker = field(init=False)
    _incarnation: uuid.UUID = field(factory=uuid.uuid4, init=False)
    _endpoints: dict[str, tuple[str, int]] = field(factory=dict, init=False)
    _live: dict[int, BrokerEndpoint] = field(factory=dict, init=False)
    _controller_id: int = field(default=-1, init=False)
    _controller_epoch: int = field(default=0, init=False)
    _registered: bool = field(default=False, init=False)
    _stopped: bool = field(default=False, init=False)
    _timer: DelayedCall | None = field(default=None, init=False)
    #: Rounds (heartbeats, reads after a NOTIFY, the stop) run one at a time.
    _lock: DeferredLock = field(factory=DeferredLock, init=False)
    #: When the next preferred-leader check is due (clock seconds), while controller.
    _next_rebalance: float | None = field(default=None, init=False)
    #: Until then (clock seconds) expired leases move nothing (see L{_duties}).
    _quiet_until: float = field(default=0.0, init=False)

    def __attrs_post_init__(self) -> None:
        self._tracker = LeadershipTracker(
            self._metadata, self.node_id, self._prepare, self._release
        )

    # -- ICluster ----------------------------------------------------------------

    def live_brokers(self) -> Sequence[BrokerEndpoint]:
        return [self._live[node] for node in sorted(self._live)]

    def is_live(self, node_id: int) -> bool:
        return node_id in self._live

    @property
    def controller_id(self) -> int:
        return self._controller_id

    @property
    def controller_epoch(self) -> int:
        """The controller lease's epoch as last read (bumped at every new holder)."""
        return self._controller_epoch

    @property
    def incarnation(self) -> uuid.UUID:
        """This start's incarnation id (Kafka's C{incarnationId})."""
        return self._incarnation

    def assign_replicas(self, partitions: int, replication_factor: int) -> list[tuple[int, ...]]:
        brokers = self.live_brokers()
        n = max(1, len(brokers))
        return assign_replicas(
            brokers,
            partitions,
            replication_factor,
            start_index=self._random.randrange(n),
            replica_shift=self._random.randrange(n),
        )

    def add_listener(self, listener: ILeadershipListener) -> None:
        self._tracker.add_listener(listener)

    def start(self, listeners: Mapping[str, tuple[str | None, int]]) -> Deferred[None]:
        self._endpoints = {
            name: (host or "localhost", port) for name, (host, port) in listeners.items()
        }
        deadline = self._clock.seconds() + self._config.registration_timeout_ms / 1000
        d = self._register(deadline)
        d.addCallback(lambda _: self._started())
        return d

    def stop(self) -> Deferred[None]:
        if self._stopped:
            return succeed(None)
        self._stopped = True
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if not self._registered:
            return succeed(None)
        return self._lock.run(self._shutdown)

    # -- registration and heartbeats ---------------------------------------------

    def _register(self, deadline: float) -> Deferred[None]:
        return Deferred.fromCoroutine(self._registering(deadline))

    async def _registering(self, deadline: float) -> None:
        config = self._config
        work = partial(
            membership.register,
            node_id=self.node_id,
            incarnation=self._incarnation,
            rack=config.rack,
            listeners=self._endpoints,
            lease_ms=config.session_timeout_ms,
        )
        while not self._stopped:
            try:
                await self._db.run(work)
                return
            except KafkaError as error:
                retriable = error.code in (
                    ErrorCode.DUPLICATE_BROKER_REGISTRATION,
                    ErrorCode.KAFKA_STORAGE_ERROR,
                )
                if self._stopped or not retriable or self._clock.seconds() >= deadline:
                    raise
                _log.info(
                    "Registration of node {node} refused ({error}); retrying",
                    node=self.node_id,
                    error=error,
                )
            await deferLater(self._clock, config.heartbeat_interval_ms / 1000)  # type: ignore[arg-type]

    def _started(self) -> Deferred[None]:
        if self._stopped:  # stopped while registering (or waiting to retry)
            work = partial(
                membership.deregister, node_id=self.node_id, incarnation=self._incarnation
            )
            return self._db.run(work)
        self._registered = True
        self._quiet()
        _log.info(
            "Broker {node} registered (incarnation {inc})", node=self.node_id, inc=self._incarnation
        )
        d = self.heartbeat()
        d.addErrback(self._failed, "The first heartbeat")

        def follow(_: object) -> Deferred[None]:
            self._db.listen(membership.BROKERS_CHANNEL, self._notified)
            self._metadata.subscribe(self._tracker.changed)
            self._tracker.changed()
            self._schedule()
            # Started once the partitions led now are loaded and told, as a Kafka broker
            # serves requests after its first metadata publish made it their leader.
            return self._tracker.settled()

        return d.addCallback(follow)

    def _schedule(self) -> None:
        if not self._stopped:
            self._timer = self._clock.callLater(
                self._config.heartbeat_interval_ms / 1000, self._tick
            )

    def _tick(self) -> None:
        self._timer = None
        d = self.heartbeat()
        d.addErrback(self._failed, "A heartbeat")
        d.addBoth(lambda _: self._schedule())

    def heartbeat(self) -> Deferred[None]:
        """
        One round now: renew the lease, read the live set, and do the controller's duties if held.

        The heartbeat loop calls it every C{broker.heartbeat.interval.ms};
        fires once the round (and any partition moves it wrote) is done.
        """
        return self._lock.run(self._round)

    def _round(self) -> Deferred[None]:
        if self._stopped:
            return succeed(None)
        d = self._db.run(
            partial(
                membership.heartbeat,
                node_id=self.node_id,
                incarnation=self._incarnation,
                lease_ms=self._config.session_timeout_ms,
            )
        )

        def unreachable(f: Failure) -> Failure:
            self._quiet()
            return f

        d.addCallbacks(self._learned, unreachable).addCallback(self._duties)
        return d.addCallback(lambda _: self._retry_elections())

    def _retry_elections(self) -> None:
        """Elections whose log could not be loaded (PostgreSQL away) are tried again each round."""
        if self._registered:
            self._tracker.changed()

    def _quiet(self) -> None:
        self._quiet_until = self._clock.seconds() + self._config.session_timeout_ms / 1000

    def _notified(self, payload: str | None) -> None:
        if self._stopped:
            return

        def observe() -> Deferred[None]:
            work = partial(membership.observe, node_id=self.node_id, incarnation=self._incarnation)
            return self._db.run(work).addCallback(self._learned).addCallback(take_over)

        def take_over(r: Round) -> None:
            # The controller left (a clean stop frees its lease): take it now, not
            # at the next heartbeat.
            if r.registered and r.controller_id == -1:
                self.heartbeat().addErrback(self._failed, "Taking the controller lease")

        self._lock.run(observe).addErrback(self._failed, "Reading the live brokers")

    def _learned(self, r: Round) -> Round:
        if self._registered and not r.registered:
            _log.error(
                "Broker {node}: the registration of this incarnation was taken over",
                node=self.node_id,
            )
        self._live = {b.node_id: b for b in r.live}
        self._controller_id, self._controller_epoch = r.controller_id, r.controller_epoch
        return r

    def _failed(self, f: Failure, what: str) -> None:
        _log.warn(
            "{what} of broker {node} failed: {error}",
            what=what,
            node=self.node_id,
            error=f.getErrorMessage(),
        )

    # -- the controller's duties --------------------------------------------------

    def _duties(self, r: Round) -> Deferred[None]:
        """
        The controller's duties after a round that found this broker holding the lease.

        For one session timeout after this broker started, and after a round
        that could not reach PostgreSQL, expired leases move nothing: the
        other brokers may not have had their chance to heartbeat yet (a whole
        cluster starting, or PostgreSQL coming back after an outage longer
        than a lease), and moving every partition to the first broker back
        would be wrong.
        """
        if not r.registered or r.controller_id != self.node_id:
            self._next_rebalance = None
            return succeed(None)
        live = frozenset(b.node_id for b in r.live)
        now, interval = self._clock.seconds(), self._config.rebalance_interval_ms / 1000
        builds: list[Build] = []
        if now >= self._quiet_until:
            builds.append(lambda image: failover_changes(image, live))
        if self._next_rebalance is None:
            self._next_rebalance = now + interval
        elif self._config.rebalance_enable and now >= self._next_rebalance:
            self._next_rebalance = now + interval
            builds.append(lambda image: preferred_leader_changes(image, live))
        return self._write(builds)

    def _write(self, builds: list[Build]) -> Deferred[None]:
        """Append what each of C{builds} makes from the then current image, one after the other."""
        return Deferred.fromCoroutine(self._writing(builds))

    async def _writing(self, builds: list[Build]) -> None:
        for build in builds:
            await self._metadata.append_when(build)

    # -- controlled shutdown ------------------------------------------------------

    def _shutdown(self) -> Deferred[None]:
        """Hand this broker's partitions to the other live brokers, then deregister."""
        work = partial(membership.observe, node_id=self.node_id, incarnation=self._incarnation)
        d = self._db.run(work).addCallback(self._learned)

        def hand_over(r: Round) -> Deferred[None]:
            if not r.registered:
                return succeed(None)  # the node id is another incarnation's now
            others = frozenset(b.node_id for b in r.live) - {self.node_id}
            return self._write(
                [lambda image: failover_changes(image, others, leaving=self.node_id)]
            )

        d.addCallback(hand_over)
        d.addErrback(self._failed, "The controlled shutdown")
        d.addCallback(
            lambda _: self._db.run(
                partial(membership.deregister, node_id=self.node_id, incarnation=self._incarnation)
            )
        )
        d.addErrback(self._failed, "Deregistering")

        def gone(_: object) -> None:
            self._registered = False
            self._live.pop(self.node_id, None)
            if self._controller_id == self.node_id:
                self._controller_id = -1

        return d.addCallback(gone)
