"""What a SASL listener serves, from Kafka's broker configs.

Per listener, each key read first with the listener's prefix
(C{listener.name.<listener lower-case>.}), then without:

* C{sasl.enabled.mechanisms} (Kafka's default: C{GSSAPI}): kafkatwist
  serves PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512; the others (GSSAPI,
  OAUTHBEARER) are left out with a warning, and a listener left with none
  refuses to start;
* C{connections.max.reauth.ms} (KIP-368), also per mechanism
  (C{listener.name.<listener>.<mechanism lower-case>.connections.max.reauth.ms});
* C{connection.failed.authentication.delay.ms} (default 100): a failed
  authentication's connection is muted and closed that much later;
* C{sasl.server.max.receive.size} (default 524288): the largest frame
  before authentication (a larger one closes the connection);
* PLAIN's users: the C{user_<name>="<password>"} options of
  C{listener.name.<listener>.plain.sasl.jaas.config}, else of
  C{sasl.jaas.config} (one C{PlainLoginModule} entry, Kafka's JAAS
  syntax), or a Python callable C{(username, password) -> bool} named by
  C{listener.name.<listener>.plain.sasl.server.callback.handler.class}
  (or C{sasl.server.callback.handler.class}) as C{module:attribute}.
"""

from __future__ import annotations

from collections.abc import Mapping

from attrs import field, frozen

from kafkatwist.security.jaas import single_entry
from kafkatwist.security.plain import (
    PLAIN_LOGIN_MODULE,
    PlainAuthenticate,
    jaas_users,
    load_callback,
)
from kafkatwist.security.scram import MECHANISMS

PLAIN = "PLAIN"
#: The mechanisms kafkatwist serves.
SERVED_MECHANISMS = (PLAIN, *MECHANISMS)
SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")


#: Kafka's default C{connection.failed.authentication.delay.ms}.
FAILURE_DELAY_MS = 100
#: Kafka's default C{sasl.server.max.receive.size} (C{BrokerSecurityConfigs}).
MAX_RECEIVE_SIZE = 524288


class SaslConfigError(ValueError):
    """A SASL listener that cannot be served as configured (one line saying why)."""


@frozen
class SaslListenerConfig:
    """
    One SASL listener's mechanisms, session lifetimes and PLAIN users.

    @ivar mechanisms: Enabled and served, in the configured order (what a
        SaslHandshake response lists).
    @ivar reauth_ms: C{connections.max.reauth.ms} by mechanism (0: sessions never expire).
    @ivar plain: Checks PLAIN passwords; None when PLAIN is not enabled.
    @ivar ignored: Enabled mechanisms kafkatwist cannot serve.
    @ivar failure_delay_ms: C{connection.failed.authentication.delay.ms}:
        how long a failed authentication's connection stays muted before it closes.
    @ivar max_receive_size: C{sasl.server.max.receive.size}: the largest
        frame a connection may send before it is authenticated.
    """

    listener: str
    mechanisms: tuple[str, ...]
    reauth_ms: Mapping[str, int] = field(factory=dict)
    plain: PlainAuthenticate | None = None
    ignored: tuple[str, ...] = ()
    failure_delay_ms: int = 0
    max_receive_size: int = MAX_RECEIVE_SIZE


def _lookup(
    properties: Mapping[str, str], listener: str, key: str, mechanism: str | None = None
) -> str | None:
    prefix = f"listener.name.{listener.lower()}."
    keys = [f"{prefix}{mechanism.lower()}.{key}"] if mechanism else []
    keys += [f"{prefix}{key}", key]
    for name in keys:
        if name in properties:
            return properties[name]
    return None


def _plain(properties: Mapping[str, str], listener: str) -> PlainAuthenticate:
    callback = _lookup(properties, listener, "sasl.server.callback.handler.class", PLAIN)
    if callback:
        try:
            return load_callback(callback.strip())
        except ValueError as e:
            raise SaslConfigError(f"listener {listener}: PLAIN callback handler: {e}") from e
    jaas = _lookup(properties, listener, "sasl.jaas.config", PLAIN)
    if jaas is None:
        raise SaslConfigError(
            f"listener {listener} enables PLAIN but sets neither "
            f"listener.name.{listener.lower()}.plain.sasl.jaas.config (or sasl.jaas.config) "
            "nor a PLAIN sasl.server.callback.handler.class"
        )
    try:
        entry = single_entry(jaas)
    except ValueError as e:
        raise SaslConfigError(f"listener {listener}: sasl.jaas.config: {e}") from e
    if entry.login_module != PLAIN_LOGIN_MODULE:
        raise SaslConfigError(
            f"listener {listener}: the PLAIN sasl.jaas.config names {entry.login_module}, "
            f"expected {PLAIN_LOGIN_MODULE}"
        )
    return jaas_users(entry.options)


def _ms(
    properties: Mapping[str, str], listener: str, key: str, default: int, mechanism: str = ""
) -> int:
    raw = _lookup(properties, listener, key, mechanism or None)
    if raw is None:
        return default
    try:
        return max(0, int(raw.strip()))
    except ValueError as e:
        raise SaslConfigError(f"listener {listener}: {key} {raw!r} is not a number") from e


def sasl_listener_config(properties: Mapping[str, str], listener: str) -> SaslListenerConfig:
    """
    The SASL setup of listener C{listener} from the broker's raw properties.

    @raise SaslConfigError: when no enabled mechanism can be served, or
        PLAIN is enabled without users.
    """
    raw = _lookup(properties, listener, "sasl.enabled.mechanisms") or "GSSAPI"
    enabled = [m.strip() for m in raw.split(",") if m.strip()]
    served = tuple(m for m in enabled if m in SERVED_MECHANISMS)
    ignored = tuple(m for m in enabled if m not in SERVED_MECHANISMS)
    if not served:
        raise SaslConfigError(
            f"listener {listener} enables SASL mechanisms {', '.join(enabled) or '(none)'}; "
            f"kafkatwist serves only {', '.join(SERVED_MECHANISMS)} "
            f"(set listener.name.{listener.lower()}.sasl.enabled.mechanisms)"
        )
    return SaslListenerConfig(
        listener=listener,
        mechanisms=served,
        reauth_ms={m: _ms(properties, listener, "connections.max.reauth.ms", 0, m) for m in served},
        plain=_plain(properties, listener) if PLAIN in served else None,
        ignored=ignored,
        failure_delay_ms=_ms(
            properties, listener, "connection.failed.authentication.delay.ms", FAILURE_DELAY_MS
        ),
        max_receive_size=_ms(
            properties, listener, "sasl.server.max.receive.size", MAX_RECEIVE_SIZE
        ),
    )
