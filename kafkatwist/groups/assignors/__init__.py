"""
Server-side assignors of the consumer group protocol (KIP-848).

Their interface is in L{spec}; L{ASSIGNORS} holds the ones a broker offers,
by name, in Kafka's order of C{group.consumer.assignors} (C{uniform,range}):
the first is the default a member gets when it names none.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from kafkatwist.groups.assignors.range import RangeAssignor
from kafkatwist.groups.assignors.spec import Assignor
from kafkatwist.groups.assignors.uniform import UniformAssignor

#: The server-side assignors by name, the default (C{uniform}) first.
ASSIGNORS: Mapping[str, Assignor] = MappingProxyType(
    {"uniform": UniformAssignor(), "range": RangeAssignor()}
)
