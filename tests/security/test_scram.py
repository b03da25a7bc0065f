"""
SCRAM-SHA-256/512 server: RFC 7677's test vector and Kafka's ScramSaslServerTest and
ScramMessagesTest cases.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.security.sasl_errors import SaslAuthenticationError, SaslError
from kafkatwist.security.scram import (
    SCRAM_SHA_256,
    SCRAM_SHA_512,
    ClientFinalMessage,
    ClientFirstMessage,
    ScramCredential,
    ScramMechanism,
    ScramServer,
    make_credential,
    sasl_name,
    username,
)

# RFC 7677, section 3: user "user", password "pencil".
RFC_CLIENT_FIRST = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
RFC_SERVER_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
RFC_SERVER_FIRST = (
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
)
RFC_CLIENT_FINAL = (
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
)
RFC_SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
RFC_SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")


class ScramClient:
    """An RFC 5802 client, written from the RFC (not from the server's code)."""

    def __init__(self, mechanism: ScramMechanism, user: str, password: str) -> None:
        self.hash = mechanism.hash_name
        self.user = user
        self.password = password
        self.nonce = "fyko+d2lbbFgONRv9qkxdawL"

    def first(self, authzid: str = "") -> bytes:
        self.bare = f"n={sasl_name(self.user)},r={self.nonce}"
        self.gs2 = f"n,{'a=' + authzid if authzid else ''},"
        return (self.gs2 + self.bare).encode()

    def final(self, server_first: bytes, nonce: str | None = None) -> bytes:
        fields = dict(item.split("=", 1) for item in server_first.decode().split(","))
        salt = base64.b64decode(fields["s"])
        salted = hashlib.pbkdf2_hmac(self.hash, self.password.encode(), salt, int(fields["i"]))
        client_key = hmac.new(salted, b"Client Key", self.hash).digest()
        stored_key = hashlib.new(self.hash, client_key).digest()
        channel = base64.b64encode(self.gs2.encode()).decode()
        without_proof = f"c={channel},r={fields['r'] if nonce is None else nonce}"
        auth = f"{self.bare},{server_first.decode()},{without_proof}".encode()
        signature = hmac.new(stored_key, auth, self.hash).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        server_key = hmac.new(salted, b"Server Key", self.hash).digest()
        self.expected_server_final = b"v=" + base64.b64encode(
            hmac.new(server_key, auth, self.hash).digest()
        )
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()


def server(
    mechanism: ScramMechanism = SCRAM_SHA_256, nonce: str = "server-nonce", **users: str
) -> ScramServer:
    """A SCRAM server over users with the given passwords (4096 iterations)."""
    credentials = {
        user: make_credential(mechanism, password, b"salt-" + user.encode(), 4096)
        for user, password in users.items()
    }

    def lookup(user: str, m: ScramMechanism) -> ScramCredential | None:
        return credentials.get(user) if m == mechanism else None

    return ScramServer(mechanism, lookup, lambda: nonce)


class RfcVectorTests(SynchronousTestCase):
    """RFC 7677's SCRAM-SHA-256 exchange, byte for byte."""

    def test_rfc_7677(self) -> None:
        """With the RFC's salt, nonces and password, the server sends the RFC's messages."""
        credential = make_credential(SCRAM_SHA_256, "pencil", RFC_SALT, 4096)
        scram = ScramServer(
            SCRAM_SHA_256,
            lambda user, m: credential if user == "user" else None,
            lambda: RFC_SERVER_NONCE,
        )
        self.assertEqual(scram.evaluate(RFC_CLIENT_FIRST), RFC_SERVER_FIRST)
        self.assertFalse(scram.complete)
        self.assertEqual(scram.evaluate(RFC_CLIENT_FINAL), RFC_SERVER_FINAL)
        self.assertTrue(scram.complete)
        self.assertEqual(scram.authorization_id, "user")

    def test_rfc_7677_wrong_password(self) -> None:
        """The RFC's client final message fails against another password's credential."""
        credential = make_credential(SCRAM_SHA_256, "pencil2", RFC_SALT, 4096)
        scram = ScramServer(SCRAM_SHA_256, lambda user, m: credential, lambda: RFC_SERVER_NONCE)
        scram.evaluate(RFC_CLIENT_FIRST)
        error = self.assertRaises(SaslError, scram.evaluate, RFC_CLIENT_FINAL)
        self.assertEqual(str(error), "Invalid client credentials")
        self.assertFalse(scram.complete)


class ScramSaslServerTests(SynchronousTestCase):
    """Kafka's ScramSaslServerTest, and the attacks on nonces and proofs."""

    def test_no_authorization_id(self) -> None:
        """Without an authzid the server answers a non-empty challenge."""
        self.assertTrue(server(userA="passwordA").evaluate(b"n,,n=userA,r=abc"))

    def test_authorization_id_equals_user(self) -> None:
        """An authzid equal to the user name is accepted."""
        self.assertTrue(server(userA="passwordA").evaluate(b"n,a=userA,n=userA,r=abc"))

    def test_authorization_id_differs(self) -> None:
        """An authzid naming another user fails with Kafka's client-visible message."""
        scram = server(userA="passwordA", userB="passwordB")
        error = self.assertRaises(
            SaslAuthenticationError, scram.evaluate, b"n,a=userB,n=userA,r=abc"
        )
        self.assertEqual(
            str(error),
            "Authentication failed: Client requested an authorization id that is different "
            "from username",
        )

    def test_full_exchange_both_mechanisms(self) -> None:
        """A client written from the RFC authenticates with SCRAM-SHA-256 and SCRAM-SHA-512."""
        for mechanism in (SCRAM_SHA_256, SCRAM_SHA_512):
            scram = server(mechanism, alice="alice-secret")
            client = ScramClient(mechanism, "alice", "alice-secret")
            server_first = scram.evaluate(client.first())
            self.assertTrue(server_first.startswith(f"r={client.nonce}server-nonce,".encode()))
            self.assertEqual(
                scram.evaluate(client.final(server_first)), client.expected_server_final
            )
            self.assertEqual(scram.authorization_id, "alice")

    def test_server_nonce_extends_client_nonce(self) -> None:
        """
        Kafka's validateNonceExchange: the server nonce starts with the client's, plus fresh
        characters.
        """
        scram = ScramServer(SCRAM_SHA_256, lambda u, m: make_credential(m, "p", b"s", 4096))
        first = ClientFirstMessage.parse(b"n,,n=u,r=client-nonce")
        nonce = scram.evaluate(b"n,,n=u,r=client-nonce").decode().split(",")[0][2:]
        self.assertTrue(nonce.startswith(first.nonce))
        self.assertGreater(len(nonce), len(first.nonce) + 16)
        other = ScramServer(SCRAM_SHA_256, lambda u, m: make_credential(m, "p", b"s", 4096))
        self.assertNotEqual(other.evaluate(b"n,,n=u,r=client-nonce").decode().split(",")[0], nonce)

    def test_forged_nonce(self) -> None:
        """Kafka's validateFailedNonceExchange: a final message with another nonce fails."""
        scram = server(alice="pw")
        client = ScramClient(SCRAM_SHA_256, "alice", "pw")
        server_first = scram.evaluate(client.first())
        final = client.final(server_first, nonce=client.nonce + "forged")
        error = self.assertRaises(SaslError, scram.evaluate, final)
        self.assertEqual(str(error), "Invalid client nonce in the final client message.")

    def test_client_nonce_only(self) -> None:
        """A final message that drops the server's part of the nonce fails."""
        scram = server(alice="pw")
        client = ScramClient(SCRAM_SHA_256, "alice", "pw")
        server_first = scram.evaluate(client.first())
        self.assertRaises(SaslError, scram.evaluate, client.final(server_first, client.nonce))

    def test_replayed_exchange(self) -> None:
        """A recorded final message replayed against a new exchange (new server nonce) fails."""
        recorded = server(nonce="first-exchange", alice="pw")
        client = ScramClient(SCRAM_SHA_256, "alice", "pw")
        final = client.final(recorded.evaluate(client.first()))
        recorded.evaluate(final)
        replay = server(nonce="second-exchange", alice="pw")
        replay.evaluate(client.first())
        error = self.assertRaises(SaslError, replay.evaluate, final)
        self.assertEqual(str(error), "Invalid client nonce in the final client message.")

    def test_replayed_final_on_same_server(self) -> None:
        """Once complete, a server takes no further message (a replay on the same exchange)."""
        scram = server(alice="pw")
        client = ScramClient(SCRAM_SHA_256, "alice", "pw")
        final = client.final(scram.evaluate(client.first()))
        scram.evaluate(final)
        self.assertRaises(SaslError, scram.evaluate, final)

    def test_wrong_password(self) -> None:
        """
        A proof made with another password fails: SaslError (the client gets Kafka's generic
        message).
        """
        scram = server(alice="right")
        client = ScramClient(SCRAM_SHA_256, "alice", "wrong")
        error = self.assertRaises(
            SaslError, scram.evaluate, client.final(scram.evaluate(client.first()))
        )
        self.assertEqual(str(error), "Invalid client credentials")

    def test_unknown_user(self) -> None:
        """An unknown user fails at the first message with Kafka's message."""
        error = self.assertRaises(SaslError, server(alice="pw").evaluate, b"n,,n=bob,r=abc")
        self.assertEqual(str(error), "Authentication failed: Invalid user credentials")

    def test_channel_binding_must_match(self) -> None:
        """The final message's c= must be the gs2 header sent (C{biws} for C{n,,})."""
        scram = server(alice="pw")
        client = ScramClient(SCRAM_SHA_256, "alice", "pw")
        server_first = scram.evaluate(client.first())
        final = client.final(server_first).replace(b"c=biws", b"c=eSws")
        self.assertRaises(SaslError, scram.evaluate, final)

    def test_channel_binding_requested(self) -> None:
        """A gs2 header asking for channel binding (C{y}, C{p=...}) does not parse."""
        for first in (b"y,,n=alice,r=abc", b"p=tls-unique,,n=alice,r=abc"):
            self.assertRaises(SaslError, server(alice="pw").evaluate, first)

    def test_token_auth_refused(self) -> None:
        """C{tokenauth=true} fails: there are no delegation tokens."""
        error = self.assertRaises(
            SaslError, server(alice="pw").evaluate, b"n,,n=alice,r=abc,tokenauth=true"
        )
        self.assertEqual(str(error), "Token Authentication failed: Invalid tokenId : alice")

    def test_too_few_iterations(self) -> None:
        """A stored credential with fewer than 4096 iterations is refused (Kafka's message)."""
        weak = make_credential(SCRAM_SHA_256, "pw", b"salt", 1024)
        scram = ScramServer(SCRAM_SHA_256, lambda u, m: weak)
        error = self.assertRaises(SaslError, scram.evaluate, b"n,,n=alice,r=abc")
        self.assertEqual(
            str(error), "Iterations 1024 is less than the minimum 4096 for SCRAM-SHA-256"
        )

    def test_escaped_user_name(self) -> None:
        """C{=2C} and C{=3D} in the user name stand for C{,} and C{=} (ScramFormatter.username)."""
        self.assertEqual(username("test=2Cuser"), "test,user")
        self.assertEqual(username("test=3Duser"), "test=user")
        self.assertEqual(sasl_name("a,b=c"), "a=2Cb=3Dc")
        comma = make_credential(SCRAM_SHA_256, "pw", b"salt", 4096)
        scram = ScramServer(SCRAM_SHA_256, lambda u, m: comma if u == "a,b" else None)
        scram.evaluate(b"n,,n=a=2Cb,r=abc")
        self.assertEqual(scram.authorization_id, "a,b")


class ScramMessagesTests(SynchronousTestCase):
    """Kafka's ScramMessagesTest: which client messages parse."""

    NONCE = "rOprNGfwEbeRWgbNEkqO"
    VALID_EXTENSIONS = (
        "ext=val1",
        "anotherext=name1=value1 name2=another test value \"'!$[]()",
        "first=val1,second=name1 = value ,third=123",
    )
    INVALID_EXTENSIONS = ("ext1=value", "ext", "ext=value1,value2", "ext=,", "ext =value")
    VALID_RESERVED = ("m=reserved-value", "m=name1=value1 name2=another test value \"'!$[]()")
    INVALID_RESERVED = ("m", "m=name,value", "m=,")

    def test_valid_client_first(self) -> None:
        """The valid client-first messages of Kafka's test parse, with their fields."""
        m = ClientFirstMessage.parse(f"n,,n=testuser,r={self.NONCE}".encode())
        self.assertEqual((m.sasl_name, m.nonce, m.authorization_id), ("testuser", self.NONCE, ""))
        m = ClientFirstMessage.parse(f"n,a=testauthzid,n=testuser,r={self.NONCE}".encode())
        self.assertEqual(m.authorization_id, "testauthzid")
        for reserved in self.VALID_RESERVED:
            m = ClientFirstMessage.parse(f"n,,{reserved},n=testuser,r={self.NONCE}".encode())
            self.assertEqual(m.sasl_name, "testuser")
        for extension in self.VALID_EXTENSIONS:
            m = ClientFirstMessage.parse(f"n,,n=testuser,r={self.NONCE},{extension}".encode())
            self.assertEqual(m.nonce, self.NONCE)
        m = ClientFirstMessage.parse(f"n,,n=testuser,r={self.NONCE},tokenauth=true".encode())
        self.assertEqual(m.extensions, {"tokenauth": "true"})

    def test_invalid_client_first(self) -> None:
        """The invalid client-first messages of Kafka's test do not parse."""
        bad = [f"n,x=something,n=testuser,r={self.NONCE}"]
        bad += [f"n,,{r},n=testuser,r={self.NONCE}" for r in self.INVALID_RESERVED]
        bad += [f"n,,n=testuser,r={self.NONCE},{e}" for e in self.INVALID_EXTENSIONS]
        for message in bad:
            self.assertRaises(SaslError, ClientFirstMessage.parse, message.encode())

    def test_valid_client_final(self) -> None:
        """A client-final message with extensions parses."""
        proof = base64.b64encode(b"p" * 32).decode()
        for extension in self.VALID_EXTENSIONS:
            m = ClientFinalMessage.parse(f"c=biws,r={self.NONCE},{extension},p={proof}".encode())
            self.assertEqual((m.nonce, m.proof, m.channel_binding), (self.NONCE, b"p" * 32, b"n,,"))

    def test_invalid_client_final(self) -> None:
        """Bad channel binding, proof or extensions do not parse."""
        proof = base64.b64encode(b"p" * 32).decode()
        bad = [f"c=ab,r={self.NONCE},p={proof}", f"c=biws,r={self.NONCE},p=123"]
        bad += [f"c=biws,r={self.NONCE},{e},p={proof}" for e in self.INVALID_EXTENSIONS]
        for message in bad:
            self.assertRaises(SaslError, ClientFinalMessage.parse, message.encode())
