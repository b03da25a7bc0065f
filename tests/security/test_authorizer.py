"""StandardAuthorizer's matching rules, after Kafka's StandardAuthorizerTest."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.security.acl import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourceType,
)
from kafkatwist.security.authorizer import StandardAuthorizer
from kafkatwist.security.principal import KafkaPrincipal

ALICE = KafkaPrincipal("User", "alice")
BOB = KafkaPrincipal("User", "bob")
OP = AclOperation
TOPIC = ResourceType.TOPIC


def acl(
    name: str,
    operation: AclOperation,
    permission: AclPermissionType = AclPermissionType.ALLOW,
    *,
    principal: str = "User:alice",
    pattern: PatternType = PatternType.LITERAL,
    host: str = "*",
) -> AclBinding:
    """An ACL on a topic."""
    return AclBinding(TOPIC, name, pattern, principal, host, operation, permission)


class AuthorizeTests(SynchronousTestCase):
    """L{StandardAuthorizer.authorize}."""

    def test_literal_prefixed_wildcard(self) -> None:
        """Literal, prefixed and wildcard patterns each match their names only."""
        auth = StandardAuthorizer(
            acls=[
                acl("orders", OP.READ),
                acl("pay-", OP.WRITE, pattern=PatternType.PREFIXED),
                acl("*", OP.DESCRIBE, principal="User:bob"),
            ]
        )
        self.assertTrue(auth.authorize(ALICE, "10.0.0.1", OP.READ, TOPIC, "orders"))
        self.assertFalse(auth.authorize(ALICE, "10.0.0.1", OP.READ, TOPIC, "orders2"))
        self.assertTrue(auth.authorize(ALICE, "10.0.0.1", OP.WRITE, TOPIC, "pay-1"))
        self.assertFalse(auth.authorize(ALICE, "10.0.0.1", OP.WRITE, TOPIC, "pa"))
        self.assertTrue(auth.authorize(BOB, "10.0.0.1", OP.DESCRIBE, TOPIC, "anything"))
        self.assertFalse(auth.authorize(BOB, "10.0.0.1", OP.READ, TOPIC, "anything"))

    def test_deny_beats_allow(self) -> None:
        """A matching DENY wins over an ALLOW, and DENY ALL denies every operation."""
        auth = StandardAuthorizer(
            acls=[
                acl("t", OP.ALL),
                acl("t", OP.WRITE, AclPermissionType.DENY),
                acl("u", OP.READ),
                acl("u", OP.ALL, AclPermissionType.DENY, principal="User:*"),
            ]
        )
        self.assertTrue(auth.authorize(ALICE, "h", OP.READ, TOPIC, "t"))
        self.assertFalse(auth.authorize(ALICE, "h", OP.WRITE, TOPIC, "t"))
        self.assertFalse(auth.authorize(ALICE, "h", OP.READ, TOPIC, "u"))

    def test_implied_describe(self) -> None:
        """READ implies DESCRIBE and ALTER_CONFIGS implies DESCRIBE_CONFIGS, not the reverse."""
        auth = StandardAuthorizer(acls=[acl("t", OP.READ), acl("t", OP.ALTER_CONFIGS)])
        self.assertTrue(auth.authorize(ALICE, "h", OP.DESCRIBE, TOPIC, "t"))
        self.assertTrue(auth.authorize(ALICE, "h", OP.DESCRIBE_CONFIGS, TOPIC, "t"))
        self.assertFalse(auth.authorize(ALICE, "h", OP.WRITE, TOPIC, "t"))

    def test_host(self) -> None:
        """An ACL for one host matches that host only."""
        auth = StandardAuthorizer(acls=[acl("t", OP.READ, host="10.0.0.1")])
        self.assertTrue(auth.authorize(ALICE, "10.0.0.1", OP.READ, TOPIC, "t"))
        self.assertFalse(auth.authorize(ALICE, "10.0.0.2", OP.READ, TOPIC, "t"))

    def test_super_users_and_no_acl(self) -> None:
        """Super users may do anything; without ACLs the default decides."""
        auth = StandardAuthorizer(["User:admin"])
        admin = KafkaPrincipal("User", "admin")
        self.assertTrue(auth.authorize(admin, "h", OP.DELETE, TOPIC, "t"))
        self.assertFalse(auth.authorize(ALICE, "h", OP.READ, TOPIC, "t"))
        everyone = StandardAuthorizer(allow_everyone_if_no_acl_found=True, acls=[acl("t", OP.READ)])
        self.assertTrue(everyone.authorize(BOB, "h", OP.READ, TOPIC, "other"))
        self.assertFalse(everyone.authorize(BOB, "h", OP.READ, TOPIC, "t"))

    def test_remove(self) -> None:
        """A removed ACL no longer allows."""
        binding = acl("t", OP.READ)
        auth = StandardAuthorizer(acls=[binding])
        auth.remove([binding])
        self.assertFalse(auth.authorize(ALICE, "h", OP.READ, TOPIC, "t"))
        self.assertEqual(auth.acls(), [])


class ByResourceTypeTests(SynchronousTestCase):
    """L{StandardAuthorizer.authorize_by_resource_type} (KIP-679)."""

    def test_any_allow_not_denied(self) -> None:
        """An ALLOW on some topic allows, unless a DENY covers it."""
        auth = StandardAuthorizer(acls=[acl("t", OP.WRITE)])
        self.assertTrue(auth.authorize_by_resource_type(ALICE, "h", OP.WRITE, TOPIC))
        self.assertFalse(auth.authorize_by_resource_type(BOB, "h", OP.WRITE, TOPIC))
        auth.add([acl("t", OP.WRITE, AclPermissionType.DENY, pattern=PatternType.PREFIXED)])
        self.assertFalse(auth.authorize_by_resource_type(ALICE, "h", OP.WRITE, TOPIC))
