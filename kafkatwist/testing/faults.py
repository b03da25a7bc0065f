"""
Fault injection: make a running broker misbehave on purpose, as a test asks.

In the spirit of franz-go's kfake C{ControlKey} and librdkafka's mock cluster
C{push_request_errors}. A L{Faults} is a request hook (L{kafkatwist.hooks}):
installed in C{broker.hooks}, it sees every request before its handler.

Every method takes and returns only JSON values (API and error names or
numbers, counts, seconds), so a fixture can forward them to a broker in
another process unchanged.

Rules apply to the next C{count} requests of an API (C{api} None: of any
API), oldest rule first; a request consumes the first rule that matches it.

Beyond requests, a L{Faults} installed in a broker service (L{Faults.install})
can make a partition's disk fail (L{Faults.fail_disk}: the broker's own
storage error handling answers C{KAFKA_STORAGE_ERROR}) and close or reset
every client connection at once (L{Faults.drop_connections}).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from typing import cast

from attrs import define, field
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from kafkatwist.apis import REGISTRY
from kafkatwist.clock import ReactorTime
from kafkatwist.errors import ConnectionReset, ErrorCode, KafkaError, ProtocolViolation
from kafkatwist.hooks import Exchange
from kafkatwist.messages.produce import ProduceRequest
from kafkatwist.storage.interfaces import ILogManager, IPartitionLog
from kafkatwist.transport.connection import Connection
from kafkatwist.transport.protocol import KafkaServerFactory
from kafkatwist.transport.service import BrokerService

_KEYS_BY_NAME = {spec.name.lower(): spec.api_key for spec in REGISTRY}
_ERRNOS_BY_NAME = {name: number for number, name in errno.errorcode.items()}


def api_key(api: str | int) -> int:
    """An API's key from its key or its name (C{"Produce"}, C{"fetch"}: any case)."""
    if isinstance(api, int):
        return api
    try:
        return _KEYS_BY_NAME[api.lower()]
    except KeyError:
        raise ValueError(f"unknown API {api!r}") from None


def os_error(name: str) -> OSError:
    """The C{OSError} of an errno name (C{"EIO"}, C{"ENOSPC"}), as a failing disk raises it."""
    try:
        number = _ERRNOS_BY_NAME[name.upper()]
    except KeyError:
        raise ValueError(f"unknown errno name {name!r}") from None
    return OSError(number, f"{os.strerror(number)} (a disk failure injected by a test)")


def error_code(error: str | int) -> int:
    """An error code from its number or its Kafka name (C{"NOT_LEADER_OR_FOLLOWER"})."""
    try:
        return int(ErrorCode(error) if isinstance(error, int) else ErrorCode[error.upper()])
    except (KeyError, ValueError):
        raise ValueError(f"unknown error {error!r}") from None


@define(eq=False)
class _Rule:
    """What to do to the next C{remaining} requests of C{api} (None: any API)."""

    api: int | None
    remaining: int
    error: int | None = None
    delay: float = 0.0
    drop: bool = False
    reset: bool = False

    def matches(self, key: int) -> bool:
        return self.remaining > 0 and (self.api is None or self.api == key)


