"""A decoded request or response as JSON values, with the names of Kafka's schemas.

L{render} turns a generated model (L{kafkatwist.messages}) into a C{dict}
whose keys are the schema's field names (C{TopicData}, C{PartitionIndex},
L{kafkatwist.trace.names}), with the fields that exist at the message's
version, tagged fields included. The plan of each (struct, version) is
built once from the models' field specs (L{kafkatwist.wire.schema.field_specs})
and cached, so rendering is one pass over the values, linear in their number.

Values: numbers, booleans, strings and nulls as they are; UUIDs as Kafka
prints them (base64url, no padding); C{records} fields summarised from their
batch headers (L{kafkatwist.trace.records}); other C{bytes} fields as
C{{"sizeInBytes": n}}. Secrets are replaced by Kafka's C{"[hidden]"}: SASL
authentication bytes, SCRAM salts and salted passwords, delegation token
HMACs, and the config values Kafka's request log hides (its
C{KafkaConfig.loggableValue}: a broker key of type PASSWORD or of unknown
type, a key that is not a topic config on a topic, a key of a resource type
it does not know).
"""

from __future__ import annotations

import base64
import math
import uuid
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Final, TypeAlias

from kafkatwist.config.dynamic import is_sensitive as broker_key_sensitive
from kafkatwist.config.topic_config import TOPIC_CONFIGS
from kafkatwist.trace.names import kafka_name
from kafkatwist.trace.records import summarize_records
from kafkatwist.wire.schema import field_specs, message_info

__all__ = ["HIDDEN", "Json", "render"]

#: A JSON value.
Json: TypeAlias = None | bool | int | float | str | list["Json"] | dict[str, "Json"]
#: Kafka's C{Password.HIDDEN}: what a secret is logged as.
HIDDEN: Final = "[hidden]"

_PLAIN_TYPES: Final = {"int8", "int16", "uint16", "int32", "uint32", "int64", "bool", "string"}


class _Kind(Enum):
    PLAIN = 1
    FLOAT = 2
    UUID = 3
    BYTES = 4
    RECORDS = 5
    STRUCT = 6
    STRUCTS = 7
    ARRAY = 8
    HIDDEN = 9


#: (struct class name, attribute): fields that are secrets whatever their value.
_SECRETS: Final = frozenset(
    {
        ("SaslAuthenticateRequest", "auth_bytes"),
        ("SaslAuthenticateResponse", "auth_bytes"),
        ("ScramCredentialUpsertion", "salt"),
        ("ScramCredentialUpsertion", "salted_password"),
        ("CreateDelegationTokenResponse", "hmac"),
        ("DescribedDelegationToken", "hmac"),
        ("RenewDelegationTokenRequest", "hmac"),
        ("ExpireDelegationTokenRequest", "hmac"),
    }
)

#: One field of a plan: attribute, Kafka name, kind, element kind (arrays), struct (structs).
_Step: TypeAlias = tuple[str, str, _Kind, _Kind, type | None]
_PLANS: dict[tuple[type, int], tuple[_Step, ...]] = {}


def _kind(type_name: str) -> _Kind:
    if type_name in _PLAIN_TYPES:
        return _Kind.PLAIN
    return {
        "float64": _Kind.FLOAT,
        "uuid": _Kind.UUID,
        "bytes": _Kind.BYTES,
        "records": _Kind.RECORDS,
    }.get(type_name, _Kind.STRUCT)


def _plan(cls: type, version: int) -> tuple[_Step, ...]:
    """The fields of C{cls} at C{version}, in wire order, each with how to render it."""
    plan = _PLANS.get((cls, version))
    if plan is None:
        steps: list[_Step] = []
        for a, spec in field_specs(cls):
            if version not in spec.versions:
                continue
            element = _kind(spec.element_type)
            kind = element
            if (cls.__name__, a.name) in _SECRETS:
                kind = _Kind.HIDDEN
            elif spec.type.startswith("[]"):
                kind = _Kind.STRUCTS if element is _Kind.STRUCT else _Kind.ARRAY
            steps.append((a.name, kafka_name(cls.__name__, a.name), kind, element, spec.struct))
        plan = _PLANS[(cls, version)] = tuple(steps)
    return plan


