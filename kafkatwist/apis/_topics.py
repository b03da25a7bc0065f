"""Topic helpers shared by the APIs: Kafka's topic-name rules.

The name rules live in L{kafkatwist.topics.names} (the controller needs them
too); they are imported here for the handlers.
"""

from __future__ import annotations

from kafkatwist.topics.names import MAX_TOPIC_NAME_LENGTH, topic_name_error, validate_topic_name

__all__ = [
    "MAX_TOPIC_NAME_LENGTH",
    "topic_name_error",
    "validate_topic_name",
]