@define(eq=False)
class Faults:
    """
    The faults a test injects into one broker (a request hook).

    @ivar clock: Where delays are timed (the broker's clock: a test's Clock advances them).
    """

    clock: ReactorTime
    #: The broker's partition logs, for L{fail_disk} (None: no disk faults).
    _logs: ILogManager | None = field(default=None, kw_only=True)
    #: The connection factories of the broker's listeners (they know their open
    #: connections), for L{drop_connections}.
    _listeners: Sequence[KafkaServerFactory] = field(default=(), kw_only=True)
    _rules: list[_Rule] = field(factory=list)
    #: Delays of responses (L{delay_response_next}), matched when a response is ready.
    _late: list[_Rule] = field(factory=list)
    #: Requests held while the broker is paused, released by L{resume}.
    _held: list[Deferred[None]] | None = None

    _log = Logger()

    @classmethod
    def install(cls, service: BrokerService) -> Faults:
        """
        The faults of a started broker service, installed as its first request hook.

        They act on the service's logs and on the listeners bound now: after a restart
        (a new service), install new ones.
        """
        broker = service.broker
        listeners = [bound.factory for bound in service.listeners]
        faults = cls(broker.clock, logs=broker.logs, listeners=listeners)
        broker.hooks.insert(0, faults)
        return faults

    def fail_next(self, api: str | int, error: str | int, count: int = 1) -> None:
        """Answer the next C{count} requests of C{api} with C{error}; their handler does not run."""
        self._add(_Rule(api_key(api), count, error=error_code(error)))

    def delay_next(self, api: str | int | None, seconds: float, count: int = 1) -> None:
        """Hold the next C{count} requests of C{api} (None: any) C{seconds} before handling."""
        self._add(_Rule(None if api is None else api_key(api), count, delay=seconds))

    def delay_response_next(self, api: str | int | None, seconds: float, count: int = 1) -> None:
        """
        Hold the responses of the next C{count} requests of C{api} (None: any) C{seconds}
        after their handler ran: the work is done (a Produce appended), its answer comes
        late. A client whose request times out meanwhile retries: an idempotent producer's
        retry is recognised as a duplicate; a plain one's is appended again.
        """
        self._add(_Rule(None if api is None else api_key(api), count, delay=seconds), self._late)

    def drop_next(self, api: str | int | None, count: int = 1, reset: bool = False) -> None:
        """
        Close the connection of the next C{count} requests of C{api} (None: any) unanswered;
        with C{reset}, abort it (an RST).
        """
        self._add(_Rule(None if api is None else api_key(api), count, drop=True, reset=reset))

    def pause(self) -> None:
        """Hold every request from now on, unanswered, until L{resume}."""
        if self._held is None:
            self._held = []

    def resume(self) -> None:
        """Handle the requests held since L{pause}, in the order they came."""
        held, self._held = self._held, None
        for waiting in held or ():
            waiting.callback(None)

    def clear(self) -> None:
        """Forget every rule still pending and resume a paused broker."""
        self._rules.clear()
        self._late.clear()
        self.resume()

    def pending(self) -> int:
        """How many injected faults are still to happen."""
        return sum(rule.remaining for rule in (*self._rules, *self._late))

    def fail_disk(self, topic: str, partition: int, error: str = "EIO") -> None:
        """
        Make the disk under C{topic}-C{partition}'s log fail, as a broken disk does.

        Every later write and fsync of that log raises C{OSError(error)} (an errno
        name: C{"EIO"}, C{"ENOSPC"}...), and an fsync starts at once: the broker's
        storage reacts as to any disk error and takes the log offline (one error log
        line). From then on Produce, Fetch, ListOffsets and the like answer
        C{KAFKA_STORAGE_ERROR} (56, retriable) for that partition, as Kafka does
        for the partitions of an offline log dir; other partitions are untouched.

        There is no healing while the broker runs, as in Kafka (an offline log dir
        comes back only with a restart): restart the broker on the same log dir and
        the partition is recovered with every record it acknowledged. (A Kafka
        broker whose only log dir fails shuts down; kafkatwist keeps serving its
        other partitions.) The log is offline once the fsync, in a worker thread, has
        failed (see L{disk_failed}); a Produce to it fails at once in any case.

        @raise ValueError: No such partition log here, or an unknown errno name.
        """
        self._partition_log(topic, partition).fail_disk(os_error(error))

    def disk_failed(self, topic: str, partition: int) -> bool:
        """Whether C{topic}-C{partition}'s log is offline (a disk error, injected or not)."""
        return self._partition_log(topic, partition).is_offline

    def drop_connections(self, reset: bool = False) -> int:
        """
        Close every client connection of every listener now (a FIN), or with
        C{reset} abort them (an RST); requests in flight stay unanswered. Clients
        see the connection end and reconnect; the listeners keep accepting.

        @return: How many connections were dropped.
        """
        dropped = [conn for factory in self._listeners for conn in list(factory.connections)]
        for conn in dropped:
            conn.disconnect()
            if reset:  # after loseConnection, as for a ConnectionReset: an RST, no FIN
                cast(Connection, conn.transport).abortConnection()
        self._log.info(
            "{how} {count} client connections (injected by a test)",
            how="Reset" if reset else "Closed",
            count=len(dropped),
        )
        return len(dropped)

    def _partition_log(self, topic: str, partition: int) -> IPartitionLog:
        log = None if self._logs is None else self._logs.get(topic, partition)
        if log is None:
            raise ValueError(f"no log of {topic}-{partition} in this broker")
        return log

    def held(self) -> int:
        """How many requests wait, unanswered, for L{resume} (their connection still open)."""
        return sum(1 for waiting in self._held or () if not waiting.called)

    def _add(self, rule: _Rule, rules: list[_Rule] | None = None) -> None:
        if rule.remaining < 1:
            raise ValueError(f"count must be positive, not {rule.remaining}")
        (self._rules if rules is None else rules).append(rule)

    @staticmethod
    def _take(rules: list[_Rule], key: int) -> _Rule | None:
        """The first rule for an API key, one use of it consumed; None if none."""
        rule = next((r for r in rules if r.matches(key)), None)
        if rule is not None:
            rule.remaining -= 1
            if rule.remaining == 0:
                rules.remove(rule)
        return rule

    def received(self, exchange: Exchange) -> Deferred[None] | None:
        if self._held is not None:
            waiting: Deferred[None] = Deferred()
            self._held.append(waiting)
            return waiting
        rule = self._take(self._rules, exchange.api_key) if self._rules else None
        if rule is None:
            return None
        name = f"{exchange.api_name} v{exchange.api_version}"
        if rule.error is not None:
            code = ErrorCode(rule.error)
            request = exchange.request
            if isinstance(request, ProduceRequest) and request.acks == 0:
                # No response to carry the error (one sent would answer the client's
                # next request): Kafka closes the connection of a failed acks=0 Produce.
                raise ProtocolViolation(f"injected by a test: {code.name} in acks=0 {name}")
            raise KafkaError(code, f"injected by a test into {name}")
        if rule.drop:
            why = f"injected by a test: {'reset' if rule.reset else 'dropped'} at {name}"
            raise ConnectionReset(why) if rule.reset else ProtocolViolation(why)
        return self._after(rule.delay)

    def answered(self, exchange: Exchange) -> Deferred[None] | None:
        rule = self._take(self._late, exchange.api_key) if self._late else None
        return None if rule is None else self._after(rule.delay)

    def _after(self, seconds: float) -> Deferred[None]:
        """A Deferred firing C{seconds} from now on the broker's clock (cancellable)."""
        delayed: Deferred[None] = Deferred(lambda _: call.cancel())
        call = self.clock.callLater(seconds, delayed.callback, None)
        return delayed


__all__ = ["Faults", "api_key", "error_code", "os_error"]
