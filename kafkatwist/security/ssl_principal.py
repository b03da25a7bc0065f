"""C{ssl.principal.mapping.rules}: Kafka's C{SslPrincipalMapper}, sans-io.

A comma-separated list of rules, tried in order on the client certificate's
distinguished name (L{kafkatwist.security.x500.rfc2253_name}); the first
that applies gives the principal's name:

* C{DEFAULT}: the distinguished name itself;
* C{RULE:pattern/replacement/} (C{/L} or C{/U} to lower- or upper-case the
  result): applies when C{pattern} (a Java regex) matches the whole name,
  and gives C{name.replaceAll(pattern, replacement)}, C{$n} naming groups
  (a C{$n} beyond the pattern's groups is literal, as in Kafka, which took
  that from NiFi's C{IdentityMappingUtil}).

No rule applying is an error (Kafka's C{NoMatchingRule}). Rules are split
and parsed with Kafka's own regular expressions (C{RULE_SPLITTER},
C{RULE_PARSER}), so what Kafka accepts, and how it splits, is the same here.
"""

from __future__ import annotations

import re

from attrs import frozen

DEFAULT_RULES = "DEFAULT"

# Kafka's RULE_PATTERN, RULE_SPLITTER and RULE_PARSER.
_RULE_PATTERN = r"(DEFAULT)|RULE:((\\.|[^\\/])*)/((\\.|[^\\/])*)/([LU]?).*?|(.*?)"
_RULE_SPLITTER = re.compile(r"\s*(" + _RULE_PATTERN + r")\s*(,\s*|$)")
_RULE_PARSER = re.compile(_RULE_PATTERN)
_BACK_REFERENCE = re.compile(r"\$(\d+)")
# Java's named group (?<name>...), which Python spells (?P<name>...).
_JAVA_NAMED_GROUP = re.compile(r"\(\?<(?=[A-Za-z])")


class NoMatchingRule(ValueError):
    """No rule applies to the distinguished name (Kafka's C{NoMatchingRule})."""


@frozen
class Rule:
    """One rule: C{DEFAULT} when C{pattern} is None."""

    pattern: re.Pattern[str] | None = None
    source: str = ""
    replacement: str = ""
    case: str = ""  # "L", "U" or ""

    def __str__(self) -> str:
        """Kafka's C{Rule.toString}."""
        if self.pattern is None:
            return "DEFAULT"
        suffix = f"/{self.case}" if self.case else ""
        return f"RULE:{self.source}/{self.replacement}{suffix}"

    def apply(self, name: str) -> str | None:
        """The principal name this rule gives C{name}, or None when it does not apply."""
        if self.pattern is None:
            return name
        if self.pattern.fullmatch(name) is None:
            return None
        template = _escape_literal_back_references(self.replacement, self.pattern.groups)
        result = self.pattern.sub(lambda m: _expand(template, m), name)
        if self.case == "L":
            return result.lower()
        if self.case == "U":
            return result.upper()
        return result


def _escape_literal_back_references(template: str, groups: int) -> str:
    """A C{$n} naming no group is literal: Kafka's C{escapeLiteralBackReferences}."""
    if groups == 0:
        return template
    value = template
    position = 0
    while True:
        found = _BACK_REFERENCE.search(value, position)
        if found is None:
            return value
        position = found.end()
        digits = found.group(1)
        if digits.startswith("0"):
            continue
        index = int(digits)
        while index > groups and index >= 10:
            index //= 10
        if index > groups:
            at = found.start(1) - 1
            value = value[:at] + "\\" + value[at:]
            position += 1


def _expand(template: str, match: re.Match[str]) -> str:
    """Java's C{Matcher.appendReplacement} expansion of C{template} for C{match}."""
    out: list[str] = []
    i, n = 0, len(template)
    groups = match.re.groups
    while i < n:
        c = template[i]
        if c == "\\":
            if i + 1 >= n:
                raise ValueError("character to be escaped is missing")
            out.append(template[i + 1])
            i += 2
        elif c == "$":
            i += 1
            if i < n and template[i] == "{":
                close = template.find("}", i)
                if close < 0:
                    raise ValueError("named capturing group is missing trailing '}'")
                out.append(match.group(template[i + 1 : close]) or "")
                i = close + 1
                continue
            if i >= n or not template[i].isdigit():
                raise ValueError("Illegal group reference")
            ref = int(template[i])
            i += 1
            while i < n and template[i].isdigit() and ref * 10 + int(template[i]) <= groups:
                ref = ref * 10 + int(template[i])
                i += 1
            if ref > groups:
                raise ValueError(f"No group {ref}")
            out.append(match.group(ref) or "")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _split(rules: str) -> list[str]:
    """Kafka's C{splitRules}: every C{RULE_SPLITTER} match, as Java's C{Matcher.find} loop."""
    text = rules.strip()
    out = []
    position = 0
    while position <= len(text):
        found = _RULE_SPLITTER.search(text, position)
        if found is None:
            break
        out.append(found.group(1))
        # Java's find() resumes after the match, or one further after an empty one.
        position = found.end() if found.end() > found.start() else found.end() + 1
    return out


def parse_rules(rules: str | None) -> tuple[Rule, ...]:
    """
    Parse C{ssl.principal.mapping.rules} (None is Kafka's default, C{DEFAULT}).

    @raise ValueError: Kafka's C{Invalid rule} messages.
    """
    parsed = []
    for rule in _split(DEFAULT_RULES if rules is None else rules):
        m = _RULE_PARSER.match(rule)
        if m is None:
            raise ValueError(f"Invalid rule: {rule}")
        if m.end() != len(rule):
            raise ValueError(f"Invalid rule: `{rule}`, unmatched substring: `{rule[m.end() :]}`")
        if m.group(1) is not None:
            parsed.append(Rule())
        elif m.group(2) is not None:
            source = m.group(2)
            try:
                pattern = re.compile(_JAVA_NAMED_GROUP.sub("(?P<", source))
            except re.error as e:
                raise ValueError(f"Invalid rule: {rule}: {e}") from None
            parsed.append(Rule(pattern, source, m.group(4), m.group(6)))
    return tuple(parsed)


@frozen
class SslPrincipalMapper:
    """Kafka's C{SslPrincipalMapper}: the parsed rules, tried in order."""

    rules: tuple[Rule, ...]

    @classmethod
    def from_rules(cls, rules: str | None) -> SslPrincipalMapper:
        """Parse C{rules}; raises ValueError as L{parse_rules}."""
        return cls(parse_rules(rules))

    def __str__(self) -> str:
        """Kafka's C{toString}: C{SslPrincipalMapper(rules = [...])}."""
        return f"SslPrincipalMapper(rules = [{', '.join(str(r) for r in self.rules)}])"

    def name(self, distinguished_name: str) -> str:
        """
        The principal name for C{distinguished_name}: the first rule's that applies.

        @raise NoMatchingRule: when none does.
        """
        for rule in self.rules:
            result = rule.apply(distinguished_name)
            if result is not None:
                return result
        rules = ", ".join(str(r) for r in self.rules)
        raise NoMatchingRule(f"No rules apply to {distinguished_name}, rules [{rules}]")
