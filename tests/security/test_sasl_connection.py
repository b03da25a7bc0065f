"""A SASL listener's connections: the gate before authentication, PLAIN and SCRAM, KIP-368.

Requests are encoded and responses decoded by aiokafka's protocol classes
(an independent implementation); the SCRAM client side is written from RFC 5802.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
from typing import Any

from aiokafka.protocol.admin import (
    ApiVersionRequest_v1,
    SaslAuthenticateRequest_v0,
    SaslAuthenticateRequest_v1,
    SaslAuthenticateResponse_v1,
    SaslHandShakeRequest_v0,
    SaslHandShakeRequest_v1,
    SaslHandShakeResponse_v1,
)
from aiokafka.protocol.api import ResponseHeader_v0
from aiokafka.protocol.metadata import MetadataRequest_v1, MetadataResponse_v1
from aiokafka.protocol.produce import ProduceRequest_v3
from twisted.internet.task import Clock
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import REGISTRY, alter_user_scram_credentials, api_versions
from kafkatwist.broker import Broker
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.alter_user_scram_credentials import (
    AlterUserScramCredentialsRequest,
    ScramCredentialUpsertion,
)
from kafkatwist.security.principal import KafkaPrincipal
from kafkatwist.security.sasl import SaslListener, image_credentials
from kafkatwist.security.sasl_config import sasl_listener_config
from kafkatwist.security.scram import SCRAM_SHA_256, SCRAM_SHA_512, ScramMechanism
from kafkatwist.transport.dispatch import Dispatcher
from kafkatwist.transport.protocol import KafkaServerFactory
from tests.brokers import call, clock_of, make_broker
from tests.security.test_scram import ScramClient
from tests.support import connect, frame, unframe

PLAIN_JAAS = (
    "org.apache.kafka.common.security.plain.PlainLoginModule required "
    'user_alice="alice-secret" user_bob="bob-secret";'
)


def encoded(struct: Any, correlation_id: int) -> bytes:
    """A framed request, header and body encoded by aiokafka."""
    return frame(
        struct.build_request_header(correlation_id, "sasl-test").encode() + struct.encode()
    )


def set_scram(broker: Broker, mechanism: ScramMechanism, user: str, password: str) -> None:
    """Create or change a SCRAM credential through AlterUserScramCredentials."""
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac(mechanism.hash_name, password.encode(), salt, 4096)
    request = AlterUserScramCredentialsRequest(
        deletions=(),
        upsertions=(
            ScramCredentialUpsertion(
                name=user,
                mechanism=mechanism.type,
                iterations=4096,
                salt=salt,
                salted_password=salted,
            ),
        ),
    )
    call(broker, alter_user_scram_credentials.SPEC, request, 0)


class Connection:
    """One client connection to a SASL listener over a StringTransport."""

    def __init__(self, factory: KafkaServerFactory, clock: Clock) -> None:
        self.protocol, self.transport = connect(factory)
        self.clock = clock
        self.cid = 0

    def send(self, data: bytes) -> list[bytes]:
        """Send framed bytes; the frames answered."""
        self.transport.clear()
        self.protocol.dataReceived(data)
        return unframe(self.transport.value())

    def request(self, struct: Any, response_cls: Any) -> Any:
        """
        Send one aiokafka request; its decoded response (None if the connection closed without one).
        """
        self.cid += 1
        frames = self.send(encoded(struct, self.cid))
        if not frames:
            return None
        [reply] = frames
        buf = io.BytesIO(reply)
        header = ResponseHeader_v0.decode(buf)
        assert header.correlation_id == self.cid, header
        return response_cls.decode(buf)

    @property
    def closed(self) -> bool:
        return bool(self.transport.disconnecting)

    def closes_after_failure(self) -> bool:
        """
        Whether the connection, open (and muted) after a failed authentication, closes once
        connection.failed.authentication.delay.ms (100 ms) has passed.
        """
        if self.closed or self.send(api_versions_frame(99)):
            return False
        self.clock.advance(0.1)
        return self.closed

    def handshake(self, mechanism: str, version: int = 1) -> Any:
        cls = SaslHandShakeRequest_v1 if version else SaslHandShakeRequest_v0
        return self.request(cls(mechanism), SaslHandShakeResponse_v1)

    def authenticate(self, token: bytes) -> Any:
        return self.request(SaslAuthenticateRequest_v1(token), SaslAuthenticateResponse_v1)

    def plain(self, user: str, password: str) -> Any:
        self.handshake("PLAIN")
        return self.authenticate(f"\0{user}\0{password}".encode())

    def scram(self, mechanism: ScramMechanism, user: str, password: str) -> Any:
        self.handshake(mechanism.name)
        client = ScramClient(mechanism, user, password)
        first = self.authenticate(client.first())
        if first is None or first.error_code:
            return first
        return self.authenticate(client.final(first.sasl_auth_bytes))

    def metadata(self) -> Any:
        return self.request(MetadataRequest_v1(None), MetadataResponse_v1)


class _Case(SynchronousTestCase):
    reauth_ms = 0

    def setUp(self) -> None:
        self.broker = make_broker()
        self.clock: Clock = clock_of(self.broker)
        props = {
            "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config": PLAIN_JAAS,
            "connections.max.reauth.ms": str(self.reauth_ms),
        }
        config = sasl_listener_config(props, "SASL_PLAINTEXT")
        listener = SaslListener(
            config, image_credentials(self.broker.metadata), self.clock, api_versions.SPEC.versions
        )
        self.factory = KafkaServerFactory(
            Dispatcher(REGISTRY, self.broker),
            clock=self.clock,
            listener_name="SASL_PLAINTEXT",
            security_protocol="SASL_PLAINTEXT",
            sasl=listener,
        )

    def connection(self) -> Connection:
        return Connection(self.factory, self.clock)


class GateTests(_Case):
    """Nothing but ApiVersions and the SASL handshake is served before authentication."""

    def test_requests_before_authentication_close(self) -> None:
        """
        Metadata, Produce or SaslAuthenticate before the handshake: no answer, the connection
        closes.
        """
        for request in (
            MetadataRequest_v1(None),
            ProduceRequest_v3(None, 1, 1000, []),
            SaslAuthenticateRequest_v0(b"\0alice\0alice-secret"),
        ):
            conn = self.connection()
            self.assertEqual(conn.send(encoded(request, 1)), [])
            self.assertTrue(conn.closed)
            self.assertFalse(conn.protocol.session.authenticated)

    def test_metadata_after_handshake_closes(self) -> None:
        """Between the handshake and authentication, only SaslAuthenticate is taken."""
        conn = self.connection()
        self.assertEqual(conn.handshake("PLAIN").error_code, 0)
        self.assertIsNone(conn.metadata())
        self.assertTrue(conn.closed)

    def test_pipelined_requests_after_a_refusal_are_dropped(self) -> None:
        """A Metadata pipelined behind a refused request is not served."""
        conn = self.connection()
        data = encoded(MetadataRequest_v1(None), 1) + encoded(MetadataRequest_v1(None), 2)
        self.assertEqual(conn.send(data), [])
        self.assertTrue(conn.closed)

    def test_garbage_first_frame(self) -> None:
        """A first frame that is not a Kafka request closes the connection with one log line."""
        conn = self.connection()
        with capturedLogs() as events:
            self.assertEqual(conn.send(frame(b"\x60\x01")), [])
        self.assertTrue(conn.closed)
        [line] = [formatEvent(e) for e in events]
        self.assertIn("potential reasons", line)

    def test_receive_size_before_authentication(self) -> None:
        """
        Before authentication a frame over sasl.server.max.receive.size (512 KiB) closes the
        connection; after it, socket.request.max.bytes applies again.
        """
        big = struct.pack(">i", 600_000) + b"\0" * 10
        conn = self.connection()
        self.assertEqual(conn.send(big), [])
        self.assertTrue(conn.closed)
        conn = self.connection()
        conn.plain("alice", "alice-secret")
        self.assertEqual(conn.send(big), [])
        self.assertFalse(conn.closed)

    def test_api_versions_once(self) -> None:
        """ApiVersions is served before the handshake, once; a second one closes the connection."""
        conn = self.connection()
        self.assertEqual(len(conn.send(api_versions_frame(1))), 1)
        self.assertFalse(conn.closed)
        self.assertEqual(conn.send(api_versions_frame(2)), [])
        self.assertTrue(conn.closed)

    def test_unsupported_mechanism(self) -> None:
        """UNSUPPORTED_SASL_MECHANISM with the enabled mechanisms, then the connection closes."""
        conn = self.connection()
        with capturedLogs() as events:
            response = conn.handshake("GSSAPI")
            self.assertTrue(conn.closes_after_failure())
        self.assertEqual(response.error_code, ErrorCode.UNSUPPORTED_SASL_MECHANISM)
        self.assertEqual(response.enabled_mechanisms, ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
        [line] = [formatEvent(e) for e in events]
        self.assertIn("10.0.0.1:40000", line)
        self.assertIn("Unsupported SASL mechanism GSSAPI", line)


def api_versions_frame(correlation_id: int) -> bytes:
    """An ApiVersions v1 request."""
    return encoded(ApiVersionRequest_v1(), correlation_id)


class PlainTests(_Case):
    """PLAIN over SaslAuthenticate (v1 handshake) and over raw frames (v0)."""

    def test_authenticates(self) -> None:
        """
        Right password: no error, no session lifetime, principal User:alice, then Metadata is
        served.
        """
        conn = self.connection()
        response = conn.plain("alice", "alice-secret")
        self.assertEqual((response.error_code, response.error_message), (0, None))
        self.assertEqual((response.sasl_auth_bytes, response.session_lifetime_ms), (b"", 0))
        session = conn.protocol.session
        self.assertTrue(session.authenticated)
        self.assertEqual(session.principal, KafkaPrincipal("User", "alice"))
        self.assertEqual(conn.metadata().brokers[0][0], 1)
        self.assertFalse(conn.closed)

    def test_wrong_password(self) -> None:
        """
        Kafka's message in SASL_AUTHENTICATION_FAILED, then closed; one log line names peer and
        mechanism.
        """
        conn = self.connection()
        with capturedLogs() as events:
            response = conn.plain("alice", "wrong")
            self.assertTrue(conn.closes_after_failure())
        self.assertEqual(response.error_code, ErrorCode.SASL_AUTHENTICATION_FAILED)
        self.assertEqual(
            response.error_message, "Authentication failed: Invalid username or password"
        )
        self.assertFalse(conn.protocol.session.authenticated)
        [line] = [formatEvent(e) for e in events]
        self.assertIn("10.0.0.1:40000", line)
        self.assertIn("SASL mechanism PLAIN", line)

    def test_unframed_v0(self) -> None:
        """After SaslHandshake v0 the token is a raw frame, answered by an empty raw frame."""
        conn = self.connection()
        self.assertEqual(conn.handshake("PLAIN", version=0).error_code, 0)
        self.assertEqual(conn.send(frame(b"\0bob\0bob-secret")), [b""])
        self.assertEqual(conn.protocol.session.principal.name, "bob")
        self.assertEqual(len(conn.metadata().brokers), 1)

    def test_unframed_v0_wrong_password(self) -> None:
        """
        In the raw flow a failure has no answer (Kafka has none to send): the connection closes.
        """
        conn = self.connection()
        conn.handshake("PLAIN", version=0)
        self.assertEqual(conn.send(frame(b"\0bob\0nope")), [])
        self.assertTrue(conn.closes_after_failure())

    def test_sasl_apis_after_authentication(self) -> None:
        """
        Once authenticated (no re-authentication), SaslHandshake and SaslAuthenticate get
        ILLEGAL_SASL_STATE.
        """
        conn = self.connection()
        conn.plain("alice", "alice-secret")
        self.assertEqual(conn.handshake("PLAIN").error_code, ErrorCode.ILLEGAL_SASL_STATE)
        response = conn.authenticate(b"\0alice\0alice-secret")
        self.assertEqual(response.error_code, ErrorCode.ILLEGAL_SASL_STATE)
        self.assertEqual(
            response.error_message,
            "SaslAuthenticate request received after successful authentication",
        )
        self.assertFalse(conn.closed)


class ScramTests(_Case):
    """SCRAM over the wire, with credentials from AlterUserScramCredentials."""

    def test_both_mechanisms(self) -> None:
        """
        Each SCRAM mechanism authenticates with its own credential; the server signature checks out.
        """
        set_scram(self.broker, SCRAM_SHA_256, "carol", "carol-256")
        set_scram(self.broker, SCRAM_SHA_512, "carol", "carol-512")
        for mechanism, password in ((SCRAM_SHA_256, "carol-256"), (SCRAM_SHA_512, "carol-512")):
            conn = self.connection()
            response = conn.scram(mechanism, "carol", password)
            self.assertEqual(response.error_code, 0)
            self.assertTrue(response.sasl_auth_bytes.startswith(b"v="))
            self.assertEqual(conn.protocol.session.principal.name, "carol")

    def test_wrong_password_generic_message(self) -> None:
        """
        A wrong SCRAM password: Kafka's generic message, which does not say whether the user exists.
        """
        set_scram(self.broker, SCRAM_SHA_512, "carol", "right")
        for user, password in (("carol", "wrong"), ("nobody", "x")):
            conn = self.connection()
            response = conn.scram(SCRAM_SHA_512, user, password)
            self.assertEqual(response.error_code, ErrorCode.SASL_AUTHENTICATION_FAILED)
            self.assertEqual(
                response.error_message,
                "Authentication failed during authentication due to invalid credentials "
                "with SASL mechanism SCRAM-SHA-512",
            )
            self.assertTrue(conn.closes_after_failure())

    def test_changed_password_applies_to_next_login(self) -> None:
        """
        The credential is read at login: after a change the old password fails, the new one works.
        """
        set_scram(self.broker, SCRAM_SHA_256, "carol", "old")
        self.assertEqual(self.connection().scram(SCRAM_SHA_256, "carol", "old").error_code, 0)
        set_scram(self.broker, SCRAM_SHA_256, "carol", "new")
        self.assertNotEqual(self.connection().scram(SCRAM_SHA_256, "carol", "old").error_code, 0)
        self.assertEqual(self.connection().scram(SCRAM_SHA_256, "carol", "new").error_code, 0)

    def test_forged_and_replayed_nonce(self) -> None:
        """A final message with another nonce, or one recorded from an earlier exchange, fails."""
        set_scram(self.broker, SCRAM_SHA_256, "carol", "pw")
        conn = self.connection()
        conn.handshake("SCRAM-SHA-256")
        client = ScramClient(SCRAM_SHA_256, "carol", "pw")
        first = conn.authenticate(client.first())
        recorded = client.final(first.sasl_auth_bytes)
        self.assertEqual(conn.authenticate(recorded).error_code, 0)
        replay = self.connection()
        replay.handshake("SCRAM-SHA-256")
        replay.authenticate(client.first())
        response = replay.authenticate(recorded)
        self.assertEqual(response.error_code, ErrorCode.SASL_AUTHENTICATION_FAILED)
        self.assertTrue(replay.closes_after_failure())
        forged = self.connection()
        forged.handshake("SCRAM-SHA-256")
        first = forged.authenticate(client.first())
        nonce = first.sasl_auth_bytes.decode().split(",")[0][2:] + "x"
        response = forged.authenticate(client.final(first.sasl_auth_bytes, nonce))
        self.assertEqual(response.error_code, ErrorCode.SASL_AUTHENTICATION_FAILED)


class ReauthenticationTests(_Case):
    """KIP-368 with connections.max.reauth.ms=1000 on the factory's clock."""

    reauth_ms = 1000

    def test_session_lifetime(self) -> None:
        """SaslAuthenticate v1 answers the session lifetime."""
        self.assertEqual(self.connection().plain("alice", "alice-secret").session_lifetime_ms, 1000)

    def test_expired_session_closes_on_next_request(self) -> None:
        """After expiry, a request other than re-authentication closes the connection unanswered."""
        conn = self.connection()
        conn.plain("alice", "alice-secret")
        self.clock.advance(0.5)
        self.assertIsNotNone(conn.metadata())
        self.clock.advance(0.6)
        with capturedLogs() as events:
            self.assertIsNone(conn.metadata())
        self.assertTrue(conn.closed)
        [line] = [formatEvent(e) for e in events]
        self.assertIn("connections.max.reauth.ms", line)

    def test_reauthenticate(self) -> None:
        """A new handshake and authentication mid-connection renew the session; requests go on."""
        conn = self.connection()
        conn.plain("alice", "alice-secret")
        for _ in range(3):
            self.clock.advance(1.5)
            response = conn.plain("alice", "alice-secret")
            self.assertEqual((response.error_code, response.session_lifetime_ms), (0, 1000))
            self.assertEqual(len(conn.metadata().brokers), 1)
        self.assertFalse(conn.closed)

    def test_reauthenticate_scram(self) -> None:
        """SCRAM re-authenticates too."""
        set_scram(self.broker, SCRAM_SHA_512, "carol", "pw")
        conn = self.connection()
        self.assertEqual(conn.scram(SCRAM_SHA_512, "carol", "pw").error_code, 0)
        self.clock.advance(0.9)
        self.assertEqual(conn.scram(SCRAM_SHA_512, "carol", "pw").error_code, 0)
        self.clock.advance(0.9)
        self.assertIsNotNone(conn.metadata())

    def test_principal_must_not_change(self) -> None:
        """
        Re-authenticating as another user fails with Kafka's message and closes the connection.
        """
        conn = self.connection()
        conn.plain("alice", "alice-secret")
        self.clock.advance(1.5)
        response = conn.plain("bob", "bob-secret")
        self.assertEqual(response.error_code, ErrorCode.SASL_AUTHENTICATION_FAILED)
        self.assertEqual(
            response.error_message,
            "Cannot change principals during re-authentication from User.alice: User.bob",
        )
        self.assertTrue(conn.closes_after_failure())
        self.assertEqual(conn.protocol.session.principal.name, "alice")

    def test_mechanism_must_not_change(self) -> None:
        """Re-authenticating with another mechanism closes the connection at its first token."""
        set_scram(self.broker, SCRAM_SHA_256, "alice", "pw")
        conn = self.connection()
        conn.plain("alice", "alice-secret")
        self.clock.advance(1.5)
        self.assertEqual(conn.handshake("SCRAM-SHA-256").error_code, 0)
        self.assertIsNone(conn.authenticate(b"n,,n=alice,r=abc"))
        self.assertTrue(conn.closes_after_failure())

    def test_at_most_once_a_second(self) -> None:
        """
        A second handshake within a second of the last re-authentication is not one:
        ILLEGAL_SASL_STATE.
        """
        conn = self.connection()
        conn.plain("alice", "alice-secret")
        self.clock.advance(0.2)
        self.assertEqual(conn.plain("alice", "alice-secret").error_code, 0)
        self.clock.advance(0.2)
        self.assertEqual(conn.handshake("PLAIN").error_code, ErrorCode.ILLEGAL_SASL_STATE)
