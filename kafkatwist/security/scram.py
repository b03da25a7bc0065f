"""SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677): the formatter, the messages, the server.

Kafka's C{ScramMechanism}, C{ScramFormatter}, C{ScramMessages} and
C{ScramSaslServer}, sans-io: L{ScramServer.evaluate} takes the client's
token and returns the server's, or raises L{SaslError} (the client is told
only that authentication failed) or L{SaslAuthenticationError} (the client
sees the message).

What Kafka checks, and so this does:

* the client-first message matches Kafka's grammar (C{ScramMessages}; a
  message that does not is not quoted in the log line, unlike Kafka's, as
  it may be a password sent with the wrong mechanism):
  gs2 header C{n} only (no channel binding), an optional authzid, which
  must then equal the user name, ASCII names with C{=2C}/C{=3D} escapes;
* the server nonce extends the client's with fresh random characters, and
  the client-final nonce must be exactly the combined one (a replayed
  exchange or a forged nonce fails);
* the client-final channel binding is the gs2 header the client sent
  (C{biws} for C{n,,}): RFC 5802's check, stricter than Kafka's parser;
* the proof is checked by recomputing the stored key, compared in constant
  time (C{hmac.compare_digest}; Kafka's C{MessageDigest.isEqual});
* a credential with fewer iterations than the mechanism's minimum (4096)
  is refused; C{tokenauth=true} (delegation tokens) always fails: there
  are none.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable

from attrs import frozen

from kafkatwist.security.sasl_errors import SaslAuthenticationError, SaslError


@frozen
class ScramMechanism:
    """One SCRAM mechanism: its name, Kafka's type code, hash and minimum iterations."""

    name: str
    type: int
    hash_name: str
    min_iterations: int = 4096

    def digest(self, data: bytes) -> bytes:
        """C{H(data)}."""
        return hashlib.new(self.hash_name, data).digest()

    def hmac(self, key: bytes, data: bytes) -> bytes:
        """C{HMAC(key, data)}."""
        return hmac.new(key, data, self.hash_name).digest()

    def salted_password(self, password: bytes, salt: bytes, iterations: int) -> bytes:
        """C{Hi(password, salt, i)}: PBKDF2 with this hash."""
        return hashlib.pbkdf2_hmac(self.hash_name, password, salt, iterations)

    def client_key(self, salted_password: bytes) -> bytes:
        return self.hmac(salted_password, b"Client Key")

    def server_key(self, salted_password: bytes) -> bytes:
        return self.hmac(salted_password, b"Server Key")

    def stored_key(self, client_key: bytes) -> bytes:
        return self.digest(client_key)


SCRAM_SHA_256 = ScramMechanism("SCRAM-SHA-256", 1, "sha256")
SCRAM_SHA_512 = ScramMechanism("SCRAM-SHA-512", 2, "sha512")
#: By name, and by Kafka's type code (0 is C{UNKNOWN}).
MECHANISMS = {m.name: m for m in (SCRAM_SHA_256, SCRAM_SHA_512)}
MECHANISMS_BY_TYPE = {m.type: m for m in (SCRAM_SHA_256, SCRAM_SHA_512)}
#: Kafka's C{ScramControlManager.MAX_ITERATIONS}.
MAX_ITERATIONS = 16384


@frozen
class ScramCredential:
    """What the broker keeps of a password (Kafka's C{ScramCredential}): never the password."""

    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int


def make_credential(
    mechanism: ScramMechanism, password: str, salt: bytes, iterations: int
) -> ScramCredential:
    """The credential of C{password} (what the broker keeps of it)."""
    salted = mechanism.salted_password(password.encode(), salt, iterations)
    return ScramCredential(
        salt=salt,
        stored_key=mechanism.stored_key(mechanism.client_key(salted)),
        server_key=mechanism.server_key(salted),
        iterations=iterations,
    )


def username(sasl_name: str) -> str:
    """Kafka's C{ScramFormatter.username}: undo the C{=2C} and C{=3D} escapes."""
    return sasl_name.replace("=2C", ",").replace("=3D", "=")


def sasl_name(user: str) -> str:
    """Kafka's C{ScramFormatter.saslName}: escape C{=} and C{,}."""
    return user.replace("=", "=3D").replace(",", "=2C")


# Kafka's ScramMessages grammar (Java's [\x01-\x7F&&[^=,]] written out).
_SASLNAME = r"(?:[\x01-\x2B\x2D-\x3C\x3E-\x7F]|=2C|=3D)+"
_VALUE = r"[\x01-\x2B\x2D-\x7F]+"
_PRINTABLE = r"[\x21-\x2B\x2D-\x7E]+"
_B64 = r"(?:[a-zA-Z0-9/+]{4})*(?:[a-zA-Z0-9/+]{3}=|[a-zA-Z0-9/+]{2}==)?"
_EXTENSIONS = rf"(?:,[A-Za-z]+={_VALUE})*"
_CLIENT_FIRST = re.compile(
    rf"(?P<gs2>n,(?:a=(?P<authzid>{_SASLNAME}))?,)"
    rf"(?P<bare>(?:m={_VALUE},)?n=(?P<saslname>{_SASLNAME}),r=(?P<nonce>{_PRINTABLE})"
    rf"(?P<extensions>{_EXTENSIONS}))"
)
_CLIENT_FINAL = re.compile(
    rf"(?P<without_proof>c=(?P<channel>{_B64}),r=(?P<nonce>{_PRINTABLE}){_EXTENSIONS}),"
    rf"p=(?P<proof>{_B64})"
)


