"""Quota enforcement: Kafka's C{ClientQuotaManager} and its default quota callback.

One L{ClientQuotaManager} per quota type (the produce byte rate, the fetch
byte rate, the request time percentage) keeps one L{QuotaSensor} per
metric-tag pair C{(user, client-id)} and reads the quotas from the metadata
image's client quotas (written by AlterClientQuotas, replayed at start), so
a change applies to the next request and survives a restart.

Which quota applies to a client is Kafka's precedence
(C{DefaultQuotaCallback.quotaLimit}): for a user U and client-id C,

  1. /users/U/clients/C, 2. /users/U/clients/<default>,
  3. /users/U, 4. /users/<default>/clients/C,
  5. /users/<default>/clients/<default>, 6. /users/<default>,
  7. /clients/C, 8. /clients/<default>;

and which clients share a sensor follows the levels at which quotas exist
(C{quotaMetricTags}): with client-id quotas only, every client with the
same client-id shares one rate whatever its user; with user quotas only,
every client of a user; with (user, client-id) quotas only, each pair; with
several levels, the tags of the first level above that has a quota. A
client no quota covers is measured against C{Long.MAX_VALUE}, and nothing
is measured while no quota of the type exists.

Kafka remembers that a level had a quota until the broker restarts (its
C{quotaTypesEnabled} bits are never cleared); here the levels are those
with a quota now, so removing the last quota of a level regroups sensors at
once. Sensors unused for an hour are dropped, as Kafka's expire.

A client's user is its connection's principal name (C{RequestContext.user}):
the SASL user, the name a client certificate maps to, or C{ANONYMOUS} for an
unauthenticated connection (PLAINTEXT, SSL without a client certificate),
whose C{/users/ANONYMOUS} quotas then apply, as in Kafka.
"""

from __future__ import annotations

from typing import Protocol

from attrs import define, field

from kafkatwist.quotas.entities import CLIENT_ID, IP, USER, Entity
from kafkatwist.quotas.rate import QuotaSensor, QuotaWindow, Rate
from kafkatwist.storage.metadata_image import MetadataImage

#: Kafka's quota bound when no quota covers a client (C{Long.MAX_VALUE}).
UNLIMITED = float(2**63 - 1)

#: Kafka's C{ClientQuotaManager.InactiveSensorExpirationTimeSeconds}.
SENSOR_EXPIRATION_MS = 3600 * 1000

#: Kafka's C{QuotaTypes}: the levels at which quotas exist.
_CLIENT_ID_LEVEL, _USER_LEVEL, _USER_CLIENT_ID_LEVEL = 1, 2, 4


class QuotaSource(Protocol):
    """Where the quotas are: the metadata image (the metadata store satisfies this)."""

    @property
    def image(self) -> MetadataImage: ...


#: A level of the precedence: (user, client-id), each a name, None for the
#: default entity, or absent (the empty string) when the level lacks the type.
_Level = tuple[str | None, str | None]
_ABSENT = ""


def _entity(user: str | None, client_id: str | None) -> Entity:
    """The entity of a level (the empty string meaning the type is absent)."""
    pairs: list[tuple[str, str | None]] = []
    if client_id != _ABSENT:
        pairs.append((CLIENT_ID, client_id))
    if user != _ABSENT:
        pairs.append((USER, user))
    return tuple(pairs)


