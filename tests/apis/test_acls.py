"""CreateAcls (30), DescribeAcls (29), DeleteAcls (31): Kafka's AclApis and AclControlManager."""

from __future__ import annotations

from typing import Any

import attrs
from kafka.protocol.admin import CreateAclsRequest as ClientCreate
from kafka.protocol.admin import CreateAclsResponse as ClientCreateResponse
from kafka.protocol.admin import DeleteAclsRequest as ClientDelete
from kafka.protocol.admin import DeleteAclsResponse as ClientDeleteResponse
from kafka.protocol.admin import DescribeAclsRequest as ClientDescribe
from kafka.protocol.admin import DescribeAclsResponse as ClientDescribeResponse
from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import create_acls, delete_acls, describe_acls
from kafkatwist.apis._spec import ApiSpec
from kafkatwist.broker import Broker
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.config.values import ConfigError
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.create_acls import AclCreation, CreateAclsRequest, CreateAclsResponse
from kafkatwist.messages.delete_acls import DeleteAclsFilter, DeleteAclsRequest, DeleteAclsResponse
from kafkatwist.messages.describe_acls import DescribeAclsRequest, DescribeAclsResponse
from kafkatwist.security.acl import AclOperation, ResourceType
from kafkatwist.security.principal import KafkaPrincipal
from tests.brokers import make_broker, metadata_of
from tests.offsets_support import client_roundtrip
from tests.security.authz_support import send

CREATE, DESCRIBE, DELETE = create_acls.SPEC, describe_acls.SPEC, delete_acls.SPEC
STANDARD = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
INVALID = int(ErrorCode.INVALID_REQUEST)
READ, TOPIC = AclOperation.READ, ResourceType.TOPIC
# Codes: resource TOPIC 2, GROUP 3, CLUSTER 4; pattern ANY 1, MATCH 2, LITERAL 3, PREFIXED 4;
# operation ANY 1, ALL 2, READ 3, WRITE 4, ALTER 7, DESCRIBE 8; permission ANY 1, DENY 2, ALLOW 3.


def creation(
    name: str = "orders",
    rtype: int = 2,
    pattern: int = 3,
    principal: str = "User:alice",
    host: str = "*",
    operation: int = 3,
    permission: int = 3,
) -> AclCreation:
    """One ACL to create (default: ALLOW User:alice READ on the literal topic orders)."""
    return AclCreation(rtype, name, pattern, principal, host, operation, permission)


def any_filter(**fields: Any) -> DeleteAclsFilter:
    """A DeleteAcls filter matching everything, but for C{fields}."""
    values: dict[str, Any] = dict(
        resource_type_filter=1,
        resource_name_filter=None,
        pattern_type_filter=1,
        principal_filter=None,
        host_filter=None,
        operation=1,
        permission_type=1,
    )
    values.update(fields)
    return DeleteAclsFilter(**values)


def describe_all(**fields: Any) -> DescribeAclsRequest:
    """A DescribeAcls request matching everything, but for C{fields}."""
    return DescribeAclsRequest(**attrs.asdict(any_filter(**fields)))


def acl_broker(super_users: str | None = "User:ANONYMOUS", **props: str) -> Broker:
    """A broker with the StandardAuthorizer; the test client (ANONYMOUS) a super user by default."""
    properties = {"authorizer.class.name": STANDARD, **props}
    if super_users is not None:
        properties["super.users"] = super_users
    return make_broker(config=BrokerConfig.from_properties(properties))


