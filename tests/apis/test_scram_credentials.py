"""
AlterUserScramCredentials (51) and DescribeUserScramCredentials (50): KIP-554 as Kafka's
ScramControlManager and ScramImage.
"""

from __future__ import annotations

import hashlib
from typing import Any

from kafka.protocol.admin import AlterUserScramCredentialsRequest as ClientAlter
from kafka.protocol.admin import AlterUserScramCredentialsResponse as ClientAlterResponse
from kafka.protocol.admin import DescribeUserScramCredentialsRequest as ClientDescribe
from kafka.protocol.admin import DescribeUserScramCredentialsResponse as ClientDescribeResponse
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import REGISTRY, alter_user_scram_credentials, describe_user_scram_credentials
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.alter_user_scram_credentials import (
    AlterUserScramCredentialsRequest,
    AlterUserScramCredentialsResponse,
    ScramCredentialDeletion,
    ScramCredentialUpsertion,
)
from kafkatwist.messages.describe_user_scram_credentials import (
    DescribeUserScramCredentialsRequest,
    DescribeUserScramCredentialsResponse,
    UserName,
)
from kafkatwist.security.authorizer import StandardAuthorizer
from kafkatwist.security.scram import SCRAM_SHA_256, SCRAM_SHA_512, make_credential
from kafkatwist.storage.kraft import KRaftMetadataStore, image_records
from kafkatwist.transport.dispatch import Dispatcher
from tests.brokers import call, make_broker, metadata_of
from tests.offsets_support import client_roundtrip
from tests.support import decode_reply, request_frame

ALTER, DESCRIBE = alter_user_scram_credentials.SPEC, describe_user_scram_credentials.SPEC
SALT = b"0123456789abcdef"


def upsert(name: str, mechanism: int = 1, iterations: int = 4096, password: str = "pw") -> Any:
    hash_name = "sha512" if mechanism == 2 else "sha256"
    salted = hashlib.pbkdf2_hmac(hash_name, password.encode(), SALT, max(iterations, 1))
    return ScramCredentialUpsertion(
        name=name, mechanism=mechanism, iterations=iterations, salt=SALT, salted_password=salted
    )


def delete(name: str, mechanism: int = 1) -> ScramCredentialDeletion:
    return ScramCredentialDeletion(name=name, mechanism=mechanism)


