"""Regex subscriptions (KIP-848 C{SubscribedTopicRegex}): the topics a pattern matches.

The consumer coordinator's view of L{kafkatwist.groups.assignors.regex}
(RE2/J semantics): L{validate} for the heartbeat's request check and
L{resolve} for the subscription, which every heartbeat of a regex member
re-evaluates, so a pattern is compiled once and kept (bounded cache). RE2
matches in time linear in the name, whatever the pattern.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

from kafkatwist.groups.assignors.regex import (
    CompiledRegex,
    InvalidRegularExpression,
    compile_regex,
    matching_topics,
)

#: (pattern, topic names) -> the names it matches.
RegexResolver = Callable[[str, Iterable[str]], frozenset[str]]
#: Whether a principal may DESCRIBE a topic: what a regex subscription may match.
TopicFilter = Callable[[str], bool]


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> CompiledRegex | None:
    """C{pattern} compiled as RE2/J would, None when RE2/J refuses it."""
    try:
        return compile_regex(pattern)
    except InvalidRegularExpression:
        return None


def validate(pattern: str) -> bool:
    """Whether C{pattern} compiles under RE2/J's rules (else INVALID_REGULAR_EXPRESSION)."""
    return _compiled(pattern) is not None


def resolve(pattern: str, topics: Iterable[str]) -> frozenset[str]:
    """
    The topics C{pattern} matches as a whole, internal topics excluded.

    Kafka's C{GroupMetadataManager.refreshRegularExpressions} matches every
    topic of the metadata image but the internal ones. The answer is kept
    per (pattern, topic names): the members of a group usually share their
    regex, and heartbeats re-ask while the topics stay the same.
    """
    return _resolve(pattern, frozenset(topics))


@functools.lru_cache(maxsize=256)
def _resolve(pattern: str, topics: frozenset[str]) -> frozenset[str]:
    compiled = _compiled(pattern)
    return frozenset() if compiled is None else matching_topics(compiled, topics)