class _Case(SynchronousTestCase):
    broker: Broker

    def setUp(self) -> None:
        self.broker = acl_broker()

    def call(
        self, spec: ApiSpec, request: Any, version: int = 3, principal: str = "User:ANONYMOUS"
    ) -> Any:
        """Send a request through the dispatcher as C{principal} from 10.1.1.1; decode the reply."""
        who = KafkaPrincipal.parse(principal)
        sent: Deferred[Any] = send(
            self.broker, request, spec.response, version, who, client_host="10.1.1.1"
        )
        return self.successResultOf(sent)

    def create(self, *creations: AclCreation, **kw: Any) -> list[tuple[int, str | None]]:
        response: CreateAclsResponse = self.call(CREATE, CreateAclsRequest(creations), **kw)
        return [(r.error_code, r.error_message) for r in response.results]

    def described(self, request: DescribeAclsRequest | None = None) -> set[tuple[Any, ...]]:
        response: DescribeAclsResponse = self.call(DESCRIBE, request or describe_all())
        self.assertEqual(response.error_code, 0)
        return {
            (r.resource_type, r.resource_name, r.pattern_type, a.principal, a.host)
            + (a.operation, a.permission_type)
            for r in response.resources
            for a in r.acls
        }

    def acl_records(self) -> list[object]:
        return [r for r in metadata_of(self.broker).image.acls.values()]


class SecurityDisabledTests(_Case):
    """Without authorizer.class.name, Kafka answers SECURITY_DISABLED."""

    def setUp(self) -> None:
        self.broker = make_broker()

    def test_every_api_answers_security_disabled(self) -> None:
        """Each ACL API answers SECURITY_DISABLED with Kafka's message, writing nothing."""
        self.assertIsNone(self.broker.authorizer)
        disabled = int(ErrorCode.SECURITY_DISABLED)
        self.assertEqual(
            self.create(creation(), creation("b")),
            [(disabled, "No Authorizer is configured.")] * 2,
        )
        response = self.call(DESCRIBE, describe_all())
        self.assertEqual(
            (response.error_code, response.error_message),
            (disabled, "No Authorizer is configured on the broker"),
        )
        response = self.call(DELETE, DeleteAclsRequest((any_filter(),)))
        self.assertEqual(
            [(r.error_code, r.error_message) for r in response.filter_results],
            [(disabled, "No Authorizer is configured.")],
        )
        self.assertEqual(self.acl_records(), [])