@define
class ClientQuotaManager:
    """
    The sensors of one quota type, and the throttle time of each recording.

    @ivar _key: The quota key read from the client quotas (C{producer_byte_rate}...).
    @ivar _max_throttle_ms: The longest throttle (the request quota's is one
        window, Kafka's C{boundedThrottleTime}); None for no bound.
    """

    _key: str
    _source: QuotaSource
    _window: QuotaWindow
    _max_throttle_ms: int | None = None
    _sensors: dict[tuple[str, str], QuotaSensor] = field(factory=dict, init=False)
    #: The quotas of this type by entity, read at L{_generation} of the image.
    _quotas: dict[Entity, float] = field(factory=dict, init=False)
    _levels: int = field(default=0, init=False)
    _generation: int = field(default=-1, init=False)
    _swept_ms: int = field(default=0, init=False)

    def _refresh(self) -> None:
        """Read the quotas again if the image's client quotas changed."""
        image = self._source.image
        if image.quota_generation == self._generation:
            return
        self._generation = image.quota_generation
        self._quotas = {
            entity: values[self._key]
            for entity, values in image.client_quotas.items()
            if self._key in values and IP not in dict(entity)
        }
        levels = 0
        for entity in self._quotas:
            kinds = dict(entity)
            if USER in kinds:
                levels |= _USER_CLIENT_ID_LEVEL if CLIENT_ID in kinds else _USER_LEVEL
            else:
                levels |= _CLIENT_ID_LEVEL
        self._levels = levels
        for tags, sensor in self._sensors.items():
            sensor.bound = self.quota_limit(*tags)

    @property
    def enabled(self) -> bool:
        """Whether any quota of this type exists (Kafka's C{quotasEnabled})."""
        self._refresh()
        return self._levels != 0

    def _has(self, user: str | None, client_id: str | None) -> bool:
        return _entity(user, client_id) in self._quotas

    def metric_tags(self, user: str, client_id: str) -> tuple[str, str]:
        """The (user, client-id) tags of the sensor a client records to (C{quotaMetricTags})."""
        self._refresh()
        levels = self._levels
        if levels in (0, _CLIENT_ID_LEVEL):
            return (_ABSENT, client_id)
        if levels == _USER_LEVEL:
            return (user, _ABSENT)
        if levels == _USER_CLIENT_ID_LEVEL:
            return (user, client_id)
        if self._has(user, client_id) or self._has(user, None):
            return (user, client_id)
        if self._has(user, _ABSENT):
            return (user, _ABSENT)
        if self._has(None, client_id) or self._has(None, None):
            return (user, client_id)
        if self._has(None, _ABSENT):
            return (user, _ABSENT)
        return (_ABSENT, client_id)

    def quota_limit(self, user: str, client_id: str) -> float:
        """The quota of a sensor's tags by Kafka's precedence (C{quotaLimit}); UNLIMITED if none."""
        levels: tuple[_Level, ...]
        if user and client_id:
            levels = ((user, client_id), (user, None), (None, client_id), (None, None))
        elif user:
            levels = ((user, _ABSENT), (None, _ABSENT))
        elif client_id:
            levels = ((_ABSENT, client_id), (_ABSENT, None))
        else:
            levels = ()
        for level in levels:
            quota = self._quotas.get(_entity(*level))
            if quota is not None:
                return quota
        return UNLIMITED

    def quota(self, user: str, client_id: str) -> float:
        """The quota that applies to a client (Kafka's C{quota(user, clientId)})."""
        self._refresh()
        return self.quota_limit(*self.metric_tags(user, client_id))

    def _sensor(self, user: str, client_id: str, now_ms: int) -> QuotaSensor:
        self._refresh()
        if now_ms - self._swept_ms >= 60_000:
            self._swept_ms = now_ms
            for tags in [
                t
                for t, s in self._sensors.items()
                if now_ms - s.rate.last_recorded_ms >= SENSOR_EXPIRATION_MS
            ]:
                del self._sensors[tags]
        tags = self.metric_tags(user, client_id)
        sensor = self._sensors.get(tags)
        if sensor is None:
            sensor = QuotaSensor(Rate(self._window), self.quota_limit(*tags))
            self._sensors[tags] = sensor
        return sensor

    def record(self, user: str, client_id: str, value: float, now_ms: int) -> int:
        """
        Record C{value} for a client; the throttle time in ms, 0 if within its quota.

        Nothing is recorded while no quota of this type exists (Kafka's
        C{maybeRecordAndGetThrottleTimeMs}).
        """
        if not self.enabled:
            return 0
        throttle = self._sensor(user, client_id, now_ms).record(value, now_ms)
        if self._max_throttle_ms is not None:
            throttle = min(throttle, self._max_throttle_ms)
        return throttle

    def unrecord(self, user: str, client_id: str, value: float, now_ms: int) -> None:
        """Take back a recorded C{value} (Kafka's C{unrecordQuotaSensor}: a throttled fetch)."""
        if self.enabled:
            self._sensor(user, client_id, now_ms).record(-value, now_ms, check=False)

    def max_value_in_window(self, user: str, client_id: str, now_ms: int) -> float:
        """
        The most one recording may be without a certain throttle (C{getMaxValueInQuotaWindow}).

        The quota times C{samples - 1} windows; unbounded while no quota exists.
        """
        if not self.enabled:
            return float("inf")
        bound = self._sensor(user, client_id, now_ms).bound
        return bound * (self._window.samples - 1) * self._window.window_ms / 1000


@define
class ClientQuotas:
    """The broker's quota managers (Kafka's C{QuotaFactory.QuotaManagers}), one per quota type."""

    produce: ClientQuotaManager
    fetch: ClientQuotaManager
    request: ClientQuotaManager
    window: QuotaWindow

    @classmethod
    def create(cls, source: QuotaSource, window: QuotaWindow) -> ClientQuotas:
        """The managers over the quotas of C{source}, with sensors of C{window}."""
        return cls(
            produce=ClientQuotaManager("producer_byte_rate", source, window),
            fetch=ClientQuotaManager("consumer_byte_rate", source, window),
            request=ClientQuotaManager(
                "request_percentage", source, window, max_throttle_ms=window.window_ms
            ),
            window=window,
        )


__all__ = ["UNLIMITED", "ClientQuotaManager", "ClientQuotas", "QuotaSource"]
