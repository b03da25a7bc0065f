"""Kafka's own authorizer test cases, with Kafka's expected answers.

Ported from Kafka's C{StandardAuthorizerTest} (metadata module) and the
KRaft cases of C{AuthorizerTest} (core module); C{BaseAuthorizerTest}'s
C{authorizeByResourceType} cases are in test_kafka_by_resource_type.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.security.acl import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourceType,
)
from kafkatwist.security.authorizer import StandardAuthorizer, parse_super_users
from kafkatwist.security.principal import KafkaPrincipal

OP = AclOperation
RT = ResourceType
ALLOW, DENY = AclPermissionType.ALLOW, AclPermissionType.DENY
LITERAL, PREFIXED = PatternType.LITERAL, PatternType.PREFIXED
TOPIC, GROUP, CLUSTER = RT.TOPIC, RT.GROUP, RT.CLUSTER
#: Every operation an action can ask for (Kafka's tests skip ANY and UNKNOWN).
VALID_OPS = [op for op in AclOperation if op not in (OP.ANY, OP.UNKNOWN)]


def user(name: str) -> KafkaPrincipal:
    """C{User:name}."""
    return KafkaPrincipal("User", name)


def acl(
    rtype: ResourceType,
    name: str,
    pattern: PatternType,
    principal: str,
    host: str,
    op: AclOperation,
    permission: AclPermissionType,
) -> AclBinding:
    """An ACL in Kafka's C{StandardAcl} argument order."""
    return AclBinding(rtype, name, pattern, principal, host, op, permission)


def results(
    auth: StandardAuthorizer,
    principal: str,
    actions: list[tuple[AclOperation, ResourceType, str]],
    host: str = "127.0.0.1",
) -> list[bool]:
    """Kafka's C{authorize} of a list of actions: True for ALLOWED."""
    return [auth.authorize(user(principal), host, op, rt, name) for op, rt, name in actions]


def superman() -> StandardAuthorizer:
    """Kafka's C{createAndInitializeStandardAuthorizer}: super user C{User:superman}."""
    return StandardAuthorizer(parse_super_users("User:superman"))


def foo_acl(op: AclOperation, permission: AclPermissionType) -> AclBinding:
    """Kafka's C{newFooAcl}."""
    return acl(TOPIC, "foo_", PREFIXED, "User:bob", "*", op, permission)


def bar_acl(op: AclOperation, permission: AclPermissionType) -> AclBinding:
    """Kafka's C{newBarAcl}."""
    return acl(GROUP, "bar", LITERAL, "User:*", "*", op, permission)


