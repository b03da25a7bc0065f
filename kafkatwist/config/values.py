"""Config value types: Kafka's C{ConfigDef.Type}s, parsing, printing and validators.

The one place a config value is parsed (C{ConfigDef.parseType}), printed back
(C{ConfigDef.convertToString}) and checked (C{ConfigDef.Range},
C{ValidString}, C{ValidList}), for broker keys (L{kafkatwist.config.broker_configs})
and topic keys (L{kafkatwist.config.topic_config}) alike. Messages follow
Kafka's C{ConfigException}: C{Invalid value v for configuration name: reason}.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

__all__ = [
    "INT_MAX",
    "ConfigError",
    "LONG_MAX",
    "Validator",
    "any_value",
    "at_least",
    "between",
    "canonical",
    "check",
    "gzip_level",
    "one_of",
    "parse_as",
    "parse_value",
    "split_list",
    "value_error",
]

LONG_MAX = 2**63 - 1
INT_MAX = 2**31 - 1

#: Kafka's ConfigDef types, as DescribeConfigs v3+ reports them (ConfigType).
TYPE_UNKNOWN = 0
TYPE_BOOLEAN = 1
TYPE_STRING = 2
TYPE_INT = 3
TYPE_SHORT = 4
TYPE_LONG = 5
TYPE_DOUBLE = 6
TYPE_LIST = 7
TYPE_CLASS = 8
TYPE_PASSWORD = 9

#: A check of one (stripped) value or list item: None, or Kafka's reason.
Validator = Callable[[str], "str | None"]

_INTEGER = re.compile(r"[+-]?[0-9]+")
_TYPE_NAMES = {TYPE_INT: "INT", TYPE_SHORT: "SHORT", TYPE_LONG: "LONG", TYPE_DOUBLE: "DOUBLE"}
_LIMITS = {TYPE_INT: INT_MAX, TYPE_SHORT: 32767, TYPE_LONG: LONG_MAX}


def parse_value(type_: int, value: str) -> bool | int | float | list[str] | str:
    """
    Parse a config value as Kafka's C{ConfigDef.parseType} does.

    @raise ValueError: with Kafka's reason ("Not a number of type INT", ...).
    """
    v = value.strip()
    if type_ == TYPE_BOOLEAN:
        if v.lower() not in ("true", "false"):
            raise ValueError("Expected value to be either true or false")
        return v.lower() == "true"
    if type_ in _LIMITS:
        limit = _LIMITS[type_]
        if not _INTEGER.fullmatch(v) or not -limit - 1 <= int(v) <= limit:
            raise ValueError(f"Not a number of type {_TYPE_NAMES[type_]}")
        return int(v)
    if type_ == TYPE_DOUBLE:
        try:
            return float(v)
        except ValueError:
            raise ValueError("Not a number of type DOUBLE") from None
    if type_ == TYPE_LIST:
        return split_list(v)
    return v


def parse_as(type_: int, value: str, kind: type[T]) -> T:
    """L{parse_value}, for a value known to be valid, as the Python type C{kind} (int, str...)."""
    parsed = parse_value(type_, value)
    if isinstance(parsed, list):
        parsed = ",".join(parsed)
    assert isinstance(parsed, kind), (value, kind)
    return parsed


def split_list(value: str) -> list[str]:
    """A LIST value's items, as Kafka's ConfigDef parses them (trimmed, empty string: none)."""
    if not value.strip():
        return []
    return [item.strip() for item in value.split(",")]


def java_double(v: float) -> str:
    """C{Double.toString} for the values configs hold (0.5, 1.0, 1.7976931348623157E308)."""
    text = repr(float(v))
    if "e" in text:
        mantissa, exponent = text.split("e")
        if "." not in mantissa:
            mantissa += ".0"
        return f"{mantissa}E{int(exponent)}"
    return text


def canonical(type_: int, value: str) -> str:
    """
    A valid value as Kafka prints it back (C{ConfigDef.convertToString} of the parsed value).

    Values that do not parse are returned as they are.
    """
    try:
        parsed = parse_value(type_, value)
    except ValueError:
        return value
    if isinstance(parsed, bool):
        return "true" if parsed else "false"
    if isinstance(parsed, float):
        return java_double(parsed)
    if isinstance(parsed, list):
        return ",".join(parsed)
    return str(parsed)


def check(type_: int, validator: Validator | None, value: str) -> tuple[str, str] | None:
    """
    Why a value does not parse or validate: (the value or LIST item at fault,
    Kafka's reason), or None when it is valid.
    """
    try:
        parsed = parse_value(type_, value)
    except ValueError as e:
        return value, str(e)
    if validator is None:
        return None
    items = parsed if isinstance(parsed, list) else [value.strip()]
    for item in items:
        reason = validator(item)
        if reason is not None:
            return item, reason
    return None


def value_error(type_: int, validator: Validator | None, name: str, value: str) -> str | None:
    """
    Kafka's C{ConfigException} message for a value that does not parse or
    validate ("Invalid value v for configuration name: reason"), or None.

    A LIST's validator checks each item and the message names the item.
    """
    fault = check(type_, validator, value)
    if fault is None:
        return None
    return f"Invalid value {fault[0]} for configuration {name}: {fault[1]}"


class ConfigError(Exception):
    """A C{server.properties} value kafkatwist cannot use; the message names the key."""

    def __init__(self, key: str, value: str | None, reason: str) -> None:
        super().__init__(key, value, reason)
        self.key = key
        self.value = value
        self.reason = reason

    def __str__(self) -> str:
        # Kafka's ConfigException wording: "Invalid value X for configuration Y: Z".
        return f"Invalid value {self.value!r} for configuration {self.key}: {self.reason}"


# --- validators (Kafka's ConfigDef.Range, ValidString, ValidList) -------------


def one_of(*choices: str) -> Validator:
    """C{ValidString.in(choices)}; for a LIST, each item."""

    def check(value: str) -> str | None:
        return None if value in choices else f"String must be one of: {', '.join(choices)}"

    return check


def at_least(low: float) -> Validator:
    """C{Range.atLeast(low)}."""

    def check(value: str) -> str | None:
        return None if float(value) >= low else f"Value must be at least {_fmt(low)}"

    return check


def between(low: float, high: float) -> Validator:
    """C{Range.between(low, high)}."""

    def check(value: str) -> str | None:
        v = float(value)
        return (
            None
            if low <= v <= high
            else f"Value must be no less than {_fmt(low)} and no more than {_fmt(high)}"
        )

    return check


def any_value(value: str) -> str | None:
    """No bounds: for a key whose type is all Kafka checks (C{log.retention.ms})."""
    return None


def gzip_level(value: str) -> str | None:
    """C{GzipCompression.LevelValidator}: 1 to 9, or -1 for the default."""
    level = int(value)
    if level > 9 or (level < 1 and level != -1):
        return "Value must be between 1 and 9 or equal to -1"
    return None


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)
