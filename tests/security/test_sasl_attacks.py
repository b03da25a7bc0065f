"""Attacks on a SASL listener's gate: pipelined and buffered frames, mid-flow handshakes.

Requests are encoded by aiokafka's protocol classes (an independent implementation).
"""

from __future__ import annotations

from aiokafka.protocol.admin import (
    SaslAuthenticateRequest_v1,
    SaslHandShakeRequest_v0,
    SaslHandShakeRequest_v1,
)
from aiokafka.protocol.metadata import MetadataRequest_v1
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import REGISTRY
from kafkatwist.errors import ErrorCode, ProtocolViolation
from kafkatwist.security.scram import SCRAM_SHA_256
from kafkatwist.security.session import Session
from kafkatwist.transport.dispatch import Dispatcher
from tests.brokers import make_broker
from tests.security.test_sasl_connection import (
    Connection,
    _Case,
    api_versions_frame,
    encoded,
    set_scram,
)
from tests.support import frame, unframe


def _metadata(cid: int) -> bytes:
    return encoded(MetadataRequest_v1(None), cid)


def _plain(user: str, password: str, cid: int) -> bytes:
    return encoded(SaslAuthenticateRequest_v1(f"\0{user}\0{password}".encode()), cid)


class PipelinedTests(_Case):
    """Frames sent together with the SASL exchange are served only once it succeeded."""

    def test_pipelined_behind_a_failed_authentication(self) -> None:
        """Handshake, a wrong password and a Metadata in one write: Metadata is never answered."""
        conn = self.connection()
        data = (
            api_versions_frame(1)
            + encoded(SaslHandShakeRequest_v1("PLAIN"), 2)
            + _plain("alice", "wrong", 3)
            + _metadata(4)
        )
        replies = conn.send(data)
        self.assertEqual(len(replies), 3)  # ApiVersions, SaslHandshake, SaslAuthenticate
        self.transport_after_delay(conn)

    def transport_after_delay(self, conn: Connection) -> None:
        """After connection.failed.authentication.delay.ms the connection closes unanswered."""
        conn.transport.clear()
        self.clock.advance(1)
        self.assertEqual(unframe(conn.transport.value()), [])
        self.assertTrue(conn.closed)
        self.assertFalse(conn.protocol.session.authenticated)

    def test_pipelined_behind_a_successful_authentication(self) -> None:
        """The same with the right password: the Metadata is answered, as alice."""
        conn = self.connection()
        data = (
            encoded(SaslHandShakeRequest_v1("PLAIN"), 2)
            + _plain("alice", "alice-secret", 3)
            + _metadata(4)
        )
        self.assertEqual(len(conn.send(data)), 3)
        self.assertEqual(conn.protocol.session.principal.name, "alice")

    def test_metadata_pipelined_behind_api_versions(self) -> None:
        """ApiVersions then Metadata before any handshake: ApiVersions only, then closed."""
        conn = self.connection()
        self.assertEqual(len(conn.send(api_versions_frame(1) + _metadata(2))), 1)
        self.assertTrue(conn.closed)

    def test_second_handshake_mid_flow(self) -> None:
        """A second SaslHandshake before SaslAuthenticate closes the connection unanswered."""
        conn = self.connection()
        self.assertEqual(conn.handshake("PLAIN").error_code, 0)
        self.assertEqual(conn.send(encoded(SaslHandShakeRequest_v1("PLAIN"), 9)), [])
        self.assertTrue(conn.closed)
        self.assertFalse(conn.protocol.session.authenticated)

    def test_unframed_wrong_token_then_metadata(self) -> None:
        """In the v0 raw flow a wrong token with a Metadata behind it: nothing is answered."""
        conn = self.connection()
        data = encoded(SaslHandShakeRequest_v0("PLAIN"), 1) + frame(b"\0bob\0nope") + _metadata(2)
        self.assertEqual(len(conn.send(data)), 1)
        self.transport_after_delay(conn)

    def test_request_as_unframed_token(self) -> None:
        """After a v0 handshake, a Kafka request is taken as the token: it fails, unanswered."""
        conn = self.connection()
        data = encoded(SaslHandShakeRequest_v0("PLAIN"), 1) + _metadata(2)
        self.assertEqual(len(conn.send(data)), 1)
        self.transport_after_delay(conn)


class DispatcherGateTests(SynchronousTestCase):
    """The dispatcher itself refuses an unauthenticated session (defence in depth)."""

    def test_unauthenticated_session_gets_only_api_versions(self) -> None:
        """
        A frame reaching the dispatcher for a session not yet authenticated is a protocol
        violation, unless it is ApiVersions.
        """
        dispatcher = Dispatcher(REGISTRY, make_broker())
        session = Session(listener="SASL_PLAINTEXT", authenticated=False)
        with self.assertRaises(ProtocolViolation):
            dispatcher.dispatch(_metadata(1)[4:], "10.0.0.1:1", session=session)
        answered = self.successResultOf(
            dispatcher.dispatch(api_versions_frame(2)[4:], "10.0.0.1:1", session=session)
        )
        self.assertIsNotNone(answered)


class ScramLogTests(_Case):
    """What a failed SCRAM exchange logs."""

    def test_malformed_messages_are_not_logged(self) -> None:
        """
        A PLAIN token sent to SCRAM (a client with the wrong mechanism) fails without its
        content, the password, reaching the log; so does a malformed client-final message.
        """
        set_scram(self.broker, SCRAM_SHA_256, "alice", "alice-scram")
        for tokens in ([b"\0alice\0hunter2-secret"], [b"n,,n=alice,r=abc", b"hunter2-secret"]):
            conn = self.connection()
            with capturedLogs() as events:
                conn.handshake("SCRAM-SHA-256")
                for token in tokens:
                    response = conn.authenticate(token)
                self.clock.advance(1)
            self.assertEqual(response.error_code, ErrorCode.SASL_AUTHENTICATION_FAILED)
            text = " ".join(formatEvent(e) for e in events)
            self.assertIn("SCRAM-SHA-256", text)
            self.assertNotIn("hunter2", text)
            self.assertNotIn("hunter2", response.error_message)
