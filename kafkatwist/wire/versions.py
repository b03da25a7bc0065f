"""Kafka's version-range grammar: ``"0+"``, ``"3-4"``, ``"7"`` and ``"none"``.

Mirrors ``generator/src/main/java/org/apache/kafka/message/Versions.java``.
"""

from __future__ import annotations

from attrs import frozen

#: The highest version number a range may name (Kafka uses a Java short).
MAX_VERSION = 0x7FFF


@frozen
class VersionRange:
    """An inclusive range of versions; ``lowest > highest`` means empty."""

    lowest: int
    highest: int

    @classmethod
    def parse(cls, text: str) -> VersionRange:
        """Parse one of Kafka's version strings, rejecting anything else."""
        s = text.strip()
        try:
            if s == "none":
                return NONE
            if s.endswith("+"):
                return cls(_version(s[:-1]), MAX_VERSION)
            if "-" in s:
                lo, hi = s.split("-", 1)
                low, high = _version(lo), _version(hi)
                if low > high:
                    raise ValueError(s)
                return cls(low, high)
            v = _version(s)
            return cls(v, v)
        except ValueError:
            raise ValueError(f"invalid version range {text!r}") from None

    @property
    def empty(self) -> bool:
        """True when the range holds no version at all."""
        return self.lowest > self.highest

    def __contains__(self, version: object) -> bool:
        return isinstance(version, int) and self.lowest <= version <= self.highest

    def contains(self, version: int) -> bool:
        """True when C{version} lies within this range."""
        return self.lowest <= version <= self.highest

    def intersect(self, other: VersionRange) -> VersionRange:
        """The versions in both ranges."""
        low, high = max(self.lowest, other.lowest), min(self.highest, other.highest)
        return VersionRange(low, high) if low <= high else NONE

    def __str__(self) -> str:
        if self.empty:
            return "none"
        if self.highest == MAX_VERSION:
            return f"{self.lowest}+"
        if self.lowest == self.highest:
            return str(self.lowest)
        return f"{self.lowest}-{self.highest}"


def _version(text: str) -> int:
    # str.isdigit() also accepts non-ASCII digits ("٣", which int() reads as 3).
    if not (text.isascii() and text.isdigit()):
        raise ValueError(text)
    v = int(text)
    if v > MAX_VERSION:
        raise ValueError(text)
    return v


NONE = VersionRange(1, 0)
