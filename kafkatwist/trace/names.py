"""Kafka's names for the generated models' fields, as Kafka's JSON schemas spell them.

The generator (C{tools/generate_messages.py}) names each attribute with the
snake_case of the schema's field name (C{TopicData} -> C{topic_data},
C{PartitionIndex} -> C{partition_index}) and keeps no other copy of it.
Every field name of Kafka 4.3's message schemas but three is CamelCase
with no two capitals in a row, so the CamelCase of the attribute gives the
name back; the three exceptions, spelled in lower camelCase by their
schemas, are in L{_EXCEPTIONS}. This module is sans-io.
"""

from __future__ import annotations

from typing import Final

__all__ = ["kafka_name"]

#: (struct class name, attribute) -> the schema's spelling, where CamelCase would differ.
_EXCEPTIONS: Final = {
    ("CreateTopicsRequest", "timeout_ms"): "timeoutMs",
    ("CreateTopicsRequest", "validate_only"): "validateOnly",
    ("UpdateFeaturesRequest", "timeout_ms"): "timeoutMs",
}


def camel(attribute: str) -> str:
    """C{partition_index} -> C{PartitionIndex} (a trailing C{_}, added for keywords, dropped)."""
    return "".join(part[:1].upper() + part[1:] for part in attribute.rstrip("_").split("_"))


def kafka_name(struct_name: str, attribute: str) -> str:
    """The name Kafka's schema gives the attribute C{attribute} of struct C{struct_name}."""
    return _EXCEPTIONS.get((struct_name, attribute)) or camel(attribute)
