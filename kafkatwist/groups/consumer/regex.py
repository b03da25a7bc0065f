"""Regex subscriptions (KIP-848 C{SubscribedTopicRegex}): the topics a pattern matches.

FOR THE LEAD: the assignors branch writes C{kafkatwist.groups.assignors.regex}
with the RE2J-semantics resolver; this local stand-in (Python's C{re}, full
match, which agrees with RE2J for the patterns clients send: literals, ``.``,
``*``, classes, alternation) is what the consumer coordinator calls until
then. Replace L{resolve} with that function and L{validate} with its check.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from kafkatwist.storage.metadata_image import INTERNAL_TOPICS

#: (pattern, topic names) -> the names it matches.
RegexResolver = Callable[[str, Iterable[str]], frozenset[str]]


def validate(pattern: str) -> bool:
    """Whether C{pattern} compiles (else INVALID_REGULAR_EXPRESSION)."""
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def resolve(pattern: str, topics: Iterable[str]) -> frozenset[str]:
    """
    The topics C{pattern} matches as a whole, internal topics excluded.

    Kafka's C{GroupMetadataManager.refreshRegularExpressions} matches every
    topic of the metadata image but the internal ones.
    """
    try:
        compiled = re.compile(pattern)
    except re.error:
        return frozenset()
    return frozenset(
        t for t in topics if t not in INTERNAL_TOPICS and compiled.fullmatch(t) is not None
    )
