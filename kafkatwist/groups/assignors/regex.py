"""
Regex subscriptions (KIP-848 C{SubscribedTopicRegex}) with RE2/J's syntax.

Kafka compiles a member's regex with C{com.google.re2j.Pattern.compile}
(C{Utils.throwIfRegularExpressionIsInvalid}) and answers
C{INVALID_REGULAR_EXPRESSION} (128) when RE2/J refuses it; it resolves the
regex against the topic names of the metadata image with
C{Pattern.matcher(topic).matches()}, a match of the whole name
(C{GroupMetadataManager.refreshRegularExpressions}).

L{compile_regex} parses the pattern with RE2's grammar, refusing what RE2
refuses (backreferences, lookaround, atomic groups, possessive or nested
repetition, repeat counts over 1000, unknown escapes and classes) with
RE2/J's error descriptions; what it accepts is then compiled and matched by
RE2 itself (the C{google-re2} package), which runs in time linear in the
name whatever the pattern: a client's regex cannot stall the reactor, as
Python's backtracking C{re} could (C{(.*)*x} on a 40-character name takes
hours there). The parser's translation to Python's C{re} (same meaning:
Perl classes ASCII as in RE2, C{\\z}, C{\\Q...\\E}, C{\\x{...}},
POSIX classes, scoped inline flags rewritten) is kept as its test of what
it understood.

Internal topics (C{__consumer_offsets}, C{__transaction_state},
C{__share_group_state}: Kafka's C{Topic.isInternal}) are never matched.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Protocol

import re2  # type: ignore[import-untyped]  # google-re2 ships no type information

from kafkatwist.errors import CodedError, ErrorCode

#: Kafka's C{Topic.INTERNAL_TOPICS}: a regex never subscribes a member to them.
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state", "__share_group_state"})

#: RE2's repeat count limit.
_MAX_REPEAT = 1000

_WORD = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_PERL = {
    "d": frozenset(b"0123456789"),
    "s": frozenset(b"\t\n\f\r "),
    "w": _WORD,
}
_POSIX = {
    "alnum": frozenset(c for c in range(128) if chr(c).isalnum()),
    "alpha": frozenset(c for c in range(128) if chr(c).isalpha()),
    "ascii": frozenset(range(128)),
    "blank": frozenset(b"\t "),
    "cntrl": frozenset([*range(32), 127]),
    "digit": _PERL["d"],
    "graph": frozenset(range(33, 127)),
    "lower": frozenset(range(97, 123)),
    "print": frozenset(range(32, 127)),
    "punct": frozenset(c for c in range(33, 127) if not chr(c).isalnum()),
    "space": frozenset(b"\t\n\v\f\r "),
    "upper": frozenset(range(65, 91)),
    "word": _WORD,
    "xdigit": frozenset(b"0123456789ABCDEFabcdef"),
}
#: Scripts with no ASCII character that RE2 knows by name (the common ones).
_SCRIPTS = frozenset(
    "Arabic Armenian Bengali Bopomofo Braille Cherokee Cyrillic Devanagari Ethiopic Georgian "
    "Greek Gujarati Gurmukhi Han Hangul Hebrew Hiragana Inherited Kannada Katakana Khmer Lao "
    "Malayalam Mongolian Myanmar Ogham Oriya Runic Sinhala Syriac Tamil Telugu Thaana Thai "
    "Tibetan Yi".split()
)
_SIMPLE_ESCAPES = {"a": 7, "f": 12, "t": 9, "n": 10, "r": 13, "v": 11}
_ASSERTIONS = {"b": r"\b", "B": r"\B", "A": r"\A", "z": r"\Z"}
_FLAGS = "imsU"


class InvalidRegularExpression(CodedError):
    """A C{SubscribedTopicRegex} RE2/J would not compile: C{INVALID_REGULAR_EXPRESSION}."""

    def __init__(self, pattern: str, description: str) -> None:
        super().__init__(
            ErrorCode.INVALID_REGULAR_EXPRESSION,
            f"SubscribedTopicRegex `{pattern}` is not a valid regular expression: {description}.",
        )
        self.description = description


def _category_set(name: str, negated: bool) -> tuple[frozenset[int], bool]:
    """The ASCII code points of a Unicode class name, and whether non-ASCII ones are in."""
    if name == "Any":
        codes = frozenset(range(128))
    elif name == "Latin":
        codes = frozenset(c for c in range(128) if chr(c).isalpha())
    elif name == "Common":
        codes = frozenset(c for c in range(128) if not chr(c).isalpha())
    elif name in _SCRIPTS:
        codes = frozenset()
    elif len(name) in (1, 2) and name[0] in "CLMNPSZ" and (len(name) == 1 or name.isalpha()):
        codes = frozenset(c for c in range(128) if unicodedata.category(chr(c)).startswith(name))
        if len(name) == 2 and name not in _CATEGORIES:
            raise ValueError(name)
    else:
        raise ValueError(name)
    if negated:
        return frozenset(range(128)) - codes, True
    return codes, name == "Any"


_CATEGORIES = frozenset(
    "Cc Cf Co Cs Ll Lm Lo Lt Lu Mc Me Mn Nd Nl No Pc Pd Pe Pf Pi Po Ps Sc Sk Sm So Zl Zp Zs".split()
)


def _class_items(codes: frozenset[int], non_ascii: bool) -> str:
    """A set of ASCII code points (and maybe all others) as the inside of a Python class."""
    items: list[str] = []
    ordered = sorted(codes)
    start = 0
    while start < len(ordered):
        end = start
        while end + 1 < len(ordered) and ordered[end + 1] == ordered[end] + 1:
            end += 1
        low, high = ordered[start], ordered[end]
        items.append(_char(low) if low == high else f"{_char(low)}-{_char(high)}")
        start = end + 1
    if non_ascii:
        items.append("\\x80-\\U0010ffff")
    return "".join(items)


def _char(code: int) -> str:
    """One code point, escaped for a Python pattern or class."""
    return (
        f"\\U{code:08x}" if code > 0xFFFF else f"\\u{code:04x}" if code > 0x7F else f"\\x{code:02x}"
    )


class _Parser:
    """One pass over an RE2 pattern, writing its Python translation."""

    def __init__(self, pattern: str) -> None:
        self._p = pattern
        self._i = 0
        self._out: list[str] = []
        #: Per open group: how many inline-flag scopes opened in it are still open.
        self._scopes: list[int] = [0]
        self._names: set[str] = set()
        #: Where the last atom starts in _out, None when a repetition may not follow.
        self._atom: int | None = None
        self._repeated = False
        #: Where each open group starts in _out.
        self._group_starts: list[int] = []
        #: The openers of the inline-flag scopes still open, innermost last.
        self._open_flags: list[str] = []

    def fail(self, description: str) -> InvalidRegularExpression:
        return InvalidRegularExpression(self._p, description)

    def translate(self) -> str:
        p = self._p
        while self._i < len(p):
            c = p[self._i]
            if c in "*+?{" and self._repeat():
                continue
            self._repeated = False
            if c == "(":
                self._group()
            elif c == ")":
                if len(self._scopes) == 1:
                    raise self.fail("unexpected )")
                scopes = self._scopes.pop()
                del self._open_flags[len(self._open_flags) - scopes :]
                self._out.append(")" * (scopes + 1))
                self._atom = self._group_starts.pop()
                self._i += 1
            elif c == "|":
                scopes = self._scopes[-1]
                reopened = "".join(self._open_flags[len(self._open_flags) - scopes :])
                self._out.append(")" * scopes + "|" + reopened)
                self._atom = None
                self._i += 1
            elif c == "[":
                self._atom = len(self._out)
                self._out.append(self._class())
            elif c == "\\":
                self._atom = len(self._out)
                self._out.append(self._escape())
            elif c in "^$":
                self._atom = len(self._out)
                self._out.append(f"(?:{c})")
                self._i += 1
            elif c == ".":
                self._atom = len(self._out)
                self._out.append(".")
                self._i += 1
            elif c in "*+?":
                raise self.fail("missing argument to repetition operator")
            else:
                self._atom = len(self._out)
                self._out.append(re.escape(c))
                self._i += 1
        if len(self._scopes) > 1:
            raise self.fail("missing closing )")
        return "".join(self._out) + ")" * self._scopes[0]

    def _repeat(self) -> bool:
        """Read a repetition operator at the cursor; False for a literal C{{}."""
        p, i = self._p, self._i
        if p[i] == "{":
            found = re.compile(r"\{(\d+)(,(\d*))?\}").match(p, i)
            if found is None:
                return False
            low = int(found.group(1))
            high = low if found.group(2) is None else int(found.group(3)) if found.group(3) else -1
            if low > _MAX_REPEAT or high > _MAX_REPEAT or (high != -1 and high < low):
                raise self.fail("invalid repeat count")
            end = found.end()
        else:
            end = i + 1
        if end < len(p) and p[end] == "?":
            end += 1
        if self._repeated:
            raise self.fail("invalid nested repetition operator")
        if self._atom is None:
            raise self.fail("missing argument to repetition operator")
        operator = p[i:end]
        atom = "".join(self._out[self._atom :])
        del self._out[self._atom :]
        self._out.append(f"(?:{atom}){operator}")
        self._repeated = True
        self._i = end
        return True

    def _group(self) -> None:
        p = self._p
        rest = p[self._i + 1 :]
        if not rest.startswith("?"):
            self._push("(?:")
            self._i += 1
            return
        named = re.match(r"\?P?<([^>]*)>", rest)
        if named is not None and not rest.startswith("?<=") and not rest.startswith("?<!"):
            name = named.group(1)
            if not re.fullmatch(r"\w+", name, re.ASCII):
                raise self.fail("invalid named capture")
            if name in self._names:
                raise self.fail("duplicate capture group name")
            self._names.add(name)
            self._push("(?:")
            self._i += 1 + named.end()
            return
        flags = re.match(r"\?([^):]*)([):])", rest)
        if flags is None or not re.fullmatch(rf"[{_FLAGS}]*(-[{_FLAGS}]+)?", flags.group(1)):
            raise self.fail("invalid or unsupported Perl syntax")
        if flags.group(1) == "-" or flags.group(1) == "" and flags.group(2) == ")":
            raise self.fail("invalid or unsupported Perl syntax")
        on, _, off = flags.group(1).partition("-")
        python = on.replace("U", "") + ("-" + off.replace("U", "") if off.replace("U", "") else "")
        opener = f"(?{python}:" if python else "(?:"
        self._i += 1 + flags.end()
        if flags.group(2) == ":":
            self._push(opener)
        else:
            # (?flags) rules the rest of the enclosing group, across its alternatives.
            self._out.append(opener)
            self._scopes[-1] += 1
            self._open_flags.append(opener)
            self._atom = None

    def _push(self, opener: str) -> None:
        self._group_starts.append(len(self._out))
        self._out.append(opener)
        self._scopes.append(0)
        self._atom = None

    def _escape(self) -> str:
        """Read an escape outside a class and answer its Python form."""
        p, i = self._p, self._i
        if i + 1 >= len(p):
            raise self.fail("trailing backslash at end of expression")
        c = p[i + 1]
        if c in _ASSERTIONS:
            self._i = i + 2
            return _ASSERTIONS[c]
        if c == "Q":
            end = p.find("\\E", i + 2)
            literal = p[i + 2 :] if end == -1 else p[i + 2 : end]
            self._i = len(p) if end == -1 else end + 2
            return "(?:" + re.escape(literal) + ")"
        codes, value = self._class_escape()
        if codes is None:
            return _char(int(value))
        items = _class_items(codes, bool(value))
        return f"[{items}]" if items else "(?!)"

    def _class_escape(self) -> tuple[frozenset[int] | None, bool | int]:
        """
        Read an escape that may stand in a class: answer (codes, non-ASCII)
        for a class escape, or (None, code point) for one character.
        """
        p, i = self._p, self._i
        if i + 1 >= len(p):
            raise self.fail("trailing backslash at end of expression")
        c = p[i + 1]
        if c.lower() in _PERL:
            self._i = i + 2
            codes = _PERL[c.lower()]
            return (frozenset(range(128)) - codes, True) if c.isupper() else (codes, False)
        if c in "pP":
            found = re.compile(r"[pP](\{\^?[A-Za-z_]+\}|[A-Za-z])").match(p, i + 1)
            if found is None:
                raise self.fail("invalid character class range")
            name = found.group(1).strip("{}")
            negated = (c == "P") != name.startswith("^")
            try:
                result = _category_set(name.lstrip("^"), negated)
            except ValueError:
                raise self.fail("invalid character class range") from None
            self._i = found.end()
            return result
        if c in _SIMPLE_ESCAPES:
            self._i = i + 2
            return None, _SIMPLE_ESCAPES[c]
        if c == "x":
            found = re.compile(r"x(?:\{([0-9A-Fa-f]+)\}|([0-9A-Fa-f]{2}))").match(p, i + 1)
            if found is None or int(found.group(1) or found.group(2), 16) > 0x10FFFF:
                raise self.fail("invalid escape sequence")
            self._i = found.end()
            return None, int(found.group(1) or found.group(2), 16)
        if c in "01234567":
            found = re.compile(r"0[0-7]{0,2}|[1-7][0-7]{1,2}").match(p, i + 1)
            if found is None:
                raise self.fail("invalid escape sequence")
            self._i = found.end()
            return None, int(found.group(0), 8)
        if c.isascii() and not c.isalnum():
            self._i = i + 2
            return None, ord(c)
        raise self.fail("invalid escape sequence")

    def _class(self) -> str:
        """Read a bracketed class and answer its Python form."""
        p = self._p
        self._i += 1
        negated = p.startswith("^", self._i)
        if negated:
            self._i += 1
        items: list[str] = []
        first = True
        while True:
            if self._i >= len(p):
                raise self.fail("missing closing ]")
            c = p[self._i]
            if c == "]" and not first:
                self._i += 1
                break
            first = False
            posix = re.compile(r"\[:(\^?)([a-z]+):\]").match(p, self._i)
            if posix is not None:
                if posix.group(2) not in _POSIX:
                    raise self.fail("invalid character class range")
                codes = _POSIX[posix.group(2)]
                inverted = bool(posix.group(1))
                items.append(
                    _class_items(frozenset(range(128)) - codes if inverted else codes, inverted)
                )
                self._i = posix.end()
                continue
            low = self._class_char()
            if isinstance(low, str):
                items.append(low)
                continue
            if p.startswith("-", self._i) and self._i + 1 < len(p) and p[self._i + 1] != "]":
                self._i += 1
                high = self._class_char()
                if isinstance(high, str) or high < low:
                    raise self.fail("invalid character class range")
                items.append(f"{_char(low)}-{_char(high)}")
            else:
                items.append(_char(low))
        inside = "".join(items)
        if not inside:
            # A class of nothing: Python has no empty class.
            return "[\\x00-\\U0010ffff]" if negated else "(?!)"
        return f"[{'^' if negated else ''}{inside}]"

    def _class_char(self) -> int | str:
        """One class member: a code point, or the Python items of a class escape."""
        p = self._p
        if p[self._i] != "\\":
            self._i += 1
            return ord(p[self._i - 1])
        if self._i + 1 < len(p) and p[self._i + 1] in "bBAzQ":
            raise self.fail("invalid escape sequence")
        codes, value = self._class_escape()
        if codes is None:
            return int(value)
        return _class_items(codes, bool(value))


class CompiledRegex(Protocol):
    """A pattern RE2 compiled (C{re2._Regexp}): what L{matching_topics} needs of it."""

    def fullmatch(self, text: str) -> object | None:
        """A match when C{text} matches as a whole, else None."""


def _re2_options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # refusals are answered to the client, not logged by RE2
    return options


_RE2_OPTIONS = _re2_options()


def compile_regex(pattern: str) -> CompiledRegex:
    """
    C{pattern} compiled by RE2, for L{matching_topics}.

    Raises L{InvalidRegularExpression} (C{INVALID_REGULAR_EXPRESSION}, with
    Kafka's message and RE2/J's description) when RE2/J would refuse it.
    """
    _Parser(pattern).translate()  # RE2/J's refusals, with its descriptions
    try:
        compiled: CompiledRegex = re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as error:  # pragma: no cover - a pattern the parser accepts, RE2 refuses
        raise InvalidRegularExpression(pattern, str(error)) from None
    return compiled


def matching_topics(pattern: str | CompiledRegex, names: Iterable[str]) -> frozenset[str]:
    """
    The names of C{names} that C{pattern} matches whole, never an internal topic.

    C{pattern} is a regex source (compiled by L{compile_regex}, which may
    raise L{InvalidRegularExpression}) or an already compiled one.
    """
    compiled = compile_regex(pattern) if isinstance(pattern, str) else pattern
    return frozenset(
        name
        for name in names
        if name not in INTERNAL_TOPICS and compiled.fullmatch(name) is not None
    )
