"""Tests for kafkatwist.config.java_properties: Java C{.properties} parsing."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.java_properties import parse_properties
from kafkatwist.config.properties import (
    ConfigError,
)


class ParsePropertiesTests(SynchronousTestCase):
    """Tests for L{parse_properties}."""

    def test_separators(self) -> None:
        """C{=}, C{:} and whitespace all separate a key from its value."""
        self.assertEqual(
            parse_properties("a=1\nb:2\nc 3\nd\t=\t4\ne  :  5\n"),
            {"a": "1", "b": "2", "c": "3", "d": "4", "e": "5"},
        )

    def test_only_first_separator_counts(self) -> None:
        """Separator characters after the first belong to the value."""
        self.assertEqual(
            parse_properties("a==b\nc=d=e\nf = :g\n"), {"a": "=b", "c": "d=e", "f": ":g"}
        )

    def test_comments_and_blank_lines(self) -> None:
        """Lines starting with C{#} or C{!} (after whitespace) and blank lines are skipped."""
        text = "# comment\n  ! also a comment\n\n   \nkey=value # not a comment\n"
        self.assertEqual(parse_properties(text), {"key": "value # not a comment"})

    def test_key_without_value(self) -> None:
        """A key alone on its line gets the empty string."""
        self.assertEqual(parse_properties("lonely\nempty=\n"), {"lonely": "", "empty": ""})

    def test_leading_whitespace_dropped_trailing_kept(self) -> None:
        """Leading whitespace is dropped and trailing whitespace kept, as Java does."""
        self.assertEqual(parse_properties("   key =   value  \n"), {"key": "value  "})

    def test_line_continuation(self) -> None:
        """A trailing backslash joins the next line, minus its leading whitespace."""
        text = "listeners=PLAINTEXT://:9092,\\\n          CONTROLLER://:9093\n"
        self.assertEqual(
            parse_properties(text), {"listeners": "PLAINTEXT://:9092,CONTROLLER://:9093"}
        )

    def test_continuation_line_is_not_a_comment(self) -> None:
        """A continued line starting with C{#} is part of the value."""
        self.assertEqual(parse_properties("a=1\\\n  #2\n"), {"a": "1#2"})

    def test_escaped_backslash_does_not_continue(self) -> None:
        """An even number of trailing backslashes is a literal backslash, not a continuation."""
        self.assertEqual(parse_properties("a=c:\\\\\nb=2\n"), {"a": "c:\\", "b": "2"})

    def test_continuation_at_end_of_file(self) -> None:
        """A backslash on the last line is dropped."""
        self.assertEqual(parse_properties("a=1\\"), {"a": "1"})

    def test_escapes(self) -> None:
        """C{\\t \\n \\r \\f \\uXXXX} decode and other escaped characters stand for themselves."""
        text = "a=x\\ty\\nz\\r\\f\nb=\\u00e9\\u0041\nc=\\q\\#\\!\n"
        self.assertEqual(parse_properties(text), {"a": "x\ty\nz\r\f", "b": "\u00e9A", "c": "q#!"})

    def test_escaped_separators_in_key(self) -> None:
        """Escaped C{=}, C{:} and spaces are part of the key."""
        self.assertEqual(parse_properties("a\\=b\\:c\\ d=e\n"), {"a=b:c d": "e"})

    def test_malformed_unicode_escape(self) -> None:
        """A short or non-hex C{\\uXXXX} escape raises ConfigError naming the key."""
        error = self.assertRaises(ConfigError, parse_properties, "name=\\u12G4\n")
        self.assertEqual(error.key, "name")
        self.assertIn("name", str(error))

    def test_line_endings(self) -> None:
        """CRLF, CR and LF all end lines."""
        self.assertEqual(parse_properties("a=1\r\nb=2\rc=3\n"), {"a": "1", "b": "2", "c": "3"})

    def test_last_duplicate_wins(self) -> None:
        """A repeated key keeps its last value."""
        self.assertEqual(parse_properties("a=1\na=2\n"), {"a": "2"})
