"""twistd plugin for kafkatwist: C{twistd -n kafkatwist [server.properties]}.

Importing this costs nothing: twistd imports C{kafkatwist.transport.tap} only when the
C{kafkatwist} subcommand is used. There must be no C{__init__.py} next to this
file or in C{twisted/}.
"""

from __future__ import annotations

from twisted.application.service import ServiceMaker

kafkatwist = ServiceMaker(
    "kafkatwist", "kafkatwist.transport.tap", "Kafka-compatible broker", "kafkatwist"
)