class CreateTests(_Case):
    """CreateAcls: Kafka's checks, records and idempotence."""

    def test_create_describe_delete(self) -> None:
        """Created ACLs are described grouped by pattern and deleted by filter."""
        self.assertEqual(
            self.create(
                creation(),
                creation(operation=4, permission=2),
                creation("pay-", pattern=4, principal="User:*", host="10.0.0.1"),
            ),
            [(0, None)] * 3,
        )
        self.assertEqual(len(self.acl_records()), 3)
        response: DescribeAclsResponse = self.call(DESCRIBE, describe_all())
        self.assertEqual(
            [(r.resource_name, r.pattern_type, len(r.acls)) for r in response.resources],
            [("orders", 3, 2), ("pay-", 4, 1)],
        )
        deleted: DeleteAclsResponse = self.call(
            DELETE, DeleteAclsRequest((any_filter(resource_name_filter="orders"),))
        )
        (result,) = deleted.filter_results
        self.assertEqual(
            sorted((m.resource_name, m.operation, m.permission_type) for m in result.matching_acls),
            [("orders", 3, 3), ("orders", 4, 2)],
        )
        self.assertEqual(self.described(), {(2, "pay-", 4, "User:*", "10.0.0.1", 3, 3)})

    def test_duplicates_are_no_ops(self) -> None:
        """An existing ACL, or one listed twice, succeeds and writes one record only."""
        log = metadata_of(self.broker)
        self.assertEqual(self.create(creation(), creation()), [(0, None)] * 2)
        offset = log.next_offset
        self.assertEqual(self.create(creation()), [(0, None)])
        self.assertEqual((len(self.acl_records()), log.next_offset), (1, offset))

    def test_records_carry_fresh_ids(self) -> None:
        """Each ACL is an AccessControlEntryRecord with its own id, as Kafka's StandardAclWithId."""
        self.create(creation("a"), creation("b"))
        ids = list(metadata_of(self.broker).image.acls)
        self.assertEqual(len(set(ids)), 2)
        self.assertTrue(all(i.int != 0 for i in ids))

    def test_refused_acls(self) -> None:
        """Each bad ACL gets INVALID_REQUEST with Kafka's message; the good one is created."""
        cases = [
            (creation("cluster", rtype=4, operation=7), "The only valid name for the CLUSTER "
             "resource is kafka-cluster"),
            (creation(""), "Invalid empty resource name"),
            (creation(rtype=99), "Invalid resourceType UNKNOWN"),
            (creation(pattern=9), "Invalid patternType UNKNOWN"),
            (creation(operation=1), "Invalid operation ANY"),
            (creation(operation=60), "Invalid operation UNKNOWN"),
            (creation(permission=8), "Invalid permissionType UNKNOWN"),
            (creation(principal="alice"), "expected a string in format "
             "principalType:principalName but got alice"),
        ]  # fmt: skip
        answers = self.create(*(c for c, _ in cases), creation("kafka-cluster", rtype=4))
        self.assertEqual(answers, [(INVALID, m) for _, m in cases] + [(0, None)])
        self.assertEqual(len(self.acl_records()), 1)

    def test_unbuildable_acls_fail_the_request(self) -> None:
        """Resource type ANY, pattern MATCH/ANY, permission ANY: UNKNOWN_SERVER_ERROR for all."""
        for bad in (
            creation(rtype=1),
            creation(pattern=2),
            creation(pattern=1),
            creation(permission=1),
        ):
            with self.subTest(bad=bad):
                request = CreateAclsRequest((creation("fine"), bad))
                response = self.call(CREATE, request)
                self.assertEqual(
                    [r.error_code for r in response.results],
                    [int(ErrorCode.UNKNOWN_SERVER_ERROR)] * 2,
                )
        self.assertEqual(self.acl_records(), [])

    def test_unknown_code_zero_refuses_the_request(self) -> None:
        """Code 0 (UNKNOWN) anywhere: INVALID_REQUEST for every result (Kafka fails the parse)."""
        self.assertEqual(
            self.create(creation(), creation(operation=0)),
            [(INVALID, "CreatableAcls contain unknown elements")] * 2,
        )
        response = self.call(DESCRIBE, describe_all(resource_type_filter=0))
        self.assertEqual(
            (response.error_code, response.error_message),
            (INVALID, "DescribeAclsRequest contains UNKNOWN elements"),
        )
        response = self.call(DELETE, DeleteAclsRequest((any_filter(permission_type=0),)))
        (result,) = response.filter_results
        self.assertEqual(
            (result.error_code, result.error_message),
            (INVALID, "Filters contain UNKNOWN elements"),
        )