def _uuid(value: uuid.UUID) -> str:
    """Kafka's C{Uuid.toString()}: the 16 bytes in base64url, without padding."""
    return base64.urlsafe_b64encode(value.bytes).decode("ascii").rstrip("=")


def _float(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


def _size(value: bytes | None) -> Json:
    return None if value is None else {"sizeInBytes": len(value)}


_SCALARS: Final[dict[_Kind, Callable[[object], Json]]] = {
    _Kind.FLOAT: _float,  # type: ignore[dict-item]
    _Kind.UUID: _uuid,  # type: ignore[dict-item]
    _Kind.BYTES: _size,  # type: ignore[dict-item]
    _Kind.RECORDS: summarize_records,  # type: ignore[dict-item]
}


def _struct(obj: object, version: int) -> dict[str, Json]:
    out: dict[str, Json] = {}
    for attribute, name, kind, element, _struct_cls in _plan(type(obj), version):
        value = getattr(obj, attribute)
        if value is None or kind is _Kind.PLAIN:
            out[name] = value
        elif kind is _Kind.STRUCT:
            out[name] = _struct(value, version)
        elif kind is _Kind.STRUCTS:
            out[name] = [_struct(item, version) for item in value]
        elif kind is _Kind.HIDDEN:
            out[name] = HIDDEN
        elif kind is _Kind.ARRAY:
            out[name] = list(value) if element is _Kind.PLAIN else _items(value, element)
        else:
            out[name] = _SCALARS[kind](value)
    return out


def _items(values: Sequence[object], element: _Kind) -> list[Json]:
    convert = _SCALARS[element]
    return [None if v is None else convert(v) for v in values]


def render(message: object, version: int) -> dict[str, Json]:
    """The JSON object of a top-level request or response model at C{version}."""
    out = _struct(message, version)
    hide = _HIDE_CONFIGS.get(message_info(type(message)).name)
    if hide is not None:
        hide(out)
    return out


# --- config values Kafka's request log hides -------------------------------------

_TOPIC, _BROKER = 2, 4
#: BROKER_LOGGER, CLIENT_METRICS, GROUP: nothing secret (Kafka logs their values).
_PLAIN_RESOURCES: Final = frozenset({8, 16, 32})


def sensitive(resource_type: int, name: str) -> bool:
    """Kafka's C{KafkaConfig.loggableValue}: whether a config's value is logged as hidden."""
    if resource_type == _BROKER:
        return broker_key_sensitive(name)
    if resource_type == _TOPIC:
        return name not in TOPIC_CONFIGS
    return resource_type not in _PLAIN_RESOURCES


def _objects(value: Json) -> list[dict[str, Json]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _hide_in(configs: Json, resource_type: Json) -> None:
    """Hide the C{Value} of each sensitive config (and of its synonyms) in C{configs}."""
    for config in _objects(configs):
        name = config.get("Name")
        flagged = config.get("IsSensitive") is True
        if flagged or not isinstance(name, str) or not isinstance(resource_type, int):
            hide = True
        else:
            hide = sensitive(resource_type, name)
        if hide and config.get("Value") is not None:
            config["Value"] = HIDDEN
        if hide:
            for synonym in _objects(config.get("Synonyms")):
                if synonym.get("Value") is not None:
                    synonym["Value"] = HIDDEN


def _resources(key: str) -> Callable[[dict[str, Json]], None]:
    def hide(body: dict[str, Json]) -> None:
        for resource in _objects(body.get(key)):
            _hide_in(resource.get("Configs"), resource.get("ResourceType"))

    return hide


def _topics(body: dict[str, Json]) -> None:
    for topic in _objects(body.get("Topics")):
        _hide_in(topic.get("Configs"), _TOPIC)


_HIDE_CONFIGS: Final[dict[str, Callable[[dict[str, Json]], None]]] = {
    "AlterConfigsRequest": _resources("Resources"),
    "IncrementalAlterConfigsRequest": _resources("Resources"),
    "DescribeConfigsResponse": _resources("Results"),
    "CreateTopicsRequest": _topics,
    "CreateTopicsResponse": _topics,
}