class StandardAuthorizerTests(SynchronousTestCase):
    """Kafka's C{StandardAuthorizerTest}."""

    def test_get_configured_super_users(self) -> None:
        """testGetConfiguredSuperUsers: semicolons, spaces, empty entries, Kafka's message."""
        self.assertEqual(parse_super_users(None), frozenset())
        self.assertEqual(parse_super_users(" "), frozenset())
        self.assertEqual(parse_super_users("User:bob;User:alice "), {"User:bob", "User:alice"})
        self.assertEqual(
            parse_super_users(";  User:bob  ;  User:alice "), {"User:bob", "User:alice"}
        )
        with self.assertRaises(ValueError) as raised:
            parse_super_users("bob;:alice")
        self.assertEqual(
            str(raised.exception),
            "expected a string in format principalType:principalName but got bob",
        )

    def test_allow_everyone_if_no_acl_found(self) -> None:
        """testAllowEveryoneIfNoAclFoundConfigEnabled / Disabled."""
        acls = [acl(TOPIC, "topic1", LITERAL, "User:Alice", "*", OP.READ, ALLOW)]
        for enabled, expected in ((True, [False, True]), (False, [False, False])):
            auth = StandardAuthorizer(
                parse_super_users("User:alice;User:chris"),
                allow_everyone_if_no_acl_found=enabled,
                acls=acls,
            )
            self.assertEqual(
                results(auth, "Bob", [(OP.READ, TOPIC, "topic1"), (OP.READ, TOPIC, "topic2")]),
                expected,
            )

    def test_find_result_implication(self) -> None:
        """testFindResultImplication: ALLOWs imply DESCRIBE(_CONFIGS); DENYs imply nothing."""
        for op in (OP.DESCRIBE, OP.READ, OP.WRITE, OP.DELETE, OP.ALTER):
            auth = superman()
            auth.add([foo_acl(op, ALLOW)])
            self.assertEqual(results(auth, "bob", [(OP.DESCRIBE, TOPIC, "foo_bar")]), [True])
        auth = StandardAuthorizer(acls=[foo_acl(OP.CREATE, ALLOW)])
        self.assertEqual(results(auth, "bob", [(OP.DESCRIBE, TOPIC, "foo_bar")]), [False])
        for op in (OP.READ, OP.WRITE, OP.DELETE, OP.ALTER):
            # A DENY READ does not deny DESCRIBE: the resource has ACLs, none allows.
            auth = StandardAuthorizer(
                acls=[foo_acl(op, DENY), foo_acl(OP.DESCRIBE, ALLOW)],
            )
            self.assertEqual(results(auth, "bob", [(OP.DESCRIBE, TOPIC, "foo_bar")]), [True])
        auth = StandardAuthorizer(acls=[foo_acl(OP.DESCRIBE, DENY), foo_acl(OP.ALL, ALLOW)])
        self.assertEqual(results(auth, "bob", [(OP.DESCRIBE, TOPIC, "foo_bar")]), [False])
        for op in (OP.DESCRIBE_CONFIGS, OP.ALTER_CONFIGS):
            auth = StandardAuthorizer(acls=[foo_acl(op, ALLOW)])
            self.assertEqual(
                results(auth, "bob", [(OP.DESCRIBE_CONFIGS, TOPIC, "foo_bar")]), [True]
            )
        auth = StandardAuthorizer(
            acls=[foo_acl(OP.ALTER_CONFIGS, DENY), foo_acl(OP.DESCRIBE_CONFIGS, ALLOW)]
        )
        self.assertEqual(results(auth, "bob", [(OP.DESCRIBE_CONFIGS, TOPIC, "foo_bar")]), [True])
        auth = StandardAuthorizer(acls=[foo_acl(OP.ALTER_CONFIGS, DENY), foo_acl(OP.ALL, ALLOW)])
        self.assertEqual(results(auth, "bob", [(OP.ALTER_CONFIGS, TOPIC, "foo_bar")]), [False])

    def test_find_result_principal_matching(self) -> None:
        """testFindResultPrincipalMatching: the principal, or the User:* wildcard."""
        auth = StandardAuthorizer(acls=[foo_acl(OP.READ, ALLOW), bar_acl(OP.READ, DENY)])
        self.assertEqual(results(auth, "bob", [(OP.READ, TOPIC, "foo_bar")]), [True])
        self.assertEqual(results(auth, "alice", [(OP.READ, TOPIC, "foo_bar")]), [False])
        self.assertEqual(results(auth, "alice", [(OP.READ, GROUP, "bar")]), [False])

    def test_wildcard_principal_matches_every_principal_type(self) -> None:
        """User:* matches a principal of any type (Kafka's WILDCARD_KAFKA_PRINCIPAL)."""
        auth = StandardAuthorizer(acls=[bar_acl(OP.READ, ALLOW)])
        group_principal = KafkaPrincipal("Group", "admins")
        self.assertTrue(auth.authorize(group_principal, "h", OP.READ, GROUP, "bar"))
        other = StandardAuthorizer(
            acls=[acl(GROUP, "bar", LITERAL, "Group:*", "*", OP.READ, ALLOW)]
        )
        self.assertFalse(other.authorize(group_principal, "h", OP.READ, GROUP, "bar"))

    def test_list_acls(self) -> None:
        """testListAcls: every ACL, then without the removed one."""
        auth = superman()
        foo = [foo_acl(OP.READ, ALLOW), foo_acl(OP.WRITE, ALLOW)]
        bar = [bar_acl(OP.DESCRIBE_CONFIGS, DENY), bar_acl(OP.ALTER_CONFIGS, DENY)]
        auth.add(foo + bar)
        self.assertEqual(set(auth.acls()), set(foo + bar))
        auth.remove([foo[1]])
        self.assertEqual(set(auth.acls()), {foo[0], *bar})

    def test_simple_authorizations(self) -> None:
        """testSimpleAuthorizations."""
        auth = superman()
        auth.add([foo_acl(OP.READ, ALLOW), foo_acl(OP.WRITE, ALLOW)])
        auth.add([bar_acl(OP.DESCRIBE_CONFIGS, ALLOW), bar_acl(OP.ALTER_CONFIGS, ALLOW)])
        self.assertEqual(results(auth, "bob", [(OP.READ, TOPIC, "foo_")]), [True])
        self.assertEqual(results(auth, "fred", [(OP.ALTER_CONFIGS, GROUP, "bar")]), [True])

    def test_deny_precedence_with_operation_all(self) -> None:
        """testDenyPrecedenceWithOperationAll."""
        auth = superman()
        auth.add(
            [
                acl(TOPIC, "foo", LITERAL, "User:alice", "*", OP.ALL, DENY),
                acl(TOPIC, "foo", PREFIXED, "User:alice", "*", OP.READ, ALLOW),
                acl(TOPIC, "foo", LITERAL, "User:*", "*", OP.ALL, DENY),
                acl(TOPIC, "foo", PREFIXED, "User:*", "*", OP.DESCRIBE, ALLOW),
            ]
        )
        self.assertEqual(
            results(
                auth,
                "alice",
                [
                    (OP.WRITE, TOPIC, "foo"),
                    (OP.READ, TOPIC, "foo"),
                    (OP.DESCRIBE, TOPIC, "foo"),
                    (OP.READ, TOPIC, "foobar"),
                ],
            ),
            [False, False, False, True],
        )
        self.assertEqual(
            results(
                auth,
                "bob",
                [
                    (OP.DESCRIBE, TOPIC, "foo"),
                    (OP.READ, TOPIC, "foo"),
                    (OP.WRITE, TOPIC, "foo"),
                    (OP.DESCRIBE, TOPIC, "foobaz"),
                    (OP.READ, TOPIC, "foobaz"),
                ],
            ),
            [False, False, False, True, False],
        )

    def test_topic_acl_with_operation_all(self) -> None:
        """testTopicAclWithOperationAll."""
        auth = superman()
        auth.add(
            [
                acl(TOPIC, "foo", LITERAL, "User:*", "*", OP.ALL, ALLOW),
                acl(TOPIC, "bar", PREFIXED, "User:alice", "*", OP.ALL, ALLOW),
                acl(TOPIC, "baz", LITERAL, "User:bob", "*", OP.ALL, ALLOW),
            ]
        )
        cases = {
            "alice": (
                [(OP.WRITE, TOPIC, "foo"), (OP.DESCRIBE_CONFIGS, TOPIC, "bar")]
                + [(OP.DESCRIBE, TOPIC, "baz")],
                [True, True, False],
            ),
            "bob": (
                [(OP.WRITE, TOPIC, "foo"), (OP.READ, TOPIC, "bar"), (OP.DESCRIBE, TOPIC, "baz")],
                [True, False, True],
            ),
            "malory": (
                [(OP.DESCRIBE, TOPIC, "foo"), (OP.WRITE, TOPIC, "bar"), (OP.READ, TOPIC, "baz")],
                [True, False, False],
            ),
        }
        for principal, (actions, expected) in cases.items():
            self.assertEqual(results(auth, principal, actions), expected, principal)

    def test_host_address_acl_validation(self) -> None:
        """testHostAddressAclValidation (the local host is 127.0.0.1 here)."""
        host1, host2, local = "192.168.1.1", "192.168.1.2", "127.0.0.1"
        auth = superman()
        auth.add(
            [
                acl(TOPIC, "foo", LITERAL, "User:alice", host1, OP.READ, DENY),
                acl(TOPIC, "foo", LITERAL, "User:alice", "*", OP.READ, ALLOW),
                acl(TOPIC, "bar", LITERAL, "User:bob", host2, OP.READ, ALLOW),
                acl(TOPIC, "bar", LITERAL, "User:*", local, OP.DESCRIBE, ALLOW),
            ]
        )
        actions = [(OP.READ, TOPIC, "foo"), (OP.READ, TOPIC, "bar"), (OP.DESCRIBE, TOPIC, "bar")]
        expected = {
            ("alice", local): [True, False, True],
            ("alice", host1): [False, False, False],
            ("alice", host2): [True, False, False],
            ("bob", local): [False, False, True],
            ("bob", host1): [False, False, False],
            ("bob", host2): [False, True, True],
        }
        for (principal, host), answer in expected.items():
            self.assertEqual(results(auth, principal, actions, host), answer, (principal, host))

    def test_authorization_with_many_acls(self) -> None:
        """testAuthorizationWithManyAcls (addManyAcls)."""
        auth = superman()
        auth.add(
            [
                acl(TOPIC, "green2", LITERAL, "User:*", "*", OP.READ, ALLOW),
                acl(TOPIC, "green", PREFIXED, "User:bob", "*", OP.READ, ALLOW),
                acl(TOPIC, "betamax4", LITERAL, "User:bob", "*", OP.READ, ALLOW),
                acl(TOPIC, "betamax", LITERAL, "User:bob", "*", OP.READ, ALLOW),
                acl(TOPIC, "beta", PREFIXED, "User:*", "*", OP.READ, ALLOW),
                acl(TOPIC, "alpha", PREFIXED, "User:*", "*", OP.READ, ALLOW),
                acl(TOPIC, "alp", PREFIXED, "User:bob", "*", OP.READ, DENY),
                acl(GROUP, "*", LITERAL, "User:bob", "*", OP.WRITE, ALLOW),
                acl(GROUP, "wheel", LITERAL, "User:*", "*", OP.WRITE, DENY),
            ]
        )
        self.assertEqual(
            results(auth, "bob", [(OP.READ, TOPIC, "green1"), (OP.WRITE, GROUP, "wheel")]),
            [True, False],
        )
        self.assertEqual(
            results(
                auth,
                "bob",
                [
                    (OP.READ, TOPIC, "alpha"),
                    (OP.WRITE, GROUP, "arbitrary"),
                    (OP.READ, TOPIC, "ala"),
                ],
            ),
            [False, True, False],
        )
        # Super users are allowed whatever the ACLs (testAuthorizationPriorToCompleteInitialLoad).
        self.assertEqual(
            results(auth, "superman", [(OP.READ, TOPIC, "green1"), (OP.WRITE, GROUP, "wheel")]),
            [True, True],
        )

    def test_prefix_acls(self) -> None:
        """testPrefixAcls."""
        auth = superman()
        auth.add(
            [
                acl(TOPIC, "fooa", PREFIXED, "User:alice", "*", OP.ALL, ALLOW),
                acl(TOPIC, "foobar", LITERAL, "User:bob", "*", OP.ALL, ALLOW),
                acl(TOPIC, "f", PREFIXED, "User:bob", "*", OP.ALL, ALLOW),
            ]
        )
        self.assertEqual(
            results(
                auth,
                "bob",
                [
                    (OP.WRITE, TOPIC, "foobarr"),
                    (OP.READ, TOPIC, "goobar"),
                    (OP.READ, TOPIC, "fooa"),
                ],
            ),
            [True, False, True],
        )
        self.assertEqual(
            results(
                auth,
                "alice",
                [(OP.DESCRIBE, TOPIC, "fooa"), (OP.WRITE, TOPIC, "bar"), (OP.READ, TOPIC, "baz")],
            ),
            [True, False, False],
        )


