"""Kafka broker config keys that L{kafkatwist.config.broker_configs} has no entry for."""

from __future__ import annotations

#: Kafka broker configs the table above leaves out (a single broker has no use for them).
MORE_KAFKA_KEYS = frozenset(
    {
        "advertised.host.name",
        "advertised.port",
        "auto.include.jmx.reporter",
        "broker.id.generation.enable",
        "control.plane.listener.name",
        "controlled.shutdown.enable",
        "controlled.shutdown.max.retries",
        "controlled.shutdown.retry.backoff.ms",
        "eligible.leader.replicas.enable",
        "host.name",
        "inter.broker.protocol.version",
        "log.delete.delay.ms",
        "log.message.format.version",
        "log.message.timestamp.difference.max.ms",
        "offsets.commit.required.acks",
        "port",
        "reserved.broker.max.id",
        "zookeeper.connect",
    }
)

#: Families of Kafka configs, matched by prefix.
KAFKA_PREFIXES = (
    "controller.",
    "delegation.token.",
    "group.consumer.",
    "group.coordinator.",
    "group.share.",
    "kafka.metrics.",
    "listener.name.",
    "log.cleaner.",
    "metadata.",
    "metric.",
    "metrics.",
    "password.encoder.",
    "quota.",
    "remote.log.",
    "replica.",
    "sasl.",
    "share.",
    "ssl.",
    "transaction.",
    "zookeeper.",
)

#: The SASL keys kafkatwist reads (L{kafkatwist.security.sasl_config}), each also
#: under C{listener.name.<listener>.} and C{listener.name.<listener>.<mechanism>.}.
SASL_KEYS = frozenset(
    {
        "connection.failed.authentication.delay.ms",
        "connections.max.reauth.ms",
        "sasl.enabled.mechanisms",
        "sasl.jaas.config",
        "sasl.server.callback.handler.class",
        "sasl.server.max.receive.size",
    }
)


def is_sasl_key(key: str) -> bool:
    """Whether C{key} is one of L{SASL_KEYS}, with or without a listener (and mechanism) prefix."""
    if key.startswith("listener.name."):
        key = key.split(".", 3)[-1]
        for name in SASL_KEYS:
            if key == name or key.endswith("." + name) and "." not in key[: -len(name) - 1]:
                return True
        return False
    return key in SASL_KEYS
