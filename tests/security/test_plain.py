"""SASL/PLAIN: Kafka's PlainSaslServerTest, JAAS users and pluggable callbacks."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.security.plain import PlainServer, jaas_users, load_callback
from kafkatwist.security.sasl_errors import SaslAuthenticationError

USER_A, PASSWORD_A = "userA", "passwordA"
USER_B, PASSWORD_B = "userB", "passwordB"


def message(authzid: str, user: str, password: str) -> bytes:
    return f"{authzid}\0{user}\0{password}".encode()


class PlainSaslServerTests(SynchronousTestCase):
    """Kafka's PlainSaslServerTest over JAAS C{user_} options."""

    def setUp(self) -> None:
        self.server = PlainServer(
            jaas_users({f"user_{USER_A}": PASSWORD_A, f"user_{USER_B}": PASSWORD_B})
        )

    def test_no_authorization_id(self) -> None:
        """An empty authzid: an empty answer, authenticated as the user."""
        self.assertEqual(self.server.evaluate(message("", USER_A, PASSWORD_A)), b"")
        self.assertTrue(self.server.complete)
        self.assertEqual(self.server.authorization_id, USER_A)

    def test_authorization_id_equals_user(self) -> None:
        """An authzid equal to the user name is accepted."""
        self.assertEqual(self.server.evaluate(message(USER_A, USER_A, PASSWORD_A)), b"")

    def test_authorization_id_differs(self) -> None:
        """An authzid naming another user fails."""
        error = self.assertRaises(
            SaslAuthenticationError, self.server.evaluate, message(USER_B, USER_A, PASSWORD_A)
        )
        self.assertIn("authorization id that is different", str(error))

    def test_empty_tokens(self) -> None:
        """Kafka's emptyTokens: each missing field and wrong token count, with Kafka's messages."""
        cases = [
            (message("", "", ""), "Authentication failed: username not specified"),
            (message("", "", "p"), "Authentication failed: username not specified"),
            (message("", "u", ""), "Authentication failed: password not specified"),
            (message("a", "", ""), "Authentication failed: username not specified"),
            (message("a", "", "p"), "Authentication failed: username not specified"),
            (message("a", "u", ""), "Authentication failed: password not specified"),
            (b"a\0u\0p\0", "Invalid SASL/PLAIN response: expected 3 tokens, got 4"),
            (b"\0u", "Invalid SASL/PLAIN response: expected 3 tokens, got 2"),
        ]
        for token, expected in cases:
            error = self.assertRaises(SaslAuthenticationError, self.server.evaluate, token)
            self.assertEqual(str(error), expected)

    def test_wrong_password(self) -> None:
        """A wrong password or unknown user: Kafka's message."""
        for token in (message("", USER_A, PASSWORD_B), message("", "nobody", PASSWORD_A)):
            error = self.assertRaises(SaslAuthenticationError, self.server.evaluate, token)
            self.assertEqual(str(error), "Authentication failed: Invalid username or password")
            self.assertFalse(self.server.complete)


class CallbackTests(SynchronousTestCase):
    """C{sasl.server.callback.handler.class}: a Python callable named module:attribute or dotted."""

    def test_function(self) -> None:
        """A function named either way checks the password."""
        for name in (
            "tests.security.plain_callbacks:only_carol",
            "tests.security.plain_callbacks.only_carol",
        ):
            server = PlainServer(load_callback(name))
            self.assertEqual(server.evaluate(message("", "carol", "carol-pw")), b"")
            self.assertRaises(
                SaslAuthenticationError,
                PlainServer(load_callback(name)).evaluate,
                message("", "carol", "x"),
            )

    def test_class_raising(self) -> None:
        """A class is instantiated; a raising callback fails with Kafka's message."""
        server = PlainServer(load_callback("tests.security.plain_callbacks:Failing"))
        error = self.assertRaises(
            SaslAuthenticationError, server.evaluate, message("", "carol", "carol-pw")
        )
        self.assertEqual(
            str(error), "Authentication failed: credentials for user could not be verified"
        )

    def test_bad_names(self) -> None:
        """Names that do not import, or name something not callable, are refused."""
        for name in (
            "no.such.module:f",
            "tests.security.plain_callbacks:missing",
            "tests.security.plain_callbacks:NOT_CALLABLE",
            "justaname",
        ):
            self.assertRaises(ValueError, load_callback, name)
