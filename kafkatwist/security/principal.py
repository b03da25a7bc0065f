"""KafkaPrincipal: who a connection is, as Kafka names it (C{User:alice})."""

from __future__ import annotations

from attrs import frozen

#: Kafka's C{KafkaPrincipal.USER_TYPE}.
USER_TYPE = "User"


@frozen
class KafkaPrincipal:
    """
    A principal: its type (C{User}) and name; C{str()} is Kafka's C{User:alice}.

    PLAINTEXT clients and SSL clients without a certificate are
    L{ANONYMOUS} (Kafka's C{KafkaPrincipal.ANONYMOUS}).
    """

    principal_type: str
    name: str

    def __str__(self) -> str:
        return f"{self.principal_type}:{self.name}"

    @classmethod
    def parse(cls, text: str) -> KafkaPrincipal:
        """
        Kafka's C{SecurityUtils.parseKafkaPrincipal}: C{Type:name}, split at
        the first colon (either side may be empty, as in Kafka).

        @raise ValueError: when C{text} has no colon, with Kafka's message.
        """
        principal_type, colon, name = text.partition(":")
        if not colon:
            raise ValueError(
                f"expected a string in format principalType:principalName but got {text}"
            )
        return cls(principal_type, name)


ANONYMOUS = KafkaPrincipal(USER_TYPE, "ANONYMOUS")
