"""Client telemetry (KIP-714): subscriptions, client instances and pushed metrics.

After Kafka's C{ClientMetricsManager}, C{ClientMetricsInstance} and
C{ClientMetricsConfigs}:

* subscriptions are the CLIENT_METRICS (16) config resources in the
  metadata log (IncrementalAlterConfigs writes them as ConfigRecords):
  ``metrics`` (a list of metric name prefixes, ``*`` for all),
  ``interval.ms`` (100 to 3600000, default 300000) and ``match`` (a list
  of ``attribute=regex``, every one of which must fully match the client);
* a client instance (GetTelemetrySubscriptions with the zero id gets a new
  one) is matched against every subscription once, and again when the
  subscriptions change: its metrics are the union of the matching
  subscriptions' (just ``*`` if one has it), its push interval the
  smallest of theirs (300000 with none), its subscription id a CRC32C of
  both xor'ed with the id's Java hash;
* requests are paced as Kafka paces them: a GetTelemetrySubscriptions
  within the push interval of the instance's last request (unless the
  last push failed with UNKNOWN_SUBSCRIPTION_ID or
  UNSUPPORTED_COMPRESSION_TYPE: what Kafka's C{validateGetRequest} means
  to allow, though its condition is always true), or a
  PushTelemetry within the interval of the last push (unless the last
  request was a GetTelemetrySubscriptions, or the push is terminating),
  is THROTTLING_QUOTA_EXCEEDED;
* an instance is forgotten C{max(60 s, 3 push intervals)} after its last
  request (Kafka's expiration timer; here checked when instances are
  looked up) and at most 16384 are kept (least recently used first out);
* a pushed payload is handed to the exporter hook (L{ClientMetricsManager.exporter},
  none yet: the payloads are counted in L{ClientMetricsManager.pushes}).

The client attributes matched are the instance id, the client id, the
source address and port, and the client software name and version of the
connection's ApiVersions request (v3+; L{ClientMetricsManager.note_software}
keeps them by peer address, the newest 16384 connections).
"""

from __future__ import annotations

import re
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import ClassVar

from attrs import define, field, frozen

from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.storage.interfaces import IMetadataStore
from kafkatwist.wire.crc32c import crc32c

RESOURCE_CLIENT_METRICS = 16
METRICS, INTERVAL_MS, MATCH = "metrics", "interval.ms", "match"
CONFIG_NAMES = (METRICS, INTERVAL_MS, MATCH)
DEFAULT_INTERVAL_MS = 300_000
MIN_INTERVAL_MS, MAX_INTERVAL_MS = 100, 3_600_000
ALL_METRICS = "*"
MATCH_ATTRIBUTES = frozenset(
    {
        "client_instance_id",
        "client_id",
        "client_software_name",
        "client_software_version",
        "client_source_address",
        "client_source_port",
    }
)
#: Kafka's C{telemetry.max.bytes} default (the broker config sets the manager's max_bytes).
TELEMETRY_MAX_BYTES = 1_048_576
#: The compression types offered to clients, Kafka's order: zstd, lz4, gzip, snappy.
ACCEPTED_COMPRESSION_TYPES = (4, 3, 1, 2)
#: Kafka's C{CompressionType} ids (none, gzip, snappy, lz4, zstd).
COMPRESSION_TYPES = range(5)
CACHE_MAX_SIZE = 16384
CACHE_EXPIRY_MS = 60_000


def _split(value: str) -> list[str]:
    """A Kafka LIST config value: comma-separated, trimmed, empty items dropped."""
    return [item.strip() for item in value.split(",") if item.strip()]


def parse_match(patterns: list[str]) -> dict[str, re.Pattern[str]]:
    """Kafka's C{ClientMetricsConfigs.parseMatchingPatterns}; INVALID_CONFIG when malformed."""
    parsed = {}
    for pattern in patterns:
        pair = pattern.split("=")
        if len(pair) != 2 or pair[0].strip() not in MATCH_ATTRIBUTES:
            raise KafkaError(
                ErrorCode.INVALID_CONFIG, f"Illegal client matching pattern: {pattern}"
            )
        try:
            parsed[pair[0].strip()] = re.compile(pair[1].strip())
        except re.error:
            raise KafkaError(
                ErrorCode.INVALID_CONFIG, f"Illegal client matching pattern: {pattern}"
            ) from None
    return parsed


