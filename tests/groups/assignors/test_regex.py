"""
Regex subscriptions: RE2/J's syntax, Kafka's whole-name match, internal topics left out.

The valid and invalid patterns and RE2/J's error descriptions follow RE2's
syntax page and Go's C{regexp/syntax} errors, which RE2/J reproduces.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.errors import ErrorCode
from kafkatwist.groups.assignors.regex import (
    InvalidRegularExpression,
    compile_regex,
    matching_topics,
)
from kafkatwist.groups.consumer import regex as consumer_regex

TOPICS = [
    "orders-1",
    "orders-2",
    "Orders-3",
    "payments",
    "a.b",
    "axb",
    "x{,2}",
    "ab",
    "c",
    "AB",
    "__consumer_offsets",
    "__transaction_state",
    "__share_group_state",
    "_internal-looking",
]


class MatchingTests(SynchronousTestCase):
    def match(self, pattern: str) -> set[str]:
        """The topics of L{TOPICS} that C{pattern} matches."""
        return set(matching_topics(pattern, TOPICS))

    def test_whole_name(self) -> None:
        """A pattern must match the whole name, as Pattern.matcher(topic).matches()."""
        self.assertEqual(self.match("orders"), set())
        self.assertEqual(self.match("orders-.*"), {"orders-1", "orders-2"})
        self.assertEqual(self.match("orders-1|pay"), {"orders-1"})

    def test_internal_topics_never_match(self) -> None:
        """Kafka's internal topics are left out even by .*; other names starting with _ are not."""
        matched = self.match(".*")
        self.assertNotIn("__consumer_offsets", matched)
        self.assertNotIn("__transaction_state", matched)
        self.assertNotIn("__share_group_state", matched)
        self.assertIn("_internal-looking", matched)
        self.assertEqual(self.match("__consumer_offsets"), set())

    def test_escaped_dot_and_classes(self) -> None:
        """An escaped dot is literal; Perl, POSIX and Unicode classes work over ASCII."""
        self.assertEqual(self.match(r"a\.b"), {"a.b"})
        self.assertEqual(self.match("a.b"), {"a.b", "axb"})
        self.assertEqual(self.match(r"orders-\d"), {"orders-1", "orders-2"})
        self.assertEqual(self.match("[[:lower:]]+"), {"payments", "axb", "ab", "c"})
        self.assertEqual(self.match(r"\p{Lu}+"), {"AB"})
        self.assertEqual(self.match(r"\pL\PL\pL"), {"a.b"})
        self.assertEqual(self.match(r"\p{Greek}+"), set())
        self.assertEqual(self.match(r"[^\d\p{Ll}]+"), {"AB"})

    def test_flags(self) -> None:
        """(?i) is case-insensitive; a mid-pattern flag rules the rest of its group, across |."""
        self.assertEqual(self.match("(?i)orders-[0-9]"), {"orders-1", "orders-2", "Orders-3"})
        self.assertEqual(self.match("(?i:ab)"), {"ab", "AB"})
        self.assertEqual(self.match("a(?i)b|c"), {"ab", "c"})
        self.assertEqual(self.match("A(?i)b|C"), {"AB", "c"})
        self.assertEqual(self.match("(?U)pay.*"), {"payments"})

    def test_re2_literals(self) -> None:
        """RE2-only syntax: {,n} is literal, \\Q...\\E quotes, \\x{..} and octal escapes."""
        self.assertEqual(self.match("x{,2}"), {"x{,2}"})
        self.assertEqual(self.match(r"\Qa.b\E"), {"a.b"})
        self.assertEqual(self.match(r"\x{61}\x2eb"), {"a.b"})
        self.assertEqual(self.match(r"\141\056b"), {"a.b"})
        self.assertEqual(self.match("(?P<name>pay)ments"), {"payments"})
        self.assertEqual(self.match("(?<name>pay)ments"), {"payments"})

    def test_compiled_pattern_accepted(self) -> None:
        """matching_topics takes a pattern compiled by compile_regex as well as a source."""
        self.assertEqual(
            matching_topics(compile_regex("orders-2"), TOPICS), frozenset({"orders-2"})
        )

    def test_pathological_patterns_match_in_linear_time(self) -> None:
        """
        Nested repetition on a long name: RE2 answers at once (Python's re would take hours).

        C{(.*)*x} against 60 characters backtracks through 2**60 splits in a
        backtracking engine; RE2 matches in time linear in the name.
        """
        names = ["a" * 60, "b" * 59 + "x", "w" * 200 + ".z"]
        self.assertEqual(matching_topics("(.*)*x", names), frozenset({"b" * 59 + "x"}))
        self.assertEqual(matching_topics(r"(\w+)*\.z", names), frozenset({"w" * 200 + ".z"}))
        self.assertEqual(matching_topics("(a+)+b", names), frozenset())

    def test_consumer_resolver_follows_topic_changes(self) -> None:
        """The consumer coordinator's cached resolver answers for the topics it is given now."""
        self.assertEqual(consumer_regex.resolve("o.*", ["orders"]), frozenset({"orders"}))
        self.assertEqual(
            consumer_regex.resolve("o.*", ["orders", "other", "x"]), frozenset({"orders", "other"})
        )
        self.assertEqual(consumer_regex.resolve("o.*", []), frozenset())
        self.assertEqual(consumer_regex.resolve("(a)\\1", ["aa"]), frozenset())
        self.assertFalse(consumer_regex.validate("(a)\\1"))

    def test_repetition(self) -> None:
        """Counted repetition and lazy operators are accepted."""
        self.assertEqual(self.match("orders-[0-9]{1,3}"), {"orders-1", "orders-2"})
        self.assertEqual(self.match("pay.*?s"), {"payments"})
        self.assertEqual(self.match("x{2}"), set())


