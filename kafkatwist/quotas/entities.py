"""Client quota entities and keys: what AlterClientQuotas accepts and DescribeClientQuotas matches.

An entity is a set of (entity type, name) pairs, the types among C{user},
C{client-id} and C{ip}; a None name is the type's default entity. The rules
are Kafka's controller's (C{ClientQuotaControlManager}) and image's
(C{ClientQuotasImage.describe}):

* L{check_entity}: an entity is not empty, names no type twice and only
  the three known types, has no empty name, and combines C{ip} with
  nothing; an C{ip} name must be an address or a host name (Kafka resolves
  it; here its form is checked, since a lookup would block the reactor);
* L{check_value}: C{user}/C{client-id} entities take C{producer_byte_rate},
  C{consumer_byte_rate} (longs), C{request_percentage} and
  C{controller_mutation_rate} (doubles); C{ip} entities take
  C{connection_creation_rate} (an int); a value is above 0, and integral
  for the integer keys (within 1e-6) and within the type's range;
* L{QuotaFilter}: a filter's components name each type once, with match
  type EXACT (a name), DEFAULT (no name) or SPECIFIED (no name: any name
  but the default), and combine C{ip} with no other type; C{strict} keeps
  only entities with exactly the filter's types.

Every refusal is INVALID_REQUEST with Kafka's message, except an unknown
type in a filter, which Kafka answers with UNSUPPORTED_VERSION.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable, Mapping

from attrs import frozen

from kafkatwist.errors import ErrorCode, KafkaError

USER, CLIENT_ID, IP = "user", "client-id", "ip"
ENTITY_TYPES = (USER, CLIENT_ID, IP)

PRODUCER_BYTE_RATE = "producer_byte_rate"
CONSUMER_BYTE_RATE = "consumer_byte_rate"
REQUEST_PERCENTAGE = "request_percentage"
CONTROLLER_MUTATION_RATE = "controller_mutation_rate"
CONNECTION_CREATION_RATE = "connection_creation_rate"

_LONG, _INT, _DOUBLE = "LONG", "INT", "DOUBLE"
#: Kafka's C{QuotaConfig.userAndClientQuotaConfigs()} and their types.
USER_CLIENT_KEYS = {
    PRODUCER_BYTE_RATE: _LONG,
    CONSUMER_BYTE_RATE: _LONG,
    REQUEST_PERCENTAGE: _DOUBLE,
    CONTROLLER_MUTATION_RATE: _DOUBLE,
}
#: Kafka's C{QuotaConfig.ipConfigs()}.
IP_KEYS = {CONNECTION_CREATION_RATE: _INT}
_MAX = {_INT: 2**31 - 1, _LONG: 2**63 - 1}

#: The match types of a DescribeClientQuotas filter component.
MATCH_EXACT, MATCH_DEFAULT, MATCH_SPECIFIED = 0, 1, 2

#: An entity: its (type, name) pairs, sorted by type; a None name is the default entity.
Entity = tuple[tuple[str, str | None], ...]


def entity_of(pairs: Iterable[tuple[str, str | None]]) -> Entity:
    """The entity of C{pairs}, in the canonical order (a later pair of the same type wins)."""
    return tuple(sorted(dict(pairs).items(), key=lambda kv: kv[0]))


def describe_entity(entity: Entity) -> str:
    """An entity as Kafka's C{ClientQuotaEntity.toString} prints it."""
    inner = ", ".join(f"{t}={n}" for t, n in entity)
    return f"ClientQuotaEntity(entries={{{inner}}})"


def _invalid(message: str) -> KafkaError:
    return KafkaError(ErrorCode.INVALID_REQUEST, message)


_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def _valid_host(host: str) -> bool:
    """
    An IP address, or a well-formed host name (RFC 1123).

    Kafka asks C{InetAddress.getByName}, which resolves a name; a lookup
    would block the reactor, so a name is checked for its form only.
    """
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return True
    name = host.removesuffix(".")
    return 0 < len(name) <= 253 and all(_LABEL.fullmatch(label) for label in name.split("."))


def check_entity(entity: Entity) -> Mapping[str, str]:
    """
    Validate an AlterClientQuotas entity (C{validateEntity}, C{configKeysForEntityType}).

    @param entity: the entity (as Kafka's request parsing, a type the request
        repeats keeps its last name: L{entity_of}).
    @return: the quota keys the entity takes, with their types.
    @raise KafkaError: INVALID_REQUEST with Kafka's message.
    """
    if not entity:
        raise _invalid("Invalid empty client quota entity")
    for kind, name in entity:
        if kind not in ENTITY_TYPES:
            raise _invalid(f"Unhandled client quota entity type: {kind}")
        if name is not None and not name:
            raise _invalid(f"Empty {kind} not supported")
    names = dict(entity)
    if IP in names:
        if USER in names or CLIENT_ID in names:
            # Kafka's message, its missing space included.
            raise _invalid(
                "Invalid quota entity combination, IP entity shouldnot be combined with "
                "User or ClientId"
            )
        ip = names[IP]
        if ip is not None and not _valid_host(ip):
            raise _invalid(f"{ip} is not a valid IP or resolvable host.")
        return IP_KEYS
    return USER_CLIENT_KEYS