def validate(name: str, configs: Mapping[str, str]) -> None:
    """
    Kafka's C{ClientMetricsConfigs.validate} of a subscription's whole config set.

    @raise KafkaError: INVALID_REQUEST (empty name, unknown key, interval
        out of range) or INVALID_CONFIG (a value that does not parse).
    """
    if not name:
        raise KafkaError(ErrorCode.INVALID_REQUEST, "Subscription name can't be empty")
    for key in configs:
        if key not in CONFIG_NAMES:
            raise KafkaError(
                ErrorCode.INVALID_REQUEST, f"Unknown client metrics configuration: {key}"
            )
    if INTERVAL_MS in configs:
        raw = configs[INTERVAL_MS].strip()
        try:
            interval = int(raw)
        except ValueError:
            raise KafkaError(
                ErrorCode.INVALID_CONFIG,
                f"Invalid value {raw} for configuration {INTERVAL_MS}: Not a number of type INT",
            ) from None
        if not MIN_INTERVAL_MS <= interval <= MAX_INTERVAL_MS:
            raise KafkaError(
                ErrorCode.INVALID_REQUEST,
                f"Invalid value {interval} for {INTERVAL_MS}, interval must be between 100 and "
                "3600000 (1 hour)",
            )
    if MATCH in configs:
        parse_match(_split(configs[MATCH]))


@frozen
class Subscription:
    """One CLIENT_METRICS resource, parsed."""

    name: str
    metrics: frozenset[str]
    interval_ms: int
    match: Mapping[str, re.Pattern[str]]

    @classmethod
    def parse(cls, name: str, configs: Mapping[str, str]) -> Subscription:
        interval = configs.get(INTERVAL_MS, "").strip()
        return cls(
            name,
            frozenset(_split(configs.get(METRICS, ""))),
            int(interval) if interval.isdigit() else DEFAULT_INTERVAL_MS,
            parse_match(_split(configs.get(MATCH, ""))),
        )

    def matches(self, attributes: Mapping[str, str]) -> bool:
        """Kafka's C{ClientMetricsInstanceMetadata.isMatch}: every pattern fully matches."""
        for attribute, pattern in self.match.items():
            value = attributes.get(attribute)
            if value is None or pattern.fullmatch(value) is None:
                return False
        return True


def java_uuid_hash(u: uuid.UUID) -> int:
    """Kafka's C{Uuid.hashCode}, as a signed 32-bit int."""
    msb, lsb = u.int >> 64, u.int & (2**64 - 1)
    h = msb ^ lsb
    value = ((h >> 32) ^ h) & 0xFFFFFFFF
    return value - 2**32 if value >= 2**31 else value


def subscription_id(metrics: frozenset[str], interval_ms: int, instance_id: uuid.UUID) -> int:
    """Kafka's C{computeSubscriptionId}: CRC32C of the metrics and interval, xor the id's hash."""
    text = "[" + ", ".join(sorted(metrics)) + "]" + str(interval_ms)
    crc = crc32c(text.encode("utf-8"))
    signed = crc - 2**32 if crc >= 2**31 else crc
    value = (signed ^ java_uuid_hash(instance_id)) & 0xFFFFFFFF
    return value - 2**32 if value >= 2**31 else value


@define
class ClientInstance:
    """One client instance (Kafka's C{ClientMetricsInstance})."""

    instance_id: uuid.UUID
    attributes: Mapping[str, str]
    subscription_id: int
    subscriptions_version: int
    metrics: frozenset[str]
    push_interval_ms: int
    last_get_ms: int = 0
    last_push_ms: int = 0
    last_seen_ms: int = 0
    terminating: bool = False
    #: The error of the last request (Kafka's C{lastKnownError}).
    last_error: ErrorCode = ErrorCode.NONE

    def may_get(self, now: int) -> bool:
        """Kafka's C{maybeUpdateGetRequestTimestamp}."""
        if now - max(self.last_get_ms, self.last_push_ms) >= self.push_interval_ms:
            self.last_get_ms = now
            return True
        return False

    def may_push(self, now: int) -> bool:
        """Kafka's C{maybeUpdatePushRequestTimestamp}: a push right after a get is accepted."""
        accept = self.last_get_ms > self.last_push_ms or (
            now - self.last_push_ms >= self.push_interval_ms
        )
        if accept:
            self.last_push_ms = now
        return accept


