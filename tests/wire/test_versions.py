"""Tests for L{kafkatwist.wire.versions}."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.wire.versions import MAX_VERSION, NONE, VersionRange


class ParseTests(SynchronousTestCase):
    """L{VersionRange.parse} accepts Kafka's version grammar and nothing else."""

    def test_open_ended(self) -> None:
        """C{"N+"} runs from N to the highest version a Java short can hold."""
        self.assertEqual(VersionRange.parse("3+"), VersionRange(3, MAX_VERSION))
        self.assertEqual(VersionRange.parse("0+"), VersionRange(0, 0x7FFF))

    def test_closed(self) -> None:
        """C{"A-B"} is the inclusive range from A to B."""
        self.assertEqual(VersionRange.parse("3-4"), VersionRange(3, 4))
        self.assertEqual(VersionRange.parse("0-12"), VersionRange(0, 12))

    def test_single(self) -> None:
        """A single number is a range of one version."""
        self.assertEqual(VersionRange.parse("7"), VersionRange(7, 7))

    def test_none(self) -> None:
        """C{"none"} is the empty range."""
        r = VersionRange.parse("none")
        self.assertIs(r, NONE)
        self.assertTrue(r.empty)
        self.assertNotIn(0, r)
        self.assertNotIn(1, r)

    def test_surrounding_whitespace(self) -> None:
        """Whitespace around the text is ignored, as Kafka's C{Versions.parse} trims it."""
        self.assertEqual(VersionRange.parse(" 1+ "), VersionRange(1, MAX_VERSION))

    def test_rejects_malformed(self) -> None:
        """Anything outside the grammar raises C{ValueError} naming the input."""
        for text in [
            "",
            " ",
            "+",
            "-",
            "1-",
            "-1",
            "4-3",
            "1+2",
            "1++",
            "a",
            "0x1",
            "1.0",
            "1 - 2",
            "32768",
            "32768+",
            "0-32768",
            "None",
            "all",
            "+1",
            "1,2",
            "٣",
            "²",
        ]:
            with self.subTest(text=text):
                e = self.assertRaises(ValueError, VersionRange.parse, text)
                self.assertIn(repr(text), str(e))

    def test_str_round_trips(self) -> None:
        """C{str} writes the canonical form, which parses back to the same range."""
        for text in ["0+", "3+", "3-4", "7", "none", "0-32766"]:
            with self.subTest(text=text):
                self.assertEqual(str(VersionRange.parse(text)), text)
        self.assertEqual(str(VersionRange.parse("2-2")), "2")
        self.assertEqual(str(VersionRange(5, 1)), "none")


class RangeTests(SynchronousTestCase):
    """Membership, emptiness and intersection of ranges."""

    def test_contains(self) -> None:
        """Both ends of a range are inclusive, in C{in} and in C{contains}."""
        r = VersionRange(3, 5)
        for v, expected in [(2, False), (3, True), (4, True), (5, True), (6, False)]:
            with self.subTest(version=v):
                self.assertEqual(v in r, expected)
                self.assertEqual(r.contains(v), expected)

    def test_contains_non_int(self) -> None:
        """Things that are not versions are never in a range."""
        r = VersionRange(0, 5)
        self.assertNotIn("1", r)
        self.assertNotIn(None, r)
        self.assertNotIn(1.5, r)

    def test_empty(self) -> None:
        """A range is empty exactly when its low end is above its high end."""
        self.assertFalse(VersionRange(0, 0).empty)
        self.assertTrue(VersionRange(1, 0).empty)

    def test_intersect(self) -> None:
        """The intersection holds the versions in both ranges, or is C{NONE}."""
        self.assertEqual(VersionRange(0, 5).intersect(VersionRange(3, 9)), VersionRange(3, 5))
        self.assertEqual(VersionRange(3, 9).intersect(VersionRange(0, 5)), VersionRange(3, 5))
        self.assertEqual(VersionRange(0, 2).intersect(VersionRange(3, 9)), NONE)
        self.assertEqual(VersionRange(0, 5).intersect(NONE), NONE)
