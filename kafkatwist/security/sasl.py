"""The SASL state of one connection: Kafka's C{SaslServerAuthenticator}, sans-io.

The transport hands every frame of a SASL listener's connection to
L{SaslAuthenticator.receive} first. Before authentication (Kafka's states
C{INITIAL_REQUEST}, C{HANDSHAKE_OR_VERSIONS_REQUEST}, C{HANDSHAKE_REQUEST},
C{AUTHENTICATE}):

* ApiVersions is served (by the dispatcher: L{receive} returns None), once,
  before the SaslHandshake; an ApiVersions at an unsupported version is
  answered and may be retried;
* SaslHandshake (v0-1) picks the mechanism: one not enabled is answered
  UNSUPPORTED_SASL_MECHANISM with the enabled ones, then the connection
  closes (C{handleHandshakeRequest});
* after SaslHandshake v1, the tokens come in SaslAuthenticate requests
  (v0-2); after v0, as raw frames without a Kafka header, and the answers
  go back the same way (the unframed flow of Kafka 0.10);
* a failed authentication is answered SASL_AUTHENTICATION_FAILED (with the
  mechanism's message, or Kafka's generic one for a SCRAM failure, which
  must not say whether the user exists), then the connection closes;
* any other request closes the connection with no answer (Kafka throws
  C{InvalidRequestException} / C{IllegalSaslStateException}).

Once authenticated, the session's principal is C{User:<name>} and frames
go to the dispatcher, except (KIP-368, C{SocketServer.processCompletedReceives}
and C{KafkaChannel.maybeBeginServerReauthentication}): when
C{connections.max.reauth.ms} gave the session a lifetime, a SaslHandshake
(at most one a second) starts re-authentication, which must keep the
mechanism and the principal; and any other request arriving after the
session expired closes the connection.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from attrs import frozen

from kafkatwist.clock import ReactorTime
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.sasl_authenticate import (
    SaslAuthenticateRequest,
    SaslAuthenticateResponse,
)
from kafkatwist.messages.sasl_handshake import SaslHandshakeRequest, SaslHandshakeResponse
from kafkatwist.security.plain import PlainServer
from kafkatwist.security.principal import USER_TYPE, KafkaPrincipal
from kafkatwist.security.sasl_config import PLAIN, SaslListenerConfig
from kafkatwist.security.sasl_errors import SaslAuthenticationError, SaslError
from kafkatwist.security.scram import (
    MECHANISMS,
    CredentialLookup,
    ScramCredential,
    ScramMechanism,
    ScramServer,
)
from kafkatwist.security.session import Session
from kafkatwist.storage.interfaces import IMetadataStore
from kafkatwist.wire import schema
from kafkatwist.wire.header import (
    API_VERSIONS_KEY,
    decode_request_header,
    encode_response_header,
    peek_key_and_version,
    request_header_version,
    response_header_version,
)
from kafkatwist.wire.primitives import Buffer, Reader, Writer
from kafkatwist.wire.versions import VersionRange

SASL_HANDSHAKE_KEY = 17
SASL_AUTHENTICATE_KEY = 36
HANDSHAKE_VERSIONS = VersionRange(0, 1)
AUTHENTICATE_VERSIONS = VersionRange(0, 2)
#: Kafka's C{KafkaChannel.MIN_REAUTH_INTERVAL_ONE_SECOND_NANOS}.
MIN_REAUTH_INTERVAL = 1.0


class _State(enum.Enum):
    INITIAL = "INITIAL_REQUEST"
    HANDSHAKE_OR_VERSIONS = "HANDSHAKE_OR_VERSIONS_REQUEST"
    HANDSHAKE = "HANDSHAKE_REQUEST"
    REAUTH_HANDSHAKE = "REAUTH_PROCESS_HANDSHAKE"
    AUTHENTICATE = "AUTHENTICATE"
    REAUTH_BAD_MECHANISM = "REAUTH_BAD_MECHANISM"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"


@frozen
class SaslStep:
    """
    What the connection does with a frame the authenticator took.

    @ivar reply: The answer to write (one frame), or None.
    @ivar close: Why to close the connection after the reply (for the one
        log line), or None to go on.
    @ivar delay_ms: How long the connection stays muted before it closes: a
        failed authentication's C{connection.failed.authentication.delay.ms}
        (Kafka's C{Selector} mutes the channel that long), else 0. Kafka
        sends the answer at the end of the delay, together with the close;
        kafkatwist sends it at once, so that clients which drop data read
        together with the end of the stream (kafka-python 3.0) still see it.
    """

    reply: list[Buffer] | None = None
    close: str | None = None
    delay_ms: int = 0


Mechanism = PlainServer | ScramServer


class SaslAuthenticator:
    """The SASL state machine of one connection on a SASL listener."""

    def __init__(
        self,
        config: SaslListenerConfig,
        session: Session,
        credentials: CredentialLookup,
        clock: ReactorTime,
        api_versions: VersionRange,
        scram_nonce: Callable[[], str] | None = None,
    ) -> None:
        """
        @param credentials: Reads a SCRAM credential from the metadata
            image, at authentication time.
        @param api_versions: The ApiVersions versions the dispatcher serves.
        @param scram_nonce: The server's nonce part (tests); random by default.
        """
        self._config = config
        self._session = session
        self._credentials = credentials
        self._clock = clock
        self._api_versions = api_versions
        self._scram_nonce = scram_nonce
        self._state = _State.INITIAL
        self._headers = True
        self._server: Mechanism | None = None
        self.mechanism: str | None = None
        #: When the session expires (clock seconds), None if never.
        self.expires_at: float | None = None
        self._reauth_started: float | None = None
        #: How many re-authentications started on this connection (KIP-368).
        self.reauthentications = 0
        #: The mechanism and principal being re-authenticated, else None.
        self._previous: tuple[str, KafkaPrincipal] | None = None
        session.authenticated = False

    @property
    def state(self) -> str:
        """Kafka's name of the state (C{SaslServerAuthenticator.SaslState})."""
        return self._state.value

    def receive(self, frame: bytes) -> SaslStep | None:
        """
        Take one frame: the step to take, or None when the dispatcher is to handle it.
        """
        state = self._state
        if state is _State.COMPLETE:
            return self._authenticated(frame)
        if state is _State.AUTHENTICATE:
            return self._token(frame)
        if state is _State.REAUTH_BAD_MECHANISM and self._previous is not None:
            return self._fail(
                None,
                f"SASL mechanism '{self.mechanism}' requested by client is not supported "
                f"for re-authentication of mechanism '{self._previous[0]}'",
            )
        if state is _State.FAILED:
            return SaslStep(close="authentication failed earlier")
        return self._kafka_request(frame)

    # -- after authentication ------------------------------------------------------

    def _authenticated(self, frame: bytes) -> SaslStep | None:
        if len(frame) < 4:
            return None  # the dispatcher closes
        api_key, _ = peek_key_and_version(frame)
        now = self._clock.seconds()
        if (
            api_key == SASL_HANDSHAKE_KEY
            and self.expires_at is not None
            and self.mechanism is not None
            and (self._reauth_started is None or now - self._reauth_started >= MIN_REAUTH_INTERVAL)
        ):
            self._reauth_started = now
            self.reauthentications += 1
            self._previous = (self.mechanism, self._session.principal)
            self._state = _State.REAUTH_HANDSHAKE
            return self._kafka_request(frame)
        if self.expires_at is not None and now > self.expires_at:
            return SaslStep(
                close=f"its SASL session expired (connections.max.reauth.ms) and "
                f"it sent API key {api_key} instead of re-authenticating"
            )
        return None

    # -- handshake -----------------------------------------------------------------

    def _kafka_request(self, frame: bytes) -> SaslStep | None:
        if len(frame) < 8:
            return self._invalid("a frame too short for a request header")
        api_key, version = peek_key_and_version(frame)
        if api_key not in (API_VERSIONS_KEY, SASL_HANDSHAKE_KEY):
            return self._invalid(
                f"Unexpected Kafka request of type {api_key} during SASL handshake"
            )
        if api_key == API_VERSIONS_KEY:
            if self._state not in (_State.INITIAL, _State.HANDSHAKE_OR_VERSIONS):
                return self._invalid(
                    "Unexpected ApiVersions request received during SASL authentication "
                    f"state {self._state.value}"
                )
            self._state = _State.HANDSHAKE_OR_VERSIONS
            if version in self._api_versions:
                self._state = _State.HANDSHAKE
            return None
        if version not in HANDSHAKE_VERSIONS:
            return self._invalid(f"SaslHandshake v{version} is not supported")
        try:
            reader = Reader(frame)
            header = decode_request_header(reader, request_header_version(api_key, version, False))
            request = schema.decode(SaslHandshakeRequest, version, reader)
        except Exception as e:
            return self._invalid(f"a SaslHandshake that does not decode ({e})")
        if self._state is _State.INITIAL:
            self._state = _State.HANDSHAKE_OR_VERSIONS
        self._headers = version >= 1
        mechanism = request.mechanism
        enabled = self._config.mechanisms
        if mechanism not in enabled:
            response = SaslHandshakeResponse(
                error_code=int(ErrorCode.UNSUPPORTED_SASL_MECHANISM), mechanisms=enabled
            )
            reply = _encode(response, SASL_HANDSHAKE_KEY, version, header.correlation_id)
            self._state = _State.FAILED
            return SaslStep(
                reply, f"Unsupported SASL mechanism {mechanism}", self._config.failure_delay_ms
            )
        reply = _encode(
            SaslHandshakeResponse(error_code=0, mechanisms=enabled),
            SASL_HANDSHAKE_KEY,
            version,
            header.correlation_id,
        )
        self.mechanism = mechanism
        if self._previous is not None and self._previous[0] != mechanism:
            self._state = _State.REAUTH_BAD_MECHANISM
            return SaslStep(reply)
        self._server = self._new_server(mechanism)
        self._state = _State.AUTHENTICATE
        return SaslStep(reply)

    def _new_server(self, mechanism: str) -> Mechanism:
        if mechanism == PLAIN and self._config.plain is not None:
            return PlainServer(self._config.plain)
        scram = MECHANISMS[mechanism]
        if self._scram_nonce is None:
            return ScramServer(scram, self._credentials)
        return ScramServer(scram, self._credentials, self._scram_nonce)

    # -- tokens --------------------------------------------------------------------

    def _token(self, frame: bytes) -> SaslStep:
        server = self._server
        assert server is not None  # set with the AUTHENTICATE state
        if not self._headers:
            try:
                raw = server.evaluate(frame)
                self._check_complete(server)
            except (SaslError, SaslAuthenticationError) as e:
                return self._fail(None, str(e))
            return SaslStep([raw])
        if len(frame) < 8:
            return self._invalid("a frame too short for a request header")
        api_key, version = peek_key_and_version(frame)
        if api_key != SASL_AUTHENTICATE_KEY:
            return self._invalid(
                f"Unexpected Kafka request of type {api_key} during SASL authentication"
            )
        if version not in AUTHENTICATE_VERSIONS:
            return self._invalid(f"Version {version} is not supported for apiKey SASL_AUTHENTICATE")
        flexible = version >= 2
        try:
            reader = Reader(frame)
            header = decode_request_header(
                reader, request_header_version(api_key, version, flexible)
            )
            request = schema.decode(SaslAuthenticateRequest, version, reader)
        except Exception as e:
            return self._invalid(f"a SaslAuthenticate that does not decode ({e})")

        def answer(response: SaslAuthenticateResponse) -> list[Buffer]:
            return _encode(response, SASL_AUTHENTICATE_KEY, version, header.correlation_id)

        try:
            token = server.evaluate(bytes(request.auth_bytes))
            lifetime_ms = self._check_complete(server)
        except SaslAuthenticationError as e:
            message = str(e)
        except SaslError as e:
            what = "re-authentication" if self._previous is not None else "authentication"
            message = (
                f"Authentication failed during {what} due to invalid credentials "
                f"with SASL mechanism {server.mechanism_name}"
            )
            return self._fail(answer(self._failed(message)), f"{message} ({e})")
        else:
            return SaslStep(
                answer(
                    SaslAuthenticateResponse(
                        error_code=0,
                        error_message=None,
                        auth_bytes=token,
                        session_lifetime_ms=lifetime_ms,
                    )
                )
            )
        return self._fail(answer(self._failed(message)), message)

    @staticmethod
    def _failed(message: str) -> SaslAuthenticateResponse:
        return SaslAuthenticateResponse(
            error_code=int(ErrorCode.SASL_AUTHENTICATION_FAILED),
            error_message=message,
            auth_bytes=b"",
        )

    def _check_complete(self, server: Mechanism) -> int:
        """
        Once the exchange completes: the session is authenticated; its lifetime in ms (0: none).

        @raise SaslAuthenticationError: a re-authentication changed the principal.
        """
        if not server.complete:
            return 0
        principal = KafkaPrincipal(USER_TYPE, server.authorization_id)
        previous = self._previous
        if previous is not None and previous[1] != principal:
            old = previous[1]
            raise SaslAuthenticationError(
                "Cannot change principals during re-authentication from "
                f"{old.principal_type}.{old.name}: {principal.principal_type}.{principal.name}"
            )
        lifetime_ms = self._config.reauth_ms.get(server.mechanism_name, 0)
        self.expires_at = self._clock.seconds() + lifetime_ms / 1000 if lifetime_ms > 0 else None
        self._session.principal = principal
        self._session.authenticated = True
        self._previous = None
        self._server = None
        self._state = _State.COMPLETE
        return lifetime_ms

    def _fail(self, reply: list[Buffer] | None, reason: str) -> SaslStep:
        self._state = _State.FAILED
        self._server = None
        return SaslStep(
            reply,
            f"failed authentication with SASL mechanism {self.mechanism}: {reason}",
            self._config.failure_delay_ms,
        )

    def _invalid(self, reason: str) -> SaslStep:
        if self._state is _State.INITIAL:
            reason = (
                f"{reason}; invalid request, potential reasons: kafka client configured "
                "with the wrong security protocol, it does not support KIP-43 or it is not "
                "a kafka client"
            )
        self._state = _State.FAILED
        return SaslStep(close=f"{reason} (SASL state before authentication)")


def image_credentials(metadata: IMetadataStore) -> CredentialLookup:
    """Look SCRAM credentials up in the metadata image as it is at each login."""

    def lookup(user: str, mechanism: ScramMechanism) -> ScramCredential | None:
        record = metadata.image.scram_credentials.get((user, mechanism.type))
        if record is None:
            return None
        return ScramCredential(
            salt=record.salt,
            stored_key=record.stored_key,
            server_key=record.server_key,
            iterations=record.iterations,
        )

    return lookup


@frozen
class SaslListener:
    """What a SASL listener's connections share: its config, the credentials, the clock."""

    config: SaslListenerConfig
    credentials: CredentialLookup
    clock: ReactorTime
    #: The ApiVersions versions the dispatcher serves.
    api_versions: VersionRange

    def authenticator(self, session: Session) -> SaslAuthenticator:
        """A new connection's authenticator (it marks C{session} unauthenticated)."""
        return SaslAuthenticator(
            self.config, session, self.credentials, self.clock, self.api_versions
        )


def _encode(response: object, api_key: int, version: int, correlation_id: int) -> list[Buffer]:
    flexible = version in schema.message_info(type(response)).flexible
    w = Writer()
    encode_response_header(w, correlation_id, response_header_version(api_key, flexible))
    schema.encode(response, version, w)
    return w.chunks()