@frozen
class Push:
    """A pushed payload, as the exporter hook receives it."""

    instance_id: uuid.UUID
    compression_type: int
    metrics: bytes
    attributes: Mapping[str, str]


@define
class ClientMetricsManager:
    """The broker side of KIP-714 (see the module docstring)."""

    _metadata: IMetadataStore
    #: Called with each accepted payload that holds metrics (None: no exporter yet).
    exporter: Callable[[Push], None] | None = None
    #: The payloads accepted so far (for the ecosystem's exporter to come, and tests).
    pushes: int = 0
    pushed_bytes: int = 0
    max_bytes: int = TELEMETRY_MAX_BYTES
    _instances: OrderedDict[uuid.UUID, ClientInstance] = field(factory=OrderedDict)
    #: The client software (name, version) of each connection, by peer address.
    _software: OrderedDict[str, tuple[str, str]] = field(factory=OrderedDict)
    _subscriptions_key: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    _subscriptions: tuple[Subscription, ...] = ()
    _version: int = 0
    #: The metadata log offset the subscriptions were last read at (-1: never).
    _read_at: int = -1
    _next_sweep_ms: int = 0
    _random_id: Callable[[], uuid.UUID] = uuid.uuid4
    RESERVED: ClassVar[frozenset[uuid.UUID]] = frozenset({uuid.UUID(int=0), uuid.UUID(int=1)})

    def note_software(self, peer: str, name: str, version: str) -> None:
        """Remember the client software a connection named in its ApiVersions request."""
        self._software[peer] = (name, version)
        self._software.move_to_end(peer)
        while len(self._software) > CACHE_MAX_SIZE:
            self._software.popitem(last=False)

    def software(self, peer: str) -> tuple[str, str] | None:
        """The client software (name, version) of the connection from C{peer}, if it said."""
        return self._software.get(peer)

    def subscriptions(self) -> tuple[Subscription, ...]:
        """The current subscriptions; the version moves when they change."""
        if self._metadata.next_offset == self._read_at:
            return self._subscriptions  # no metadata record since the last look
        self._read_at = self._metadata.next_offset
        configs = self._metadata.image.configs
        key = tuple(
            sorted(
                (name, tuple(sorted(values.items())))
                for (kind, name), values in configs.items()
                if kind == RESOURCE_CLIENT_METRICS and values
            )
        )
        if key != self._subscriptions_key:
            subs = []
            for name, values in key:
                try:
                    subs.append(Subscription.parse(name, dict(values)))
                except KafkaError:
                    continue  # validated when written; a bad one matches no client
            self._subscriptions_key, self._subscriptions = key, tuple(subs)
            self._version += 1
        return self._subscriptions

    def _evaluate(self, instance_id: uuid.UUID, attributes: Mapping[str, str]) -> ClientInstance:
        """Kafka's C{createClientInstance}: the matching subscriptions, merged."""
        interval, metrics, everything = DEFAULT_INTERVAL_MS, set[str](), False
        for sub in self.subscriptions():
            if sub.matches(attributes):
                everything = everything or ALL_METRICS in sub.metrics
                metrics |= sub.metrics
                interval = min(interval, sub.interval_ms)
        chosen = frozenset({ALL_METRICS}) if everything else frozenset(metrics)
        return ClientInstance(
            instance_id,
            attributes,
            subscription_id(chosen, interval, instance_id),
            self._version,
            chosen,
            interval,
        )

    def _instance(
        self, instance_id: uuid.UUID, attributes: Mapping[str, str], now: int
    ) -> ClientInstance:
        self._expire(now)
        self.subscriptions()
        instance = self._instances.get(instance_id)
        if instance is None or instance.subscriptions_version < self._version:
            # Kafka re-evaluates a known instance with the metadata it first came with.
            known = attributes if instance is None else instance.attributes
            instance = self._evaluate(instance_id, known)
        self._instances[instance_id] = instance
        self._instances.move_to_end(instance_id)
        while len(self._instances) > CACHE_MAX_SIZE:
            self._instances.popitem(last=False)
        instance.last_seen_ms = now
        return instance

    def _expire(self, now: int) -> None:
        """Drop the instances not seen for long enough; a sweep at most once a second."""
        if now < self._next_sweep_ms:
            return
        self._next_sweep_ms = now + 1000
        expired = [
            i.instance_id
            for i in self._instances.values()
            if now - i.last_seen_ms >= max(CACHE_EXPIRY_MS, 3 * i.push_interval_ms)
        ]
        for instance_id in expired:
            del self._instances[instance_id]

    def get_subscriptions(
        self, instance_id: uuid.UUID, attributes: Mapping[str, str], now: int
    ) -> tuple[uuid.UUID, ClientInstance]:
        """
        Kafka's C{processGetTelemetrySubscriptionRequest}: the instance (a new id for zero).

        @raise KafkaError: THROTTLING_QUOTA_EXCEEDED within the push interval.
        """
        if instance_id == uuid.UUID(int=0):
            instance_id = self._random_id()
            while instance_id in self._instances or instance_id in self.RESERVED:
                instance_id = self._random_id()
        attributes = {**attributes, "client_instance_id": str(instance_id)}
        instance = self._instance(instance_id, attributes, now)
        # A client told its subscription id or compression is stale asks again at once.
        stale = instance.last_error in (
            ErrorCode.UNKNOWN_SUBSCRIPTION_ID,
            ErrorCode.UNSUPPORTED_COMPRESSION_TYPE,
        )
        if stale:
            instance.last_get_ms = now
        elif not instance.may_get(now):
            raise KafkaError(
                ErrorCode.THROTTLING_QUOTA_EXCEEDED,
                f"Request from the client [{instance_id}] arrived before the next push "
                "interval time",
            )
        instance.last_error = ErrorCode.NONE
        return instance_id, instance

    def push(
        self,
        instance_id: uuid.UUID,
        subscription: int,
        terminating: bool,
        compression_type: int,
        metrics: bytes,
        attributes: Mapping[str, str],
        now: int,
    ) -> None:
        """
        Kafka's C{processPushTelemetryRequest}: check the push, then hand the payload on.

        @raise KafkaError: INVALID_REQUEST (reserved id, or a push after a
            terminating one), THROTTLING_QUOTA_EXCEEDED, UNKNOWN_SUBSCRIPTION_ID,
            UNSUPPORTED_COMPRESSION_TYPE, TELEMETRY_TOO_LARGE.
        """
        if instance_id in self.RESERVED:
            raise KafkaError(
                ErrorCode.INVALID_REQUEST,
                f"Invalid request from the client [{instance_id}], invalid client instance id",
            )
        attributes = {**attributes, "client_instance_id": str(instance_id)}
        instance = self._instance(instance_id, attributes, now)
        try:
            self._check_push(instance, subscription, terminating, compression_type, metrics, now)
        except KafkaError as e:
            instance.last_error = e.code
            raise
        finally:
            instance.terminating = terminating
        instance.last_error = ErrorCode.NONE
        if metrics:
            self.pushes += 1
            self.pushed_bytes += len(metrics)
            if self.exporter is not None:
                self.exporter(Push(instance_id, compression_type, metrics, instance.attributes))

    def _check_push(
        self,
        instance: ClientInstance,
        subscription: int,
        terminating: bool,
        compression_type: int,
        metrics: bytes,
        now: int,
    ) -> None:
        who = instance.instance_id
        if instance.terminating:
            raise KafkaError(
                ErrorCode.INVALID_REQUEST,
                f"Client [{who}] sent the previous request with state terminating to TRUE, can "
                "not acceptany requests after that",
            )
        if not instance.may_push(now) and not terminating:
            raise KafkaError(
                ErrorCode.THROTTLING_QUOTA_EXCEEDED,
                f"Request from the client [{who}] arrived before the next push interval time",
            )
        if subscription != instance.subscription_id:
            raise KafkaError(
                ErrorCode.UNKNOWN_SUBSCRIPTION_ID,
                f"Unknown client subscription id for the client [{who}]",
            )
        if compression_type not in COMPRESSION_TYPES:
            raise KafkaError(
                ErrorCode.UNSUPPORTED_COMPRESSION_TYPE,
                f"Unknown compression type [{compression_type}] is received in telemetry "
                f"request from [{who}]",
            )
        if len(metrics) > self.max_bytes:
            raise KafkaError(
                ErrorCode.TELEMETRY_TOO_LARGE,
                f"Telemetry request from [{who}] is larger than the maximum allowed size "
                f"[{self.max_bytes}]",
            )


__all__ = [
    "ACCEPTED_COMPRESSION_TYPES",
    "RESOURCE_CLIENT_METRICS",
    "ClientInstance",
    "ClientMetricsManager",
    "Push",
    "Subscription",
    "subscription_id",
    "validate",
]
