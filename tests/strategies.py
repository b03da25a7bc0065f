"""Hypothesis strategies derived from the generated models' field metadata.

L{instances} builds valid instances of a model class for one version: every
field present at that version (as a regular or, in flexible versions, as a
tagged field) gets a value of its Kafka type (integer widths, UUIDs,
nullability, records as C{bytes}, nested structs and arrays); fields absent at
that version keep their defaults, which is what the encoder requires.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from functools import cache
from typing import Any

import attrs
from hypothesis import strategies as st

from kafkatwist import messages
from kafkatwist.wire.schema import FieldSpec, field_specs, message_info

_INTS = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
}

#: Small sizes keep the whole sweep fast; widths and edge values matter more.
MAX_ARRAY = 3
MAX_TEXT = 12
MAX_BYTES = 24


def _scalar(kafka_type: str) -> st.SearchStrategy[Any]:
    if kafka_type in _INTS:
        lo, hi = _INTS[kafka_type]
        return st.integers(lo, hi)
    if kafka_type == "float64":
        return st.floats(allow_nan=False)
    if kafka_type == "bool":
        return st.booleans()
    if kafka_type == "uuid":
        return st.uuids()
    if kafka_type == "string":
        return st.text(max_size=MAX_TEXT)
    if kafka_type in ("bytes", "records"):
        return st.binary(max_size=MAX_BYTES)
    raise TypeError(f"not a scalar Kafka type: {kafka_type}")


def _value(spec: FieldSpec, version: int, flexible: bool) -> st.SearchStrategy[Any]:
    elem = spec.element_type
    if spec.struct is not None:
        item = instances(spec.struct, version, flexible)
    else:
        item = _scalar(elem)
    value: st.SearchStrategy[Any]
    if spec.type.startswith("[]"):
        value = st.lists(item, max_size=MAX_ARRAY).map(tuple)
    else:
        value = item
    if version in spec.nullable:
        value = st.none() | value
    return value


def present(spec: FieldSpec, version: int, flexible: bool) -> bool:
    """True when the field is on the wire at this version (regular or tagged)."""
    if flexible and version in spec.tagged:
        return True
    return version in spec.versions


@cache
def instances(cls: type, version: int, flexible: bool | None = None) -> st.SearchStrategy[Any]:
    """Valid instances of C{cls} at C{version} (nested structs inherit C{flexible})."""
    if flexible is None:
        info = message_info(cls)
        flexible = version in info.flexible
    kwargs: dict[str, st.SearchStrategy[Any]] = {}
    for a, spec in field_specs(cls):
        if present(spec, version, flexible):
            assert a.alias is not None  # attrs sets it on every field
            kwargs[a.alias] = st.deferred(
                lambda spec=spec: _value(spec, version, flexible)  # type: ignore[misc]
            )
    return st.builds(cls, **kwargs)


def top_level_classes() -> Iterator[tuple[str, type]]:
    """Every top-level schema class of every generated module, with its module name."""
    for name in messages.MODULES:
        module = importlib.import_module(f"kafkatwist.messages.{name}")
        for obj in vars(module).values():
            if (
                isinstance(obj, type)
                and obj.__module__ == module.__name__
                and attrs.has(obj)
                and getattr(obj, "__kafka__", None) is not None
            ):
                yield name, obj


def valid_versions(cls: type) -> range:
    """The versions of a top-level schema, as a range."""
    info = message_info(cls)
    return range(info.valid.lowest, info.valid.highest + 1)