class AuthorizationTests(_Case):
    """Who may call the ACL APIs: ALTER (create, delete) and DESCRIBE (describe) on the cluster."""

    def setUp(self) -> None:
        self.broker = acl_broker("User:admin")

    def test_without_cluster_rights(self) -> None:
        """A principal without ALTER/DESCRIBE on the cluster gets CLUSTER_AUTHORIZATION_FAILED."""
        denied = int(ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
        self.assertEqual(self.create(creation(), creation("b")), [(denied, None)] * 2)
        self.assertEqual(self.call(DESCRIBE, describe_all()).error_code, denied)
        response = self.call(DELETE, DeleteAclsRequest((any_filter(), any_filter())))
        self.assertEqual([r.error_code for r in response.filter_results], [denied] * 2)
        self.assertEqual(self.acl_records(), [])

    def test_granted_through_acls(self) -> None:
        """A super user grants ALTER on the cluster; ALTER implies DESCRIBE (as in Kafka)."""
        grant = creation("kafka-cluster", rtype=4, principal="User:ANONYMOUS", operation=7)
        self.assertEqual(self.create(grant, principal="User:admin"), [(0, None)])
        self.assertEqual(self.create(creation()), [(0, None)])
        self.assertIn((2, "orders", 3, "User:alice", "*", 3, 3), self.described())
        # A host-bound DENY of ALTER for this client's host (10.1.1.1) wins.
        deny = creation(
            "kafka-cluster", rtype=4, principal="User:*", host="10.1.1.1", operation=7, permission=2
        )
        self.assertEqual(self.create(deny, principal="User:admin"), [(0, None)])
        denied = int(ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
        self.assertEqual(self.create(creation("c")), [(denied, None)])

    def test_authorizer_sees_created_acls(self) -> None:
        """The broker's authorizer applies ACLs once CreateAcls answers, drops deleted ones."""
        authorizer = self.broker.authorizer
        assert authorizer is not None
        alice = KafkaPrincipal("User", "alice")
        self.assertFalse(authorizer.authorize(alice, "h", READ, TOPIC, "orders"))
        self.create(creation(), principal="User:admin")
        self.assertTrue(authorizer.authorize(alice, "h", READ, TOPIC, "orders"))
        self.call(DELETE, DeleteAclsRequest((any_filter(),)), principal="User:admin")
        self.assertFalse(authorizer.authorize(alice, "h", READ, TOPIC, "orders"))

    def test_allow_everyone_if_no_acl_found(self) -> None:
        """With allow.everyone.if.no.acl.found, a cluster without cluster ACLs lets anyone in."""
        self.broker = acl_broker(None, **{"allow.everyone.if.no.acl.found": "true"})
        self.assertEqual(self.create(creation()), [(0, None)])
        self.assertEqual(len(self.described()), 1)


class FilterTests(_Case):
    """DescribeAcls and DeleteAcls filters (Kafka's AclBindingFilter)."""

    def setUp(self) -> None:
        super().setUp()
        self.create(
            creation("orders"),
            creation("*", principal="User:bob"),
            creation("ord", pattern=4, operation=4),
            creation("orders-eu", pattern=4),
            creation("orders", rtype=3),
        )

    def test_match_pattern(self) -> None:
        """MATCH finds the literal name, the wildcard and the prefixes that apply to it."""
        found = self.described(
            describe_all(
                resource_type_filter=2, resource_name_filter="orders", pattern_type_filter=2
            )
        )
        self.assertEqual({(name, pattern) for _, name, pattern, *_ in found},
                         {("orders", 3), ("*", 3), ("ord", 4)})  # fmt: skip

    def test_exact_filters(self) -> None:
        """A pattern type with a name is that exact pattern; ANY with a name is the name in any."""
        literal = describe_all(resource_name_filter="orders", pattern_type_filter=3)
        self.assertEqual(
            {(t, n) for t, n, *_ in self.described(literal)}, {(2, "orders"), (3, "orders")}
        )
        prefixed = describe_all(resource_name_filter="ord", pattern_type_filter=1)
        self.assertEqual({(n, p) for _, n, p, *_ in self.described(prefixed)}, {("ord", 4)})
        by_principal = describe_all(principal_filter="User:bob")
        self.assertEqual({n for _, n, *_ in self.described(by_principal)}, {"*"})
        by_op = describe_all(operation=4, permission_type=3)
        self.assertEqual({n for _, n, *_ in self.described(by_op)}, {"ord"})

    def test_delete_filters(self) -> None:
        """Each filter lists what it matched (overlaps included); unknown filters are refused."""
        response: DeleteAclsResponse = self.call(
            DELETE,
            DeleteAclsRequest(
                (
                    any_filter(
                        resource_type_filter=2, resource_name_filter="orders", pattern_type_filter=2
                    ),
                    any_filter(resource_name_filter="orders"),
                    any_filter(resource_type_filter=42),
                    any_filter(operation=42),
                )
            ),
        )
        results = response.filter_results
        self.assertEqual(
            [
                sorted((m.resource_type, m.resource_name) for m in r.matching_acls)
                for r in results[:2]
            ],
            [[(2, "*"), (2, "ord"), (2, "orders")], [(2, "orders"), (3, "orders")]],
        )
        self.assertEqual(
            [(r.error_code, r.error_message) for r in results[2:]],
            [(INVALID, "Unknown patternFilter."), (INVALID, "Unknown entryFilter.")],
        )
        self.assertEqual({n for _, n, *_ in self.described()}, {"orders-eu"})

    def test_version_0_sees_literal_acls_only(self) -> None:
        """A v0 filter is LITERAL (no pattern field), as Kafka 3.x answered v0."""
        response: DescribeAclsResponse = self.call(
            DESCRIBE, describe_all(pattern_type_filter=3), version=0
        )
        self.assertEqual({r.pattern_type for r in response.resources}, {3})
        self.assertEqual({r.resource_name for r in response.resources}, {"orders", "*"})


class ClientBytesTests(_Case):
    """kafka-python's encoders and decoders (an independent implementation), at v0-v3."""

    def test_kafka_python_round_trips(self) -> None:
        """Create, describe and delete encoded by kafka-python decode, and our answers decode."""
        for version in range(4):
            name = f"t{version}"
            create = ClientCreate(
                creations=[
                    ClientCreate.AclCreation(
                        resource_type=2,
                        resource_name=name,
                        resource_pattern_type=3,
                        principal="User:alice",
                        host="*",
                        operation=3,
                        permission_type=3,
                    )
                ]
            )
            response = client_roundtrip(
                self, self.broker, CREATE, create, ClientCreateResponse, version
            )
            self.assertEqual([r.error_code for r in response.results], [0])
            describe = ClientDescribe(
                resource_type_filter=2,
                resource_name_filter=name,
                pattern_type_filter=3,
                principal_filter=None,
                host_filter=None,
                operation=1,
                permission_type=1,
            )
            response = client_roundtrip(
                self, self.broker, DESCRIBE, describe, ClientDescribeResponse, version
            )
            self.assertEqual(response.error_code, 0)
            (resource,) = response.resources
            self.assertEqual(
                (resource.resource_name, [(a.principal, a.operation) for a in resource.acls]),
                (name, [("User:alice", 3)]),
            )
            delete = ClientDelete(
                filters=[
                    ClientDelete.DeleteAclsFilter(
                        resource_type_filter=2,
                        resource_name_filter=name,
                        pattern_type_filter=3,
                        principal_filter=None,
                        host_filter=None,
                        operation=1,
                        permission_type=1,
                    )
                ]
            )
            response = client_roundtrip(
                self, self.broker, DELETE, delete, ClientDeleteResponse, version
            )
            (result,) = response.filter_results
            self.assertEqual([m.resource_name for m in result.matching_acls], [name])
        self.assertEqual(self.acl_records(), [])


class ConfigTests(SynchronousTestCase):
    """authorizer.class.name builds the broker's authorizer."""

    def test_no_class_name_no_authorizer(self) -> None:
        """An empty authorizer.class.name (Kafka's default) leaves the broker without one."""
        self.assertIsNone(make_broker().authorizer)

    def test_standard_authorizer_configured(self) -> None:
        """Kafka's class name builds a StandardAuthorizer with super.users and the default rule."""
        broker = acl_broker("User:a; User:b", **{"allow.everyone.if.no.acl.found": "TRUE "})
        authorizer = broker.authorizer
        assert authorizer is not None
        self.assertEqual(
            (authorizer.super_users, authorizer.allow_everyone_if_no_acl_found),
            ({"User:a", "User:b"}, True),
        )

    def test_unknown_class_names_refused(self) -> None:
        """Another class (Kafka 4 removed AclAuthorizer) fails the config, naming the key."""
        for name in ("kafka.security.authorizer.AclAuthorizer", "com.example.Mine"):
            with self.assertRaises(ConfigError) as raised:
                BrokerConfig.from_properties({"authorizer.class.name": name})
            self.assertIn("authorizer.class.name", str(raised.exception))
            self.assertIn(f"Class {name} cannot be found", str(raised.exception))

    def test_bad_super_users_refused_with_an_authorizer(self) -> None:
        """A super user that is not Type:name fails the config only when an authorizer reads it."""
        with self.assertRaises(ConfigError):
            BrokerConfig.from_properties({"authorizer.class.name": STANDARD, "super.users": "bob"})
        self.assertEqual(
            BrokerConfig.from_properties({"super.users": "bob"}).super_users, frozenset()
        )
