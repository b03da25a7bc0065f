"""Kafka's topic-name rules (``org.apache.kafka.common.internals.Topic``)."""

from __future__ import annotations

import re

from kafkatwist.errors import ErrorCode

#: Kafka's ``Topic.MAX_NAME_LENGTH``.
MAX_TOPIC_NAME_LENGTH = 249
_LEGAL = re.compile(r"[a-zA-Z0-9._-]+")


def validate_topic_name(name: str) -> str | None:
    """Why C{name} is not a legal topic name (Kafka's ``Topic.validate``), or None."""
    if not name:
        return "Topic name is illegal, it can't be empty"
    if name in (".", ".."):
        return 'Topic name cannot be "." or ".."'
    if len(name) > MAX_TOPIC_NAME_LENGTH:
        return f"Topic name is illegal, it can't be longer than {MAX_TOPIC_NAME_LENGTH} characters"
    if not _LEGAL.fullmatch(name):
        return (
            f'Topic name "{name}" is illegal, it contains a character other than '
            "ASCII alphanumerics, '.', '_' and '-'"
        )
    return None


def topic_name_error(name: str) -> int:
    """UNKNOWN_TOPIC_OR_PARTITION for a legal missing name, else INVALID_TOPIC_EXCEPTION."""
    if validate_topic_name(name) is None:
        return int(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    return int(ErrorCode.INVALID_TOPIC_EXCEPTION)


def collision_name(name: str) -> str:
    """
    The name C{name} collides under (Kafka's ``Topic.unifyCollisionChars``).

    Kafka treats '.' and '_' as colliding in topic names: both become '_'
    in metric names.
    """
    return name.replace(".", "_")


__all__ = [
    "MAX_TOPIC_NAME_LENGTH",
    "collision_name",
    "topic_name_error",
    "validate_topic_name",
]
