"""Server-side assignors of the consumer group protocol (KIP-848): their interface in L{spec}."""

from __future__ import annotations

from collections.abc import Mapping

from kafkatwist.groups.assignors.spec import Assignor

#: The server-side assignors by name. FOR THE LEAD: the assignors branch
#: defines this mapping with "uniform" and "range"; keep its definition.
ASSIGNORS: Mapping[str, Assignor] = {}
