"""How a SASL mechanism fails: Kafka's C{SaslException} and C{SaslAuthenticationException}."""

from __future__ import annotations


class SaslError(Exception):
    """
    Authentication failed; the client is told only that (Kafka's C{SaslException}).

    The message is for the broker's log: Kafka keeps it from the client,
    since it may say whether the user exists.
    """


class SaslAuthenticationError(Exception):
    """Authentication failed; the client sees the message (C{SaslAuthenticationException})."""
