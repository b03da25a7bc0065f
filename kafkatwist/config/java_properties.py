"""Java C{.properties} text, parsed as C{java.util.Properties.load} does.

This module is sans-io: it imports nothing from Twisted.
"""

from __future__ import annotations

from collections.abc import Iterable

from kafkatwist.config.values import ConfigError

__all__ = ["decode_properties", "format_properties", "parse_properties"]

_WHITESPACE = " \t\f"
_SIMPLE_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def decode_properties(data: bytes) -> str:
    """
    The text of a properties file's bytes: UTF-8, else ISO-8859-1.

    ISO-8859-1 is what C{java.util.Properties.load(InputStream)} reads; any
    bytes decode as it.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def parse_properties(text: str) -> dict[str, str]:
    """
    Parse Java C{.properties} text the way C{java.util.Properties.load} does.

    Lines starting with C{#} or C{!} are comments. A key ends at the first
    unescaped C{=}, C{:} or whitespace; the separator may be surrounded by
    whitespace. A line ending in an odd number of backslashes continues on the
    next line, whose leading whitespace is dropped. C{\\t \\n \\r \\f \\uXXXX}
    are escapes, and a backslash before any other character stands for that
    character. Leading whitespace of a value is dropped; trailing whitespace is
    kept, as Java does (C{BrokerConfig} trims values when it reads them, as
    Kafka's C{ConfigDef} does). A later duplicate key wins.

    @raise ConfigError: on a malformed C{\\uXXXX} escape.
    """
    result: dict[str, str] = {}
    for line_number, logical in _logical_lines(text):
        key_raw, value_raw = _split_key_value(logical)
        key = _unescape(key_raw, key_raw, line_number)
        result[key] = _unescape(value_raw, key, line_number)
    return result


def _logical_lines(text: str) -> Iterable[tuple[int, str]]:
    """Yield (first line number, logical line) pairs, joining continuations."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    index = 0
    while index < len(lines):
        start = index
        line = lines[index].lstrip(_WHITESPACE)
        index += 1
        if not line or line[0] in "#!":
            continue
        parts = []
        while _ends_with_continuation(line):
            parts.append(line[:-1])
            if index >= len(lines):
                line = ""
                break
            line = lines[index].lstrip(_WHITESPACE)
            index += 1
        parts.append(line)
        yield start + 1, "".join(parts)


def _ends_with_continuation(line: str) -> bool:
    return (len(line) - len(line.rstrip("\\"))) % 2 == 1


def _split_key_value(line: str) -> tuple[str, str]:
    """Split a logical line into its raw (still escaped) key and value."""
    position = 0
    while position < len(line):
        char = line[position]
        if char == "\\":
            position += 2
        elif char in "=:" or char in _WHITESPACE:
            break
        else:
            position += 1
    key, rest = line[:position], line[position:]
    if rest[:1] in ("=", ":"):
        return key, rest[1:].lstrip(_WHITESPACE)
    # Whitespace ended the key: one "=" or ":" may still follow it.
    rest = rest.lstrip(_WHITESPACE)
    if rest[:1] in ("=", ":"):
        rest = rest[1:]
    return key, rest.lstrip(_WHITESPACE)


def _unescape(raw: str, key: str, line_number: int) -> str:
    if "\\" not in raw:
        return raw
    out = []
    position = 0
    length = len(raw)
    while position < length:
        char = raw[position]
        position += 1
        if char != "\\":
            out.append(char)
            continue
        if position >= length:
            break
        escaped = raw[position]
        position += 1
        if escaped == "u":
            digits = raw[position : position + 4]
            if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise ConfigError(key, raw, f"malformed \\uXXXX escape on line {line_number}")
            out.append(chr(int(digits, 16)))
            position += 4
        else:
            out.append(_SIMPLE_ESCAPES.get(escaped, escaped))
    return "".join(out)


def format_properties(properties: Iterable[tuple[str, str]]) -> str:
    """
    Java C{.properties} text for C{properties}, one C{key=value} line each.

    Escapes what C{java.util.Properties.load} (and
    L{parse_properties}) would otherwise
    read differently: backslashes, line breaks, tabs and form feeds; in keys
    also C{=}, C{:}, spaces, and a leading C{#} or C{!}; in values a leading
    space. Non-ASCII text is written as is (the file is UTF-8).
    """
    lines = []
    for key, value in properties:
        lines.append(f"{_escape(key, key=True)}={_escape(value, key=False)}\n")
    return "".join(lines)


_COMMON_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\f": "\\f"}
_KEY_ESCAPES = {**_COMMON_ESCAPES, "=": "\\=", ":": "\\:", " ": "\\ ", "#": "\\#", "!": "\\!"}


def _escape(text: str, *, key: bool) -> str:
    table = _KEY_ESCAPES if key else _COMMON_ESCAPES
    escaped = "".join(table.get(char, char) for char in text)
    if not key and escaped.startswith(" "):
        escaped = "\\" + escaped
    return escaped