@frozen
class ClientFirstMessage:
    """A parsed client-first message (Kafka's C{ScramMessages.ClientFirstMessage})."""

    gs2_header: str
    bare: str
    sasl_name: str
    nonce: str
    authorization_id: str
    extensions: dict[str, str]

    @classmethod
    def parse(cls, token: bytes) -> ClientFirstMessage:
        """@raise SaslError: when the message does not follow Kafka's grammar."""
        text = token.decode("utf-8", "replace")
        match = _CLIENT_FIRST.fullmatch(text)
        if match is None:
            # Not the text: a client with the wrong mechanism may have sent its password.
            raise SaslError(f"Invalid SCRAM client first message format ({len(token)} bytes)")
        extensions = dict(item.split("=", 1) for item in match["extensions"].split(",") if item)
        return cls(
            gs2_header=match["gs2"],
            bare=match["bare"],
            sasl_name=match["saslname"],
            nonce=match["nonce"],
            authorization_id=match["authzid"] or "",
            extensions=extensions,
        )


@frozen
class ClientFinalMessage:
    """A parsed client-final message (Kafka's C{ScramMessages.ClientFinalMessage})."""

    without_proof: str
    channel_binding: bytes
    nonce: str
    proof: bytes

    @classmethod
    def parse(cls, token: bytes) -> ClientFinalMessage:
        """@raise SaslError: when the message does not follow Kafka's grammar."""
        text = token.decode("utf-8", "replace")
        match = _CLIENT_FINAL.fullmatch(text)
        if match is None:
            raise SaslError(f"Invalid SCRAM client final message format ({len(token)} bytes)")
        try:
            channel = base64.b64decode(match["channel"], validate=True)
            proof = base64.b64decode(match["proof"], validate=True)
        except binascii.Error as e:
            raise SaslError(
                f"Invalid SCRAM client final message format ({len(token)} bytes)"
            ) from e
        return cls(match["without_proof"], channel, match["nonce"], proof)


#: Looks a user's credential up at authentication time (C{None}: no such user).
CredentialLookup = Callable[[str, ScramMechanism], "ScramCredential | None"]


def _server_nonce() -> str:
    """Fresh printable characters for the server's part of the nonce (no commas)."""
    return secrets.token_urlsafe(24)


class ScramServer:
    """
    The server side of one SCRAM exchange (Kafka's C{ScramSaslServer}).

    @ivar authorization_id: The authenticated user, once complete.
    """

    def __init__(
        self,
        mechanism: ScramMechanism,
        credentials: CredentialLookup,
        nonce: Callable[[], str] = _server_nonce,
    ) -> None:
        self.mechanism_name = mechanism.name
        self._mechanism = mechanism
        self._credentials = credentials
        self._nonce = nonce
        self._first: ClientFirstMessage | None = None
        self._server_first = ""
        self._combined_nonce = ""
        self._credential: ScramCredential | None = None
        self.complete = False
        self._failed = False
        self.authorization_id = ""

    def evaluate(self, token: bytes) -> bytes:
        """
        The server's answer to the client's next message.

        @raise SaslError: the exchange failed (a generic message for the client).
        @raise SaslAuthenticationError: the exchange failed with a message for the client.
        """
        try:
            if self._failed or self.complete:
                raise SaslError(f"Unexpected challenge in Sasl server state {self._state()}")
            if self._first is None:
                return self._client_first(token)
            return self._client_final(self._first, token)
        except (SaslError, SaslAuthenticationError):
            self._failed = True
            self._credential = None
            raise

    def _state(self) -> str:
        return "COMPLETE" if self.complete else "FAILED"

    def _client_first(self, token: bytes) -> bytes:
        first = ClientFirstMessage.parse(token)
        user = username(first.sasl_name)
        if first.extensions.get("tokenauth", "").lower() == "true":
            # Kafka asks its delegation token cache; kafkatwist has no tokens.
            raise SaslError(f"Token Authentication failed: Invalid tokenId : {user}")
        credential = self._credentials(user, self._mechanism)
        if credential is None:
            raise SaslError("Authentication failed: Invalid user credentials")
        if first.authorization_id and username(first.authorization_id) != user:
            raise SaslAuthenticationError(
                "Authentication failed: Client requested an authorization id "
                "that is different from username"
            )
        if credential.iterations < self._mechanism.min_iterations:
            raise SaslError(
                f"Iterations {credential.iterations} is less than the minimum "
                f"{self._mechanism.min_iterations} for {self._mechanism.name}"
            )
        self._first = first
        self._credential = credential
        self.authorization_id = user
        self._combined_nonce = first.nonce + self._nonce()
        salt = base64.b64encode(credential.salt).decode()
        self._server_first = f"r={self._combined_nonce},s={salt},i={credential.iterations}"
        return self._server_first.encode()

    def _client_final(self, first: ClientFirstMessage, token: bytes) -> bytes:
        final = ClientFinalMessage.parse(token)
        credential = self._credential
        if credential is None:  # pragma: no cover - set with _first
            raise SaslError("Authentication failed: Invalid client final message")
        if not hmac.compare_digest(final.nonce.encode(), self._combined_nonce.encode()):
            raise SaslError("Invalid client nonce in the final client message.")
        if final.channel_binding != first.gs2_header.encode():
            raise SaslError("Invalid channel binding in the final client message.")
        mechanism = self._mechanism
        auth_message = f"{first.bare},{self._server_first},{final.without_proof}".encode()
        signature = mechanism.hmac(credential.stored_key, auth_message)
        if len(final.proof) != len(signature):
            raise SaslError("Invalid client credentials")
        client_key = bytes(a ^ b for a, b in zip(final.proof, signature, strict=True))
        if not hmac.compare_digest(mechanism.stored_key(client_key), credential.stored_key):
            raise SaslError("Invalid client credentials")
        server_signature = mechanism.hmac(credential.server_key, auth_message)
        self._credential = None
        self.complete = True
        return b"v=" + base64.b64encode(server_signature)
