"""Kafka's C{BaseAuthorizerTest} cases of C{authorizeByResourceType} (KIP-679), Kafka's answers."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.security.authorizer import StandardAuthorizer, parse_super_users
from tests.security.test_kafka_authorizer_cases import (
    ALLOW,
    CLUSTER,
    DENY,
    GROUP,
    HOST,
    LITERAL,
    OP,
    PREFIXED,
    RT,
    TOPIC,
    on,
    user,
)

U1 = "User:user1"
H1, H2 = "192.168.1.1", "192.168.1.2"


class ByResourceTypeTests(SynchronousTestCase):
    """Kafka's C{BaseAuthorizerTest} cases of C{authorizeByResourceType} (KIP-679)."""

    def setUp(self) -> None:
        self.auth = StandardAuthorizer(parse_super_users("User:superuser1; User:superuser2"))

    def by_type(self, principal: str, host: str, op: OP, rtype: RT) -> bool:
        return self.auth.authorize_by_resource_type(user(principal), host, op, rtype)

    def test_multiple_add_and_remove(self) -> None:
        """testAuthorizeByResourceTypeMultipleAddAndRemove."""
        deny = on(TOPIC, "sb1-x", LITERAL, (U1, H1, OP.READ, DENY))
        allow = on(TOPIC, "sb1-x", LITERAL, (U1, H1, OP.READ, ALLOW))
        for _ in range(3):
            self.assertFalse(self.by_type("user1", H1, OP.READ, TOPIC))
            self.auth.add([allow])
            self.assertTrue(self.by_type("user1", H1, OP.READ, TOPIC))
            for _ in range(3):
                self.auth.add([deny])
                self.assertFalse(self.by_type("user1", H1, OP.READ, TOPIC))
                self.auth.remove([deny])
                self.auth.add([allow])
                self.assertTrue(self.by_type("user1", H1, OP.READ, TOPIC))
            self.auth.remove([allow])
            self.assertFalse(self.by_type("user1", H1, OP.READ, TOPIC))

    def test_isolation_unrelated_deny_wont_dominate_allow(self) -> None:
        """testAuthorizeByResourceTypeIsolationUnrelatedDenyWontDominateAllow."""
        r1, r2 = "sb1-a", "sb2-b"
        self.auth.add(
            [
                on(TOPIC, r1, LITERAL, (U1, H1, OP.READ, DENY)),
                on(TOPIC, r1, LITERAL, ("User:user2", H1, OP.READ, DENY)),
                on(TOPIC, r1, LITERAL, (U1, H2, OP.WRITE, DENY)),
                on(TOPIC, r1, LITERAL, ("User:user2", H2, OP.READ, DENY)),
                on(TOPIC, r1, LITERAL, (U1, H2, OP.READ, ALLOW)),
                on(TOPIC, r2, LITERAL, (U1, H2, OP.READ, DENY)),
                on(GROUP, "s", PREFIXED, (U1, H2, OP.READ, DENY)),
            ]
        )
        self.assertFalse(self.by_type("user1", H1, OP.READ, TOPIC))
        self.assertFalse(self.by_type("user1", H1, OP.READ, GROUP))
        self.assertFalse(self.by_type("user1", H1, OP.READ, RT.TRANSACTIONAL_ID))
        self.assertFalse(self.by_type("user1", H1, OP.READ, CLUSTER))
        self.assertTrue(self.by_type("user1", H2, OP.READ, TOPIC))

    def test_deny_takes_precedence(self) -> None:
        """testAuthorizeByResourceTypeDenyTakesPrecedence."""
        self.auth.add([on(TOPIC, "sb1-c", LITERAL, (U1, H1, OP.WRITE, ALLOW))])
        self.assertTrue(self.by_type("user1", H1, OP.WRITE, TOPIC))
        self.auth.add([on(TOPIC, "sb1-c", LITERAL, (U1, H1, OP.WRITE, DENY))])
        self.assertFalse(self.by_type("user1", H1, OP.WRITE, TOPIC))

    def test_prefixed_resource_deny_dominate(self) -> None:
        """testAuthorizeByResourceTypePrefixedResourceDenyDominate."""
        allow, deny = (U1, H1, OP.READ, ALLOW), (U1, H1, OP.READ, DENY)
        steps = [
            ("abcde", allow, True),
            ("abcd", deny, False),
            ("abc", allow, True),
            ("a", deny, False),
            ("ab", allow, False),
        ]
        for name, entry, expected in steps:
            self.auth.add([on(GROUP, name, PREFIXED, entry)])
            self.assertEqual(self.by_type("user1", H1, OP.READ, GROUP), expected, name)

    def test_wildcard_resource_deny_dominate(self) -> None:
        """testAuthorizeByResourceTypeWildcardResourceDenyDominate."""
        allow, deny = (U1, H1, OP.WRITE, ALLOW), (U1, H1, OP.WRITE, DENY)
        steps = [
            ("hello", PREFIXED, allow, True),
            ("*", LITERAL, deny, False),
            ("*", LITERAL, allow, False),
            ("aloha", LITERAL, allow, False),
        ]
        for name, pattern, entry, expected in steps:
            self.auth.add([on(GROUP, name, pattern, entry)])
            self.assertEqual(self.by_type("user1", H1, OP.WRITE, GROUP), expected, name)

    def test_with_all_operation_ace(self) -> None:
        """testAuthorizeByResourceTypeWithAllOperationAce."""
        self.assertFalse(self.by_type("user1", H1, OP.READ, TOPIC))
        self.auth.add(
            [
                on(TOPIC, "sb1-d", LITERAL, (U1, H1, OP.WRITE, DENY)),
                on(TOPIC, "sb1-d", LITERAL, (U1, H1, OP.ALL, ALLOW)),
            ]
        )
        self.assertTrue(self.by_type("user1", H1, OP.READ, TOPIC))
        self.auth.add([on(TOPIC, "sb1-d", LITERAL, (U1, H1, OP.ALL, DENY))])
        self.assertFalse(self.by_type("user1", H1, OP.READ, TOPIC))

    def test_with_all_host_ace(self) -> None:
        """testAuthorizeByResourceTypeWithAllHostAce."""
        r1, r2 = "sb1-e", "sb2-e"
        self.assertFalse(self.by_type("user1", H1, OP.READ, TOPIC))
        self.auth.add([on(TOPIC, r1, LITERAL, (U1, H1, OP.READ, ALLOW))])
        self.assertTrue(self.by_type("user1", H1, OP.READ, TOPIC))
        self.auth.add([on(TOPIC, r1, LITERAL, (U1, "*", OP.READ, DENY))])
        self.assertFalse(self.by_type("user1", H1, OP.READ, TOPIC))
        self.auth.add([on(TOPIC, r2, LITERAL, (U1, H1, OP.READ, DENY))])
        self.assertFalse(self.by_type("user1", H1, OP.READ, TOPIC))
        self.assertFalse(self.by_type("user1", H2, OP.READ, TOPIC))
        self.auth.add([on(TOPIC, r2, LITERAL, (U1, "*", OP.READ, ALLOW))])
        self.assertTrue(self.by_type("user1", H2, OP.READ, TOPIC))
        self.auth.add([on(TOPIC, r2, LITERAL, (U1, "*", OP.READ, DENY))])
        self.assertFalse(self.by_type("user1", H2, OP.READ, TOPIC))

    def test_with_all_principal_ace(self) -> None:
        """testAuthorizeByResourceTypeWithAllPrincipalAce."""
        r1, r2 = "sb1-f", "sb2-f"
        self.assertFalse(self.by_type("user1", H1, OP.READ, TOPIC))
        self.auth.add([on(TOPIC, r1, LITERAL, (U1, H1, OP.READ, ALLOW))])
        self.assertTrue(self.by_type("user1", H1, OP.READ, TOPIC))
        self.auth.add([on(TOPIC, r1, LITERAL, ("User:*", H1, OP.READ, DENY))])
        self.assertFalse(self.by_type("user1", H1, OP.READ, TOPIC))
        self.auth.add([on(TOPIC, r2, LITERAL, (U1, H1, OP.READ, DENY))])
        self.assertFalse(self.by_type("user1", H1, OP.READ, TOPIC))
        self.assertFalse(self.by_type("user2", H1, OP.READ, TOPIC))
        self.auth.add([on(TOPIC, r2, LITERAL, ("User:*", H1, OP.READ, ALLOW))])
        self.assertTrue(self.by_type("user2", H1, OP.READ, TOPIC))
        self.auth.add([on(TOPIC, r2, LITERAL, ("User:*", H1, OP.READ, DENY))])
        self.assertFalse(self.by_type("user2", H1, OP.READ, TOPIC))

    def test_super_user_has_access(self) -> None:
        """testAuthorizeByResourceTypeSuperUserHasAccess."""
        deny_all = ("User:*", "*", OP.ALL, DENY)
        for rtype in (TOPIC, CLUSTER, GROUP, RT.TRANSACTIONAL_ID):
            self.auth.add([on(rtype, "*", LITERAL, deny_all)])
        for rtype in (TOPIC, CLUSTER, GROUP, RT.TRANSACTIONAL_ID):
            self.assertTrue(self.by_type("superuser1", "192.0.4.4", OP.READ, rtype))

    def test_no_acl_found_override(self) -> None:
        """testAuthorizeByResourceTypeNoAclFoundOverride, even with ACLs on other topics."""
        auth = StandardAuthorizer(allow_everyone_if_no_acl_found=True)
        for op in (OP.READ, OP.WRITE):
            self.assertTrue(auth.authorize_by_resource_type(user("alice"), HOST, op, TOPIC))
        # The "hardcode" probe finds no ACL: the default allows (Kafka's default method).
        auth.add([on(TOPIC, "other", LITERAL, ("User:bob", "*", OP.READ, ALLOW))])
        self.assertTrue(auth.authorize_by_resource_type(user("alice"), HOST, OP.READ, TOPIC))

    def test_filter_values_refused(self) -> None:
        """SecurityUtils.authorizeByResourceTypeCheckArgs: ANY and UNKNOWN are not operations."""
        for op, rtype in [
            (OP.ANY, TOPIC),
            (OP.UNKNOWN, TOPIC),
            (OP.READ, RT.ANY),
            (OP.READ, RT.UNKNOWN),
        ]:
            with self.assertRaises(ValueError):
                self.by_type("user1", H1, op, rtype)
