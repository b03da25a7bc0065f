"""Topic helpers shared by the APIs: Kafka's topic-name rules and operation bits."""

from __future__ import annotations

import re

from kafkatwist.errors import ErrorCode

#: Kafka's ``Topic.MAX_NAME_LENGTH``.
MAX_TOPIC_NAME_LENGTH = 249
_LEGAL = re.compile(r"[a-zA-Z0-9._-]+")

#: AclOperation codes (Kafka's ``AclOperation``) that apply to a topic.
TOPIC_OPERATIONS = (
    3,
    4,
    5,
    6,
    7,
    8,
    10,
    11,
)  # READ WRITE CREATE DELETE ALTER DESCRIBE DESC_CONF ALTER_CONF
#: The bit field Kafka reports when no authorizer is configured: every topic operation.
TOPIC_AUTHORIZED_OPERATIONS = sum(1 << op for op in TOPIC_OPERATIONS)
#: Likewise for the cluster (Kafka's ``AclEntry.supportedOperations(CLUSTER)``): CREATE,
#: ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE (8096).
CLUSTER_AUTHORIZED_OPERATIONS = sum(1 << op for op in (5, 7, 8, 9, 10, 11, 12))


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
