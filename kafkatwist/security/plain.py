"""SASL/PLAIN (RFC 4616): Kafka's C{PlainSaslServer} and C{PlainServerCallbackHandler}.

The token is C{authzid NUL username NUL password}; the authzid must be empty
or the user name. Who may log in is a L{PlainAuthenticate} callable: by
default the C{user_<name>="<password>"} options of the listener's
C{PlainLoginModule} JAAS entry (L{jaas_users}), or a Python callable named
by C{sasl.server.callback.handler.class} (L{load_callback}).
"""

from __future__ import annotations

import hmac
import importlib
from collections.abc import Callable, Mapping

from kafkatwist.security.sasl_errors import SaslAuthenticationError

#: C{(username, password) -> bool}: whether the password is the user's.
PlainAuthenticate = Callable[[str, str], bool]

#: Kafka's C{PlainLoginModule}, and the option prefix of its users.
PLAIN_LOGIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"
JAAS_USER_PREFIX = "user_"


def jaas_users(options: Mapping[str, str]) -> PlainAuthenticate:
    """
    Kafka's C{PlainServerCallbackHandler}: a password is right when it equals C{user_<name>}.

    The comparison takes constant time (Kafka's C{Utils.isEqualConstantTime}).
    """
    passwords = {
        key[len(JAAS_USER_PREFIX) :]: value
        for key, value in options.items()
        if key.startswith(JAAS_USER_PREFIX)
    }

    def authenticate(username: str, password: str) -> bool:
        expected = passwords.get(username)
        return expected is not None and hmac.compare_digest(expected.encode(), password.encode())

    return authenticate


def load_callback(name: str) -> PlainAuthenticate:
    """
    The Python callable C{name} names: C{package.module:attribute} or C{package.module.attribute}.

    A class is instantiated without arguments (its instances must be
    callable); anything else is used as it is.

    @raise ValueError: when C{name} cannot be imported or is not callable.
    """
    module_name, colon, attribute = name.partition(":")
    if not colon:
        module_name, _, attribute = name.rpartition(".")
    if not module_name or not attribute:
        raise ValueError(f"{name!r} does not name a Python object (module:attribute)")
    try:
        target: object = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"cannot load {name!r}: {e}") from e
    if isinstance(target, type):
        target = target()
    if not callable(target):
        raise ValueError(f"{name!r} is not callable")
    authenticate: PlainAuthenticate = target
    return authenticate


def _tokens(text: str) -> list[str]:
    """Kafka's C{PlainSaslServer.extractTokens}: up to four NUL-separated tokens; three expected."""
    tokens = text.split("\0", 3)
    if len(tokens) != 3:
        raise SaslAuthenticationError(
            f"Invalid SASL/PLAIN response: expected 3 tokens, got {min(len(tokens), 4)}"
        )
    return tokens


class PlainServer:
    """
    The server side of one PLAIN exchange (Kafka's C{PlainSaslServer}).

    @ivar authorization_id: The authenticated user, once complete.
    """

    mechanism_name = "PLAIN"

    def __init__(self, authenticate: PlainAuthenticate) -> None:
        self._authenticate = authenticate
        self.complete = False
        self.authorization_id = ""

    def evaluate(self, token: bytes) -> bytes:
        """
        Check C{authzid NUL username NUL password}; an empty answer on success.

        @raise SaslAuthenticationError: with Kafka's message for the client.
        """
        authzid, user, password = _tokens(token.decode("utf-8", "replace"))
        if not user:
            raise SaslAuthenticationError("Authentication failed: username not specified")
        if not password:
            raise SaslAuthenticationError("Authentication failed: password not specified")
        try:
            ok = self._authenticate(user, password)
        except Exception as e:
            raise SaslAuthenticationError(
                "Authentication failed: credentials for user could not be verified"
            ) from e
        if not ok:
            raise SaslAuthenticationError("Authentication failed: Invalid username or password")
        if authzid and authzid != user:
            raise SaslAuthenticationError(
                "Authentication failed: Client requested an authorization id "
                "that is different from username"
            )
        self.authorization_id = user
        self.complete = True
        return b""