class InvalidTests(SynchronousTestCase):
    def assertInvalid(self, pattern: str, description: str) -> None:
        """C{pattern} is refused with RE2/J's C{description} and code 128."""
        error = self.assertRaises(InvalidRegularExpression, compile_regex, pattern)
        self.assertEqual(error.code, ErrorCode.INVALID_REGULAR_EXPRESSION)
        self.assertEqual(int(error.code), 128)
        self.assertEqual(error.description, description)
        self.assertEqual(
            error.message,
            f"SubscribedTopicRegex `{pattern}` is not a valid regular expression: {description}.",
        )

    def test_backreferences(self) -> None:
        """RE2 has no backreferences."""
        self.assertInvalid(r"(a)\1", "invalid escape sequence")
        self.assertInvalid(r"(?P<n>a)(?P=n)", "invalid or unsupported Perl syntax")
        self.assertInvalid(r"(?P<n>a)\k<n>", "invalid escape sequence")

    def test_lookaround_and_atomic_groups(self) -> None:
        """RE2 has no lookahead, lookbehind, atomic groups, comments or conditionals."""
        for pattern in ["(?=a)a", "(?!a)b", "(?<=a)b", "(?<!a)b", "(?>a)", "(?#c)a", "(?(1)a|b)"]:
            self.assertInvalid(pattern, "invalid or unsupported Perl syntax")

    def test_repetition_errors(self) -> None:
        """Possessive, nested and unanchored repetitions and counts over 1000 are refused."""
        self.assertInvalid("a**", "invalid nested repetition operator")
        self.assertInvalid("a*+", "invalid nested repetition operator")
        self.assertInvalid("a{2}{3}", "invalid nested repetition operator")
        self.assertInvalid("*a", "missing argument to repetition operator")
        self.assertInvalid("a|*", "missing argument to repetition operator")
        self.assertInvalid("x{1001}", "invalid repeat count")
        self.assertInvalid("x{3,2}", "invalid repeat count")

    def test_structure_errors(self) -> None:
        """Unbalanced parentheses and brackets, a trailing backslash, a bad range."""
        self.assertInvalid("(orders", "missing closing )")
        self.assertInvalid("orders)", "unexpected )")
        self.assertInvalid("[a-", "missing closing ]")
        self.assertInvalid("orders\\", "trailing backslash at end of expression")
        self.assertInvalid("[z-a]", "invalid character class range")

    def test_unknown_escapes_classes_and_flags(self) -> None:
        """Escapes, classes and flags outside RE2's grammar are refused."""
        self.assertInvalid(r"\Z", "invalid escape sequence")
        self.assertInvalid(r"\C", "invalid escape sequence")
        self.assertInvalid(r"\8", "invalid escape sequence")
        self.assertInvalid(r"\p{Foo}", "invalid character class range")
        self.assertInvalid("[[:foo:]]", "invalid character class range")
        self.assertInvalid("(?x)a", "invalid or unsupported Perl syntax")
        self.assertInvalid("(?)", "invalid or unsupported Perl syntax")
        self.assertInvalid("(?P<a>x)(?P<a>y)", "duplicate capture group name")
        self.assertInvalid("(?P<>x)", "invalid named capture")

    def test_valid_patterns_compile(self) -> None:
        """Patterns RE2 accepts compile, including the empty one."""
        for pattern in ["", "()", "a|", "[]a]", "[a-]", r"\b\w+\b", r"\A.*\z", "^*a", "(?i-s:a)"]:
            self.assertIsNotNone(compile_regex(pattern))
