"""Dynamic broker configs: synonyms, types, sensitivity and Kafka's update validation.

Dynamic updates (AlterConfigs / IncrementalAlterConfigs on a BROKER
resource) are validated as Kafka's ``DynamicBrokerConfig.validate`` does:
static keys are refused with ``Cannot update these configs dynamically``,
per-broker keys at the cluster-default level with ``Cannot update these
configs at default cluster level``, and bad values with ``ConfigDef``'s
``Invalid value ... for configuration ...`` message, all as INVALID_REQUEST
(KAFKA-13609: Kafka maps them so). Synonyms follow
``DynamicBrokerConfig.brokerConfigSynonyms``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from kafkatwist.config.broker_configs import BROKER_CONFIGS, PER_BROKER, is_kafka_key
from kafkatwist.config.ssl_broker_configs import RECONFIGURABLE
from kafkatwist.config.topic_config import SYNONYM_OF
from kafkatwist.config.values import TYPE_PASSWORD, TYPE_STRING, value_error
from kafkatwist.errors import ErrorCode, KafkaError

__all__ = [
    "broker_synonyms",
    "config_type",
    "is_dynamic",
    "is_sensitive",
    "validate_dynamic",
]

#: Dynamic keys kafkatwist refuses to change at run time although Kafka can:
#: it would have to re-bind or re-authenticate its listeners.
NOT_UPDATABLE_HERE = frozenset(
    {
        "listeners",
        "advertised.listeners",
        "listener.security.protocol.map",
        "sasl.enabled.mechanisms",
        "sasl.mechanism.inter.broker.protocol",
    }
)

#: Kafka's per-broker listener configs that are nonetheless cluster-level.
_CLUSTER_LEVEL_LISTENER_CONFIGS = frozenset(
    {"max.connections", "max.connection.creation.rate", "num.network.threads"}
)

_LISTENER_CONFIG = re.compile(r"listener\.name\.[^.]*\.(.*)")


def broker_synonyms(name: str) -> list[str]:
    """
    Kafka's C{DynamicBrokerConfig.brokerConfigSynonyms(name, matchListenerOverride=true)}.

    The synonym groups are the topic table's: a key in another unit
    (C{log.retention.hours}) or the first of a group lists the whole group.
    """
    found = SYNONYM_OF.get(name)
    if found is not None:
        d, synonym = found
        names = d.synonym_names
        if len(names) > 1 and (synonym.scale != 1 or name == names[0]):
            return names
    match = _LISTENER_CONFIG.fullmatch(name)
    if match is not None:
        return [name, match.group(1)]
    return [name]


def config_type(name: str) -> int | None:
    """The ConfigType of a broker key, or None for a key Kafka does not define."""
    d = BROKER_CONFIGS.get(name)
    if d is not None:
        return d.type
    match = _LISTENER_CONFIG.fullmatch(name)
    if match is not None:
        # A listener's (or a listener's mechanism's) override has its base key's
        # type (Kafka's KafkaConfig.configType): an inline PEM key stays a PASSWORD.
        base = match.group(1)
        for synonym in (base, base.partition(".")[2]):
            d = BROKER_CONFIGS.get(synonym)
            if d is not None:
                return d.type
    if is_kafka_key(name):
        # Kafka defines it; kafkatwist does not catalogue its type. Kafka's
        # PASSWORD keys are its passwords, JAAS configs, secrets and keys
        # (delegation.token.secret.key and its alias delegation.token.master.key).
        secret = any(word in name for word in ("password", "secret")) or name.endswith(
            ("jaas.config", ".key")
        )
        return TYPE_PASSWORD if secret else TYPE_STRING
    return None


def is_sensitive(name: str) -> bool:
    """Kafka's C{KafkaConfig.maybeSensitive}: passwords and keys of unknown type."""
    t = config_type(name)
    return t is None or t == TYPE_PASSWORD


def is_dynamic(name: str) -> bool:
    """Whether Kafka lets C{name} change at run time (C{read_only} is the negation)."""
    d = BROKER_CONFIGS.get(name)
    return d is not None and not d.read_only


def validate_dynamic(props: Mapping[str, str], per_broker: bool) -> None:
    """
    Validate a BROKER resource's complete set of dynamic configs.

    @param per_broker: True for a broker id resource, False for the cluster
        default (the empty name).
    @raise KafkaError: INVALID_REQUEST with Kafka's message.
    """
    names = set(props)
    static = sorted(n for n in names if n in BROKER_CONFIGS and not is_dynamic(n))
    refused = sorted(n for n in names if n in NOT_UPDATABLE_HERE)
    _refuse(static + refused, "Cannot update these configs dynamically")
    _refuse(
        sorted(names & RECONFIGURABLE),
        "These security configs can be dynamically updated only per-listener using the "
        "listener prefix",
    )
    for name in sorted(names):
        d = BROKER_CONFIGS.get(name)
        if d is None:
            continue  # custom configs are allowed (DynamicConfig.Broker allows them)
        message = value_error(d.type, d.validator, name, props[name])
        if message is not None:
            raise KafkaError(ErrorCode.INVALID_REQUEST, message)
    if not per_broker:
        per_broker_only = sorted(n for n in names if _per_broker_only(n))
        _refuse(
            per_broker_only,
            "Cannot update these configs at default cluster level, broker id must be specified",
        )


def _per_broker_only(name: str) -> bool:
    """Whether C{name} may only be set for one broker, not as the cluster default."""
    d = BROKER_CONFIGS.get(name)
    if d is not None:
        return d.mode == PER_BROKER
    match = _LISTENER_CONFIG.fullmatch(name)
    return match is not None and match.group(1) not in _CLUSTER_LEVEL_LISTENER_CONFIGS


def _refuse(names: Iterable[str], message: str) -> None:
    names = list(names)
    if names:
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"{message}: Set({', '.join(names)})")