def check_value(keys: Mapping[str, str], key: str, value: float) -> None:
    """
    Validate one quota value to set (Kafka's C{validateQuotaKeyValue}).

    @raise KafkaError: INVALID_REQUEST with Kafka's message.
    """
    kind = keys.get(key)
    if kind is None:
        raise _invalid(f"Invalid configuration key {key}")
    if not math.isfinite(value):
        # Kafka lets NaN through (its checks are comparisons) and then reads
        # it as 0; refused here, so no sensor ever divides by it.
        raise _invalid(f"Quota {key} must be a finite number")
    if value <= 0.0:
        raise _invalid(f"Quota {key} must be greater than 0")
    if kind == _DOUBLE:
        return
    if value > _MAX[kind]:
        article = "an INT" if kind == _INT else "a LONG"
        raise _invalid(f"Proposed value for {key} is too large for {article}.")
    if abs(value % 1.0) > 1e-6:
        raise _invalid(f"{key} cannot be a fractional value.")


@frozen
class QuotaFilter:
    """A DescribeClientQuotas filter, validated (C{ClientQuotasImage.describe})."""

    #: Types that must have this name (None: the default entity).
    exact: Mapping[str, str | None]
    #: Types that must be present with any name but the default.
    specified: frozenset[str]
    strict: bool

    @classmethod
    def parse(cls, components: Iterable[tuple[str, int, str | None]], strict: bool) -> QuotaFilter:
        """
        A filter from its components, C{(entity type, match type, match)}.

        @raise KafkaError: INVALID_REQUEST (UNSUPPORTED_VERSION for an
            unknown entity type) with Kafka's message.
        """
        exact: dict[str, str | None] = {}
        specified: set[str] = set()
        for kind, match_type, match in components:
            if not kind:
                raise _invalid("Invalid empty entity type.")
            if kind in exact or kind in specified:
                raise _invalid(f"Entity type {kind} cannot appear more than once in the filter.")
            if kind not in ENTITY_TYPES:
                raise KafkaError(ErrorCode.UNSUPPORTED_VERSION, f"Unsupported entity type {kind}")
            if match_type == MATCH_EXACT:
                if match is None:
                    raise _invalid(
                        "Request specified MATCH_TYPE_EXACT, but set match string to null."
                    )
                exact[kind] = match
            elif match_type == MATCH_DEFAULT:
                if match is not None:
                    raise _invalid(
                        "Request specified MATCH_TYPE_DEFAULT, but also specified a match string."
                    )
                exact[kind] = None
            elif match_type == MATCH_SPECIFIED:
                if match is not None:
                    raise _invalid(
                        "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string."
                    )
                specified.add(kind)
            else:
                raise _invalid(f"Unknown match type {match_type}")
        named = exact.keys() | specified
        if IP in named and (USER in named or CLIENT_ID in named):
            raise _invalid(
                "Invalid entity filter component combination. IP filter component should not "
                "be used with user or clientId filter component."
            )
        return cls(exact, frozenset(specified), strict)

    def matches(self, entity: Entity) -> bool:
        """
        Whether C{entity} passes the filter (Kafka's C{ClientQuotasImage.matches}).

        A SPECIFIED type only asks that the entity has the type, as Kafka's
        image does (its default entity included).
        """
        names = dict(entity)
        if self.strict and len(names) != len(self.exact) + len(self.specified):
            return False
        for kind, name in self.exact.items():
            if kind not in names or names[kind] != name:
                return False
        return all(kind in names for kind in self.specified)


__all__ = [
    "CLIENT_ID",
    "CONNECTION_CREATION_RATE",
    "CONSUMER_BYTE_RATE",
    "CONTROLLER_MUTATION_RATE",
    "ENTITY_TYPES",
    "IP",
    "IP_KEYS",
    "MATCH_DEFAULT",
    "MATCH_EXACT",
    "MATCH_SPECIFIED",
    "PRODUCER_BYTE_RATE",
    "REQUEST_PERCENTAGE",
    "USER",
    "USER_CLIENT_KEYS",
    "Entity",
    "QuotaFilter",
    "check_entity",
    "check_value",
    "describe_entity",
    "entity_of",
]
