"""Broker properties from C{KAFKA_*} environment variables, as the C{apache/kafka} image reads them.

The container entry point (L{kafkatwist.container}) lays these over the
image's default properties. The names follow the C{apache/kafka} image
(its C{ub render-properties} with C{kafka-propertiesSpec.json}):

  - only variables whose name starts with C{KAFKA_} count, and the prefix is
    dropped (C{KAFKATWIST_*} and C{CLUSTER_ID} are not properties);
  - in the rest, a single C{_} stands for C{.}, a double C{__} for C{_} and a
    triple C{___} for C{-}, and the name is lowercased:
    C{KAFKA_ADVERTISED_LISTENERS} is C{advertised.listeners},
    C{KAFKA_KAFKATWIST_METRICS_LISTENER} is C{kafkatwist.metrics.listener};
  - the variables of Kafka's start scripts (C{KAFKA_HEAP_OPTS},
    C{KAFKA_OPTS}, ...) are not properties (L{EXCLUDED});
  - when C{KAFKA_ADVERTISED_LISTENERS} is set and C{KAFKA_LISTENERS} is not
    (and the node is not a controller only), C{listeners} is the advertised
    listeners with every host replaced by C{0.0.0.0}, as the image's
    C{configure} script does.

Kafka leaves runs of four or more underscores undefined; here they are an
error. This module is sans-io: it imports nothing from Twisted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = [
    "EXCLUDED",
    "PREFIX",
    "VariableError",
    "environment_properties",
    "property_name",
]

PREFIX = "KAFKA_"

#: The C{KAFKA_*} variables that are not broker properties: those of the
#: C{apache/kafka} image's exclude list (which spells the heap one
#: C{KAFKA_HEAP_OPT}), the one Kafka's scripts actually read
#: (C{KAFKA_HEAP_OPTS}), and C{KAFKA_HOME}, which many environments set.
EXCLUDED = frozenset(
    {
        "KAFKA_VERSION",
        "KAFKA_HOME",
        "KAFKA_HEAP_OPT",
        "KAFKA_HEAP_OPTS",
        "KAFKA_LOG4J_OPTS",
        "KAFKA_OPTS",
        "KAFKA_JMX_OPTS",
        "KAFKA_JVM_PERFORMANCE_OPTS",
        "KAFKA_GC_LOG_OPTS",
        "KAFKA_LOG4J_ROOT_LOGLEVEL",
        "KAFKA_LOG4J_LOGGERS",
        "KAFKA_TOOLS_LOG4J_LOGLEVEL",
    }
)


class VariableError(ValueError):
    """A C{KAFKA_*} environment variable that names no property, or one named twice."""


_UNDERSCORES = re.compile(r"_+")
_RUNS = {1: ".", 2: "_", 3: "-"}


def property_name(variable: str) -> str | None:
    """
    The property that environment variable C{variable} sets, or C{None}.

    @raise VariableError: for a C{KAFKA_*} name with a run of four or more
        underscores, or one that starts or ends with an underscore after the
        prefix (it would name a property starting or ending in C{.}).
    """
    if not variable.startswith(PREFIX) or variable in EXCLUDED:
        return None
    rest = variable[len(PREFIX) :]
    if not rest:
        return None
    if rest.startswith("_") or rest.endswith("_"):
        raise VariableError(
            f"environment variable {variable}: a property name neither starts nor ends "
            "with '.', '_' or '-'"
        )

    def replace(run: re.Match[str]) -> str:
        try:
            return _RUNS[len(run.group())]
        except KeyError:
            raise VariableError(
                f"environment variable {variable}: a run of {len(run.group())} underscores "
                "stands for nothing ('_' is '.', '__' is '_', '___' is '-')"
            ) from None

    return _UNDERSCORES.sub(replace, rest).lower()


def environment_properties(environ: Mapping[str, str]) -> dict[str, str]:
    """
    The properties that the C{KAFKA_*} variables of C{environ} set, in name order.

    Adds C{listeners} derived from C{advertised.listeners} as the
    C{apache/kafka} image does (see the module docstring).

    @raise VariableError: for a variable L{property_name} refuses, or two
        variables naming the same property.
    """
    found: dict[str, tuple[str, str]] = {}
    for variable in sorted(environ):
        name = property_name(variable)
        if name is None:
            continue
        if name in found:
            raise VariableError(
                f"environment variables {found[name][0]} and {variable} both set {name}"
            )
        found[name] = (variable, environ[variable])
    properties = {name: value for name, (_, value) in found.items()}
    advertised = properties.get("advertised.listeners")
    roles = {role.strip() for role in properties.get("process.roles", "").split(",")}
    if "listeners" not in properties and advertised is not None and roles != {"controller"}:
        properties["listeners"] = _any_host(advertised)
    return dict(sorted(properties.items()))


def _any_host(listeners: str) -> str:
    """C{listeners} with each C{NAME://host:port} turned into C{NAME://0.0.0.0:port}."""
    derived = []
    for entry in listeners.split(","):
        entry = entry.strip()
        scheme, separator, address = entry.partition("://")
        _, colon, port = address.rpartition(":")
        if not separator or not colon:
            # Left for the broker's own validation to report.
            derived.append(entry)
        else:
            derived.append(f"{scheme}://0.0.0.0:{port}")
    return ",".join(derived)