class _Case(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = make_broker()

    def alter(self, *changes: Any) -> dict[str, tuple[int, str | None]]:
        request = AlterUserScramCredentialsRequest(
            deletions=tuple(c for c in changes if isinstance(c, ScramCredentialDeletion)),
            upsertions=tuple(c for c in changes if isinstance(c, ScramCredentialUpsertion)),
        )
        response: AlterUserScramCredentialsResponse = self.successResultOf(
            call(self.broker, ALTER, request, 0)
        )
        return {r.user: (r.error_code, r.error_message) for r in response.results}

    def describe(self, *users: str | None) -> DescribeUserScramCredentialsResponse:
        names = None if users == (None,) else tuple(UserName(name=u) for u in users if u)
        response: DescribeUserScramCredentialsResponse = self.successResultOf(
            call(self.broker, DESCRIBE, DescribeUserScramCredentialsRequest(users=names), 0)
        )
        return response

    def described(self, *users: str | None) -> dict[str, Any]:
        return {
            r.user: (
                r.error_code,
                r.error_message,
                {(c.mechanism, c.iterations) for c in r.credential_infos},
            )
            for r in self.describe(*users).results
        }


class AlterTests(_Case):
    """ScramControlManager's validation, error codes and records."""

    def test_upsert_and_describe(self) -> None:
        """Upserted credentials are described by mechanism and iterations, never by key."""
        self.assertEqual(
            self.alter(upsert("alice"), upsert("bob", 2, 8192)),
            {"alice": (0, None), "bob": (0, None)},
        )
        self.assertEqual(
            self.described(None),
            {"alice": (0, None, {(1, 4096)}), "bob": (0, None, {(2, 8192)})},
        )
        self.alter(upsert("alice", 2, 5000))
        self.assertEqual(self.described("alice"), {"alice": (0, None, {(1, 4096), (2, 5000)})})

    def test_stored_keys_from_salted_password(self) -> None:
        """
        The record holds Kafka's stored and server keys of the salted password, not the password.
        """
        self.alter(upsert("alice", 1, 4096, "pencil"))
        record = self.broker.metadata.image.scram_credentials["alice", 1]
        expected = make_credential(SCRAM_SHA_256, "pencil", SALT, 4096)
        self.assertEqual(
            (record.salt, record.stored_key, record.server_key, record.iterations),
            (expected.salt, expected.stored_key, expected.server_key, 4096),
        )

    def test_validation(self) -> None:
        """
        Empty user, unknown mechanism, iterations out of 4096..16384: Kafka's codes and messages.
        """
        unacceptable = int(ErrorCode.UNACCEPTABLE_CREDENTIAL)
        self.assertEqual(
            self.alter(
                upsert(""),
                upsert("m", mechanism=3),
                upsert("few", iterations=4095),
                upsert("many", iterations=16385),
                upsert("max", 2, iterations=16384),
            ),
            {
                "": (unacceptable, "Username must not be empty"),
                "m": (int(ErrorCode.UNSUPPORTED_SASL_MECHANISM), "Unknown SCRAM mechanism"),
                "few": (unacceptable, "Too few iterations"),
                "many": (unacceptable, "Too many iterations"),
                "max": (0, None),
            },
        )
        self.assertEqual(set(self.described(None)), {"max"})

    def test_duplicates(self) -> None:
        """
        A user named twice (deletion and upsertion alike) gets DUPLICATE_RESOURCE and no change.
        """
        self.alter(upsert("alice"))
        duplicate = (
            int(ErrorCode.DUPLICATE_RESOURCE),
            "A user credential cannot be altered twice in the same request",
        )
        self.assertEqual(
            self.alter(upsert("bob"), upsert("bob", 2), delete("alice"), upsert("alice", 2)),
            {"bob": duplicate, "alice": duplicate},
        )
        self.assertEqual(set(self.described(None)), {"alice"})

    def test_delete(self) -> None:
        """Deleting removes one mechanism's credential; a missing one is RESOURCE_NOT_FOUND."""
        self.alter(upsert("alice", 1), upsert("bob", 2))
        self.assertEqual(
            self.alter(delete("alice", 1), delete("bob", 1)),
            {
                "alice": (0, None),
                "bob": (
                    int(ErrorCode.RESOURCE_NOT_FOUND),
                    "Attempt to delete a user credential that does not exist",
                ),
            },
        )
        self.assertEqual(set(self.described(None)), {"bob"})

    def test_survives_a_restart(self) -> None:
        """Credentials are UserScramCredentialRecords: a reloaded store has them, deletions too."""
        self.alter(upsert("alice"), upsert("bob", 2))
        self.alter(delete("bob", 2))
        store = KRaftMetadataStore(metadata_of(self.broker).log_dir, clock=self.broker.clock)
        image = self.successResultOf(store.load())
        self.assertEqual(set(image.scram_credentials), {("alice", 1)})
        self.assertEqual(
            image.scram_credentials["alice", 1],
            self.broker.metadata.image.scram_credentials["alice", 1],
        )

    def test_snapshot_holds_credentials(self) -> None:
        """A snapshot's records rebuild the credentials (image_records)."""
        self.alter(upsert("alice"))
        records = [
            r
            for r in image_records(self.broker.metadata.image)
            if type(r).__name__ == "UserScramCredentialRecord"
        ]
        self.assertEqual([r.name for r in records], ["alice"])


class DescribeTests(_Case):
    """ScramImage.describe."""

    def test_missing_and_duplicate(self) -> None:
        """
        An unknown user is RESOURCE_NOT_FOUND, a user asked twice DUPLICATE_RESOURCE (Kafka's
        messages).
        """
        self.alter(upsert("alice"))
        self.assertEqual(
            self.described("alice", "nobody", "twice", "twice"),
            {
                "alice": (0, None, {(1, 4096)}),
                "nobody": (
                    int(ErrorCode.RESOURCE_NOT_FOUND),
                    "Attempt to describe a user credential that does not exist: nobody",
                    set(),
                ),
                "twice": (
                    int(ErrorCode.DUPLICATE_RESOURCE),
                    "Cannot describe SCRAM credentials for the same user twice in a single "
                    "request: twice",
                    set(),
                ),
            },
        )

    def test_empty_list_is_everyone(self) -> None:
        """An empty user list, like null, describes every user with credentials."""
        self.alter(upsert("alice"), upsert("bob"))
        self.assertEqual(set(self.described()), {"alice", "bob"})


class AuthorizationTests(_Case):
    """ALTER / DESCRIBE on the cluster, through the dispatcher's error responses."""

    def setUp(self) -> None:
        super().setUp()
        self.broker.authorizer = StandardAuthorizer()
        self.dispatcher = Dispatcher(REGISTRY, self.broker)

    def test_alter_denied(self) -> None:
        """Every user named gets CLUSTER_AUTHORIZATION_FAILED, sorted; nothing is written."""
        request = AlterUserScramCredentialsRequest(
            deletions=(delete("zed"),), upsertions=(upsert("alice"), upsert("zed"))
        )
        reply = self.successResultOf(
            self.dispatcher.dispatch(request_frame(51, 0, 3, request, framed=False))
        )
        _, response = decode_reply(reply, AlterUserScramCredentialsResponse, 0)
        self.assertEqual(
            [(r.user, r.error_code) for r in response.results],
            [("alice", 31), ("zed", 31)],
        )
        self.assertEqual(self.broker.metadata.image.scram_credentials, {})

    def test_describe_denied(self) -> None:
        """CLUSTER_AUTHORIZATION_FAILED at the top and once per user asked about."""
        request = DescribeUserScramCredentialsRequest(users=(UserName("alice"),))
        reply = self.successResultOf(
            self.dispatcher.dispatch(request_frame(50, 0, 4, request, framed=False))
        )
        _, response = decode_reply(reply, DescribeUserScramCredentialsResponse, 0)
        self.assertEqual(response.error_code, ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
        self.assertEqual([r.error_code for r in response.results], [31])


class ClientRoundTripTests(_Case):
    """kafka-python's encoders and decoders agree with ours."""

    def test_alter_and_describe(self) -> None:
        """A kafka-python AlterUserScramCredentials and DescribeUserScramCredentials round trip."""
        salted = hashlib.pbkdf2_hmac("sha512", b"pw", SALT, 4096)
        request = ClientAlter(
            deletions=[],
            upsertions=[
                ClientAlter.ScramCredentialUpsertion(
                    name="alice", mechanism=2, iterations=4096, salt=SALT, salted_password=salted
                )
            ],
        )
        response = client_roundtrip(self, self.broker, ALTER, request, ClientAlterResponse, 0)
        self.assertEqual([(r.user, r.error_code) for r in response.results], [("alice", 0)])
        request = ClientDescribe(users=[ClientDescribe.UserName(name="alice")])
        response = client_roundtrip(self, self.broker, DESCRIBE, request, ClientDescribeResponse, 0)
        [result] = response.results
        self.assertEqual(
            [(c.mechanism, c.iterations) for c in result.credential_infos], [(2, 4096)]
        )
        self.assertEqual(
            self.broker.metadata.image.scram_credentials["alice", 2].stored_key,
            make_credential(SCRAM_SHA_512, "pw", SALT, 4096).stored_key,
        )