ALICE_READ = "User:alice", "*", OP.READ, ALLOW
ALICE_WRITE = "User:alice", "*", OP.WRITE, ALLOW
ALICE_DENY_READ = "User:alice", "*", OP.READ, DENY
SUPER_USERS = "User:superuser1; User:superuser2"
#: AuthorizerTest's client host.
HOST = "192.168.0.1"


def on(
    rtype: ResourceType,
    name: str,
    pattern: PatternType,
    entry: tuple[str, str, OP, AclPermissionType],
) -> AclBinding:
    """An access control entry on a resource pattern."""
    principal, host, op, permission = entry
    return AclBinding(rtype, name, pattern, principal, host, op, permission)


class AuthorizerTests(SynchronousTestCase):
    """The KRaft cases of Kafka's C{AuthorizerTest}."""

    def setUp(self) -> None:
        self.auth = StandardAuthorizer(parse_super_users(SUPER_USERS))

    def allowed(self, principal: str, op: OP, rtype: RT, name: str, host: str = HOST) -> bool:
        return self.auth.authorize(user(principal), host, op, rtype, name)

    def test_authorize_with_empty_resource_name(self) -> None:
        """testAuthorizeWithEmptyResourceName: only a wildcard ACL covers the empty name."""
        self.assertFalse(self.allowed("alice", OP.READ, GROUP, ""))
        self.auth.add([on(GROUP, "*", LITERAL, ALICE_READ)])
        self.assertTrue(self.allowed("alice", OP.READ, GROUP, ""))

    def test_topic_acl(self) -> None:
        """testTopicAcl: hosts, DENY over ALLOW, READ/WRITE implying DESCRIBE."""
        host1, host2 = "192.168.1.1", "192.168.1.2"
        t = "foo-topic"
        self.auth.add(
            [
                on(TOPIC, t, LITERAL, ("User:alice", host1, OP.READ, ALLOW)),
                on(TOPIC, t, LITERAL, ("User:alice", host2, OP.READ, ALLOW)),
                on(TOPIC, t, LITERAL, ("User:alice", host1, OP.READ, DENY)),
                on(TOPIC, t, LITERAL, ("User:alice", host1, OP.WRITE, ALLOW)),
                on(TOPIC, t, LITERAL, ("User:alice", "*", OP.DESCRIBE, ALLOW)),
                on(TOPIC, t, LITERAL, ("User:rob", "*", OP.READ, ALLOW)),
                on(TOPIC, t, LITERAL, ("User:batman", "*", OP.WRITE, ALLOW)),
            ]
        )
        self.assertTrue(self.allowed("alice", OP.READ, TOPIC, t, host2))
        self.assertFalse(self.allowed("alice", OP.READ, TOPIC, t, host1))
        self.assertTrue(self.allowed("alice", OP.WRITE, TOPIC, t, host1))
        self.assertFalse(self.allowed("alice", OP.WRITE, TOPIC, t, host2))
        self.assertTrue(self.allowed("alice", OP.DESCRIBE, TOPIC, t, host1))
        self.assertTrue(self.allowed("alice", OP.DESCRIBE, TOPIC, t, host2))
        self.assertFalse(self.allowed("alice", OP.ALTER, TOPIC, t, host1))
        self.assertFalse(self.allowed("alice", OP.ALTER, TOPIC, t, host2))
        self.assertTrue(self.allowed("rob", OP.DESCRIBE, TOPIC, t, host1))
        self.assertTrue(self.allowed("batman", OP.DESCRIBE, TOPIC, t, host1))
        self.assertTrue(self.allowed("rob", OP.READ, TOPIC, t, host1))
        self.assertTrue(self.allowed("batman", OP.WRITE, TOPIC, t, host1))

    def test_deny_takes_precedence_and_allow_all(self) -> None:
        """testDenyTakesPrecedence and testAllowAllAccess."""
        host = "192.168.2.1"
        self.auth.add([on(TOPIC, "t", LITERAL, ("User:*", "*", OP.ALL, ALLOW))])
        self.assertTrue(self.allowed("random", OP.READ, TOPIC, "t", "192.0.4.4"))
        self.auth.add([on(TOPIC, "t", LITERAL, ("User:alice", host, OP.ALL, DENY))])
        self.assertFalse(self.allowed("alice", OP.READ, TOPIC, "t", host))

    def test_super_user_has_access(self) -> None:
        """testSuperUserHasAccess: super users pass a DENY ALL for everyone."""
        self.auth.add([on(TOPIC, "t", LITERAL, ("User:*", "*", OP.ALL, DENY))])
        self.assertTrue(self.allowed("superuser1", OP.READ, TOPIC, "t", "192.0.4.4"))
        self.assertTrue(self.allowed("superuser2", OP.READ, TOPIC, "t", "192.0.4.4"))
        self.assertFalse(self.allowed("alice", OP.READ, TOPIC, "t", "192.0.4.4"))

    def test_wildcard_acls(self) -> None:
        """testWildCardAcls: a wildcard ALLOW, and a wildcard DENY beating a literal ALLOW."""
        host = "192.168.3.1"
        self.assertFalse(self.allowed("alice", OP.READ, TOPIC, "t", host))
        self.auth.add([on(TOPIC, "*", LITERAL, ("User:alice", host, OP.READ, ALLOW))])
        self.assertTrue(self.allowed("alice", OP.READ, TOPIC, "t", host))
        self.auth.add([on(TOPIC, "t", LITERAL, ("User:alice", host, OP.WRITE, ALLOW))])
        self.auth.add([on(TOPIC, "*", LITERAL, ("User:alice", host, OP.WRITE, DENY))])
        self.assertFalse(self.allowed("alice", OP.WRITE, TOPIC, "t", host))

    def test_no_acl_found(self) -> None:
        """testNoAclFound and testNoAclFoundOverride."""
        self.assertFalse(self.allowed("alice", OP.READ, TOPIC, "t"))
        everyone = StandardAuthorizer(
            parse_super_users(SUPER_USERS), allow_everyone_if_no_acl_found=True
        )
        self.assertTrue(everyone.authorize(user("alice"), HOST, OP.READ, TOPIC, "t"))

    def test_acl_inheritance(self) -> None:
        """testAclInheritance: which operations an ALLOW implies, and that a DENY implies none."""
        allow_implies: dict[OP, set[OP]] = {
            OP.READ: {OP.DESCRIBE},
            OP.WRITE: {OP.DESCRIBE},
            OP.DELETE: {OP.DESCRIBE},
            OP.ALTER: {OP.DESCRIBE},
            OP.ALTER_CONFIGS: {OP.DESCRIBE_CONFIGS},
            OP.ALL: set(VALID_OPS),
        }
        host = "192.168.3.1"
        for parent, implied in allow_implies.items():
            auth = StandardAuthorizer(
                acls=[on(CLUSTER, "kafka-cluster", LITERAL, ("User:alice", "*", parent, ALLOW))]
            )
            for op in VALID_OPS:
                got = auth.authorize(user("alice"), host, op, CLUSTER, "kafka-cluster")
                self.assertEqual(got, op in implied or op == parent, (parent, op))
        for parent in (OP.READ, OP.WRITE, OP.CREATE, OP.DESCRIBE, OP.DESCRIBE_CONFIGS, OP.ALL):
            auth = StandardAuthorizer(
                acls=[
                    on(CLUSTER, "kafka-cluster", LITERAL, ("User:alice", "*", parent, DENY)),
                    on(CLUSTER, "kafka-cluster", LITERAL, ("User:alice", "*", OP.ALL, ALLOW)),
                ]
            )
            for op in VALID_OPS:
                got = auth.authorize(user("alice"), host, op, CLUSTER, "kafka-cluster")
                self.assertEqual(got, not (op == parent or parent == OP.ALL), (parent, op))

    def test_prefixed_and_wildcard_resources(self) -> None:
        """testAccessAllowedIfAllowAclExistsOn{Wildcard,Prefixed}Resource."""
        resource = "foo-1234"
        wildcard = StandardAuthorizer(acls=[on(TOPIC, "*", LITERAL, ALICE_READ)])
        self.assertTrue(wildcard.authorize(user("alice"), HOST, OP.READ, TOPIC, resource))
        prefixed = StandardAuthorizer(acls=[on(TOPIC, "foo", PREFIXED, ALICE_READ)])
        self.assertTrue(prefixed.authorize(user("alice"), HOST, OP.READ, TOPIC, resource))

    def test_authorize_with_prefixed_resource(self) -> None:
        """testAuthorizeWithPrefixedResource: unrelated literal and prefixed DENYs do not apply."""
        for name, pattern in [
            ("a_other", LITERAL),
            ("a_other", PREFIXED),
            ("foo-5d3a", PREFIXED),
            ("foo-7b1c", PREFIXED),
            ("foo-9e2f-zzz", PREFIXED),
            ("fooo-0a1b", PREFIXED),
            ("fo-1c2d", PREFIXED),
            ("fop-3e4f", PREFIXED),
            ("fon-5a6b", PREFIXED),
            ("fon-", PREFIXED),
            ("z_other", PREFIXED),
            ("z_other", LITERAL),
        ]:
            self.auth.add([on(TOPIC, name, pattern, ALICE_DENY_READ)])
        self.auth.add([on(TOPIC, "foo", PREFIXED, ALICE_READ)])
        self.assertTrue(self.allowed("alice", OP.READ, TOPIC, "foo-4c7e"))

    def test_single_character_resource_acls(self) -> None:
        """testSingleCharacterResourceAcls."""
        self.auth.add([on(TOPIC, "f", LITERAL, ALICE_READ)])
        self.assertTrue(self.allowed("alice", OP.READ, TOPIC, "f"))
        self.assertFalse(self.allowed("alice", OP.READ, TOPIC, "foo"))
        self.auth.add([on(TOPIC, "_", PREFIXED, ALICE_READ)])
        self.assertTrue(self.allowed("alice", OP.READ, TOPIC, "_foo"))
        self.assertTrue(self.allowed("alice", OP.READ, TOPIC, "_"))
        self.assertFalse(self.allowed("alice", OP.READ, TOPIC, "foo_"))
