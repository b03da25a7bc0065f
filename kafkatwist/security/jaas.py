"""JAAS configuration text, as Kafka's C{JaasConfig} parses C{sasl.jaas.config}.

C{<LoginModuleClass> <flag> [key=value ...];} -- one or more entries, each
closed by a semicolon. Kafka tokenizes with Java's C{StreamTokenizer}
(plus C{-}, C{_} and C{$} as word characters, C{//} and C{/* */}
comments), so:

* a word starts with a letter, C{_}, C{-} or C{$} and goes on with those,
  digits and dots (C{org.apache.kafka...PlainLoginModule});
* a value in double or single quotes may hold anything, with Java's
  escapes (C{\\n}, C{\\t}, C{\\\\}, C{\\"}, octal...); a quote ends at its
  closing quote or at the end of the line;
* an unquoted number (C{option=3}) is not a value: Kafka refuses it;
* the flag is C{required}, C{requisite}, C{sufficient} or C{optional}.
"""

from __future__ import annotations

from attrs import frozen

CONTROL_FLAGS = ("required", "requisite", "sufficient", "optional")

_WORD_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_$-")
_WORD = _WORD_START | frozenset("0123456789.")
_NUMBER = frozenset("0123456789.-")
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


@frozen
class JaasEntry:
    """One login module entry: its class name, control flag and options."""

    login_module: str
    control_flag: str
    options: dict[str, str]


#: A token: (kind, text), kind C{"word"} (words and quoted strings), C{"number"} or the character.
_Token = tuple[str, str]


def _quoted(text: str, i: int, quote: str) -> tuple[str, int]:
    """The quoted string starting after C{text[i - 1]}; the index after it."""
    out: list[str] = []
    n = len(text)
    while i < n and text[i] != quote and text[i] != "\n":
        c = text[i]
        i += 1
        if c == "\\" and i < n:
            c = text[i]
            i += 1
            if c in "01234567":
                digits = c
                limit = 3 if c <= "3" else 2
                while len(digits) < limit and i < n and text[i] in "01234567":
                    digits += text[i]
                    i += 1
                c = chr(int(digits, 8))
            else:
                c = _ESCAPES.get(c, c)
        out.append(c)
    if i < n and text[i] == quote:
        i += 1
    return "".join(out), i


def _tokens(text: str) -> list[_Token]:
    """Java's C{StreamTokenizer} as Kafka's C{JaasConfig} sets it up."""
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c <= " ":
            i += 1
        elif text.startswith("//", i) or (c == "/" and not text.startswith("/*", i)):
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif c in "\"'":
            value, i = _quoted(text, i + 1, c)
            tokens.append(("word", value))
        elif c in _NUMBER and not (c == "-" and i + 1 < n and text[i + 1] not in _NUMBER):
            start = i
            i += 1
            while i < n and text[i] in "0123456789.":
                i += 1
            tokens.append(("number", text[start:i]))
        elif c in _WORD_START:
            start = i
            while i < n and text[i] in _WORD:
                i += 1
            tokens.append(("word", text[start:i]))
        else:
            tokens.append((c, c))
            i += 1
    return tokens


def parse_jaas_config(text: str) -> list[JaasEntry]:
    """
    The entries of a JAAS config value (Kafka's C{JaasConfig}).

    @raise ValueError: with Kafka's message, when the text is not valid JAAS.
    """
    tokens = _tokens(text)
    entries: list[JaasEntry] = []
    i = 0
    while i < len(tokens):
        kind, module = tokens[i]
        if kind != "word":
            raise ValueError(f"Login module not specified in JAAS config: {module!r}")
        i += 1
        if i >= len(tokens):
            raise ValueError("Login module control flag not specified in JAAS config")
        flag = tokens[i][1]
        if tokens[i][0] != "word" or flag.lower() not in CONTROL_FLAGS:
            raise ValueError(f"Invalid login module control flag '{flag}' in JAAS config")
        i += 1
        options: dict[str, str] = {}
        while i < len(tokens) and tokens[i][0] != ";":
            key = tokens[i][1]
            if i + 2 >= len(tokens) or tokens[i + 1][0] != "=" or tokens[i + 2][0] != "word":
                raise ValueError(f"Value not specified for key '{key}' in JAAS config")
            options[key] = tokens[i + 2][1]
            i += 3
        if i >= len(tokens):
            raise ValueError("JAAS config entry not terminated by semi-colon")
        i += 1
        entries.append(JaasEntry(module, flag.lower(), options))
    if not entries:
        raise ValueError("Login module not specified in JAAS config")
    return entries


def single_entry(text: str) -> JaasEntry:
    """
    The one entry of a broker's C{sasl.jaas.config} (Kafka's C{JaasContext.loadServerContext}).

    @raise ValueError: unless the text holds exactly one login module.
    """
    entries = parse_jaas_config(text)
    if len(entries) != 1:
        raise ValueError(
            f"JAAS config property contains {len(entries)} login modules, should be 1 module"
        )
    return entries[0]
