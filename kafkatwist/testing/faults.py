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
"""

from __future__ import annotations

from attrs import define, field
from twisted.internet.defer import Deferred

from kafkatwist.apis import REGISTRY
from kafkatwist.clock import ReactorTime
from kafkatwist.errors import ConnectionReset, ErrorCode, KafkaError, ProtocolViolation
from kafkatwist.hooks import Exchange
from kafkatwist.transport.service import BrokerService

_KEYS_BY_NAME = {spec.name.lower(): spec.api_key for spec in REGISTRY}


def api_key(api: str | int) -> int:
    """An API's key from its key or its name (C{"Produce"}, C{"fetch"}: any case)."""
    if isinstance(api, int):
        return api
    try:
        return _KEYS_BY_NAME[api.lower()]
    except KeyError:
        raise ValueError(f"unknown API {api!r}") from None


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
    _rules: list[_Rule] = field(factory=list)
    #: Requests held while the broker is paused, released by L{resume}.
    _held: list[Deferred[None]] | None = None

    @classmethod
    def install(cls, service: BrokerService) -> Faults:
        """The faults of a started broker service, installed as its first request hook."""
        faults = cls(service.broker.clock)
        service.broker.hooks.insert(0, faults)
        return faults

    def fail_next(self, api: str | int, error: str | int, count: int = 1) -> None:
        """Answer the next C{count} requests of C{api} with C{error}; their handler does not run."""
        self._add(_Rule(api_key(api), count, error=error_code(error)))

    def delay_next(self, api: str | int | None, seconds: float, count: int = 1) -> None:
        """Hold the next C{count} requests of C{api} (None: any) C{seconds} before handling."""
        self._add(_Rule(None if api is None else api_key(api), count, delay=seconds))

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
        self.resume()

    def pending(self) -> int:
        """How many injected faults are still to happen."""
        return sum(rule.remaining for rule in self._rules)

    def _add(self, rule: _Rule) -> None:
        if rule.remaining < 1:
            raise ValueError(f"count must be positive, not {rule.remaining}")
        self._rules.append(rule)

    def received(self, exchange: Exchange) -> Deferred[None] | None:
        if self._held is not None:
            waiting: Deferred[None] = Deferred()
            self._held.append(waiting)
            return waiting
        rule = next((r for r in self._rules if r.matches(exchange.api_key)), None)
        if rule is None:
            return None
        rule.remaining -= 1
        if rule.remaining == 0:
            self._rules.remove(rule)
        name = f"{exchange.api_name} v{exchange.api_version}"
        if rule.error is not None:
            raise KafkaError(ErrorCode(rule.error), f"injected by a test into {name}")
        if rule.drop:
            why = f"injected by a test: {'reset' if rule.reset else 'dropped'} at {name}"
            raise ConnectionReset(why) if rule.reset else ProtocolViolation(why)
        delayed: Deferred[None] = Deferred()
        self.clock.callLater(rule.delay, delayed.callback, None)
        return delayed

    def answered(self, exchange: Exchange) -> None:
        pass


__all__ = ["Faults", "api_key", "error_code"]
