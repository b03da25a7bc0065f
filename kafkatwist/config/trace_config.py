"""The protocol trace's keys (C{kafkatwist.trace.*}): kafkatwist's own, read-only.

L{kafkatwist.config.broker_configs} adds these rows to its table, so
C{server.properties} may set them, they are validated with the rest and
DescribeConfigs shows them. L{TraceConfig} reads them for
L{kafkatwist.trace}; the twistd option C{--trace} sets C{kafkatwist.trace.enable}.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from attrs import frozen

from kafkatwist.config.values import (
    TYPE_BOOLEAN,
    TYPE_INT,
    TYPE_LIST,
    TYPE_STRING,
    Validator,
    at_least,
    parse_as,
    split_list,
)

__all__ = ["ENABLE", "TRACE_BROKER_ROWS", "TRACE_KEYS", "TraceConfig"]

ENABLE = "kafkatwist.trace.enable"
APIS = "kafkatwist.trace.apis"
CLIENT_IDS = "kafkatwist.trace.client.ids"
FILE = "kafkatwist.trace.file"
MAX_LINE_BYTES = "kafkatwist.trace.max.line.bytes"

_API = re.compile(r"[0-9]{1,5}|[A-Za-z]+")


def _api(value: str) -> str | None:
    """An API key (a number) or an API's name (letters: C{Produce}, C{fetch})."""
    return None if _API.fullmatch(value) else "Must be an API key or an API name"


# (name, type, default, documentation, validator)
# fmt: off
TRACE_BROKER_ROWS: tuple[tuple[str, int, str | None, str, Validator | None], ...] = (
    (ENABLE, TYPE_BOOLEAN, "false", "Log each request and response decoded, as JSON lines (the "
     "protocol trace; the twistd option --trace sets it).", None),
    (APIS, TYPE_LIST, "", "The APIs the trace shows, by name (Produce, any case) or key; all "
     "when empty.", _api),
    (CLIENT_IDS, TYPE_LIST, "", "The client ids whose requests the trace shows; all when "
     "empty.", None),
    (FILE, TYPE_STRING, None, "The file the trace's lines are appended to, written off the "
     "reactor thread; the Twisted log when unset.", None),
    (MAX_LINE_BYTES, TYPE_INT, "1048576", "The longest trace line: a longer one keeps its "
     "envelope and says the size of the body it leaves out.", at_least(1024)),
)
# fmt: on

#: Every trace key: something reads them (L{kafkatwist.config.properties.USED_KEYS}).
TRACE_KEYS = frozenset(name for name, *_ in TRACE_BROKER_ROWS)

_DEFAULTS = {name: default for name, _type, default, _doc, _check in TRACE_BROKER_ROWS}


@frozen
class TraceConfig:
    """
    The trace's settings.

    @ivar apis: API names (lower-case) and keys (as decimal strings) to show; all when empty.
    @ivar client_ids: Client ids to show; all when empty.
    @ivar file: Where the lines go; None for the Twisted log.
    """

    enable: bool = False
    apis: frozenset[str] = frozenset()
    client_ids: frozenset[str] = frozenset()
    file: str | None = None
    max_line_bytes: int = 1048576

    @classmethod
    def from_properties(cls, props: Mapping[str, str]) -> TraceConfig:
        """The settings in C{props} (values already validated by the broker table)."""

        def raw(key: str) -> str:
            return props.get(key, _DEFAULTS[key] or "")

        return cls(
            enable=parse_as(TYPE_BOOLEAN, raw(ENABLE), bool),
            apis=frozenset(item.lower() for item in split_list(raw(APIS))),
            client_ids=frozenset(split_list(raw(CLIENT_IDS))),
            file=props.get(FILE) or None,
            max_line_bytes=parse_as(TYPE_INT, raw(MAX_LINE_BYTES), int),
        )
