"""Python callables for C{sasl.server.callback.handler.class} in the SASL tests."""

from __future__ import annotations


def only_carol(username: str, password: str) -> bool:
    """Carol with C{carol-pw}, nobody else."""
    return (username, password) == ("carol", "carol-pw")


class Failing:
    """A handler class whose instances raise: the password cannot be verified."""

    def __call__(self, username: str, password: str) -> bool:
        raise RuntimeError("directory unreachable")


NOT_CALLABLE = 42
