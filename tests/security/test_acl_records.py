"""ACLs in the metadata log: Kafka's record bytes, replay, snapshots, restarts, and filters."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.logger import LogLevel, capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.messages import metadata_records as mr
from kafkatwist.security.acl import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourceType,
)
from kafkatwist.security.acl_control import binding_of_record, plan_create, plan_delete
from kafkatwist.security.acl_filter import ANY_ACL, AclBindingFilter
from kafkatwist.security.authorizer import StandardAuthorizer
from kafkatwist.security.principal import KafkaPrincipal
from kafkatwist.storage.kraft import (
    KRaftMetadataStore,
    MetadataImage,
    decode_metadata_record,
    encode_metadata_record,
    image_records,
)
from kafkatwist.topics.controller import Controller
from tests.brokers import _ROOT, make_broker

OP = AclOperation
ALLOW, DENY = AclPermissionType.ALLOW, AclPermissionType.DENY
LITERAL, PREFIXED = PatternType.LITERAL, PatternType.PREFIXED
TOPIC, GROUP = ResourceType.TOPIC, ResourceType.GROUP
ACL_ID = uuid.UUID("00000000-0000-0001-0000-000000000002")
ORDERS = AclBinding(TOPIC, "orders", PREFIXED, "User:alice", "*", OP.READ, ALLOW)

#: AccessControlEntryRecord v0 as Kafka's schema lays it out
#: (metadata/AccessControlEntryRecord.json, flexible from v0), in a metadata
#: record frame (frame version 1, api key 18, version 0), written out by hand.
GOLDEN_ACL_RECORD = (
    bytes([0x01, 0x12, 0x00])  # frame version, api key 18, version 0
    + bytes(7) + b"\x01" + bytes(7) + b"\x02"  # Id (uuid)
    + b"\x02"  # ResourceType TOPIC (int8)
    + b"\x07orders"  # ResourceName (compact string: length + 1)
    + b"\x04"  # PatternType PREFIXED
    + b"\x0bUser:alice"  # Principal
    + b"\x02*"  # Host
    + b"\x03"  # Operation READ
    + b"\x03"  # PermissionType ALLOW
    + b"\x00"  # no tagged fields
)  # fmt: skip
#: RemoveAccessControlEntryRecord v0 (api key 19): the id and no tagged fields.
GOLDEN_REMOVE_RECORD = bytes([0x01, 0x13, 0x00]) + bytes(7) + b"\x01" + bytes(7) + b"\x02\x00"


class RecordBytesTests(SynchronousTestCase):
    """The two ACL records encode and decode as Kafka's schemas define them."""

    def test_access_control_entry_record(self) -> None:
        """An AccessControlEntryRecord matches the hand-built bytes both ways."""
        record = mr.AccessControlEntryRecord(
            id=ACL_ID,
            resource_type=2,
            resource_name="orders",
            pattern_type=4,
            principal="User:alice",
            host="*",
            operation=3,
            permission_type=3,
        )
        self.assertEqual(encode_metadata_record(record), GOLDEN_ACL_RECORD)
        decoded = decode_metadata_record(GOLDEN_ACL_RECORD)
        self.assertEqual(decoded, record)
        self.assertEqual(binding_of_record(decoded), ORDERS)

    def test_remove_access_control_entry_record(self) -> None:
        """A RemoveAccessControlEntryRecord is the id alone."""
        record = mr.RemoveAccessControlEntryRecord(id=ACL_ID)
        self.assertEqual(encode_metadata_record(record), GOLDEN_REMOVE_RECORD)
        self.assertEqual(decode_metadata_record(GOLDEN_REMOVE_RECORD), record)

    def test_unknown_codes_become_unknown(self) -> None:
        """Codes this version does not know replay as UNKNOWN (Kafka's fromCode)."""
        record = mr.AccessControlEntryRecord(ACL_ID, 99, "x", 9, "User:a", "*", 77, 8)
        acl = binding_of_record(record)
        self.assertEqual(
            (acl.resource_type, acl.pattern_type, acl.operation, acl.permission),
            (ResourceType.UNKNOWN, PatternType.UNKNOWN, OP.UNKNOWN, AclPermissionType.UNKNOWN),
        )


def _store(log_dir: str) -> KRaftMetadataStore:
    store = KRaftMetadataStore(log_dir, clock=Clock())
    store.load()
    return store


class ReplayTests(SynchronousTestCase):
    """The image keeps ACLs by id; the authorizer reloads them when they change."""

    def setUp(self) -> None:
        self.log_dir = tempfile.mkdtemp(prefix="acls-", dir=_ROOT)
        self.store = _store(self.log_dir)

    def create(self, *acls: AclBinding) -> list[mr.AccessControlEntryRecord]:
        ids = iter(uuid.UUID(int=i + 1 + len(self.store.image.acls)) for i in range(len(acls)))
        records, results = plan_create(self.store.image.acls.values(), acls, lambda: next(ids))
        self.assertEqual(results, [None] * len(acls))
        self.successResultOf(self.store.append(records))
        return records

    def test_apply_and_remove(self) -> None:
        """Adding and removing ACLs bumps the generation; an unknown id is counted, ignored."""
        image = MetadataImage()
        image.apply(mr.AccessControlEntryRecord(ACL_ID, 2, "orders", 4, "User:alice", "*", 3, 3))
        self.assertEqual((image.acls, image.acl_generation), ({ACL_ID: ORDERS}, 1))
        image.apply(mr.RemoveAccessControlEntryRecord(id=uuid.UUID(int=7)))
        image.apply(mr.RemoveAccessControlEntryRecord(id=ACL_ID))
        self.assertEqual((image.acls, image.acl_generation), ({}, 3))
        self.assertEqual(image.ignored, {"RemoveAccessControlEntryRecord for an unknown id": 1})

    def test_authorizer_follows_the_image(self) -> None:
        """An authorizer over the store sees ACLs as they are appended and removed."""
        auth = StandardAuthorizer(source=self.store)
        alice = KafkaPrincipal("User", "alice")
        self.assertFalse(auth.authorize(alice, "h", OP.READ, TOPIC, "orders-eu"))
        self.create(ORDERS)
        self.assertTrue(auth.authorize(alice, "h", OP.READ, TOPIC, "orders-eu"))
        records, _ = plan_delete(self.store.image.acls, [ANY_ACL])
        self.successResultOf(self.store.append(records))
        self.assertFalse(auth.authorize(alice, "h", OP.READ, TOPIC, "orders-eu"))
        self.assertEqual(auth.acls(), [])

    def test_acls_survive_a_restart(self) -> None:
        """A reloaded store (a restarted broker) has the same ACLs, by the same ids."""
        deny = AclBinding(GROUP, "g", LITERAL, "User:*", "10.0.0.1", OP.ALL, DENY)
        self.create(ORDERS, deny)
        reloaded = _store(self.log_dir)
        self.assertEqual(reloaded.image.acls, self.store.image.acls)
        auth = StandardAuthorizer(source=reloaded)
        bob = KafkaPrincipal("User", "bob")
        self.assertFalse(auth.authorize(bob, "10.0.0.1", OP.READ, GROUP, "g"))
        self.assertEqual(set(auth.acls()), {ORDERS, deny})

    def test_acls_survive_a_snapshot(self) -> None:
        """A snapshot holds the ACL records; loading from it restores them."""
        records = self.create(ORDERS)
        self.assertIn(records[0], image_records(self.store.image))
        self.successResultOf(self.store.snapshot())
        reloaded = _store(self.log_dir)
        self.assertIsNotNone(reloaded.loaded_snapshot)
        self.assertEqual(reloaded.image.acls, {records[0].id: ORDERS})


def _filter(
    rtype: ResourceType = ResourceType.ANY,
    name: str | None = None,
    pattern: PatternType = PatternType.ANY,
    principal: str | None = None,
) -> AclBindingFilter:
    return AclBindingFilter(rtype, name, pattern, principal, None, OP.ANY, AclPermissionType.ANY)


class FilterTests(SynchronousTestCase):
    """Kafka's AclBindingFilter semantics (AuthorizerTest.testAclsFilter)."""

    def test_acls_filter(self) -> None:
        """ANY, exact patterns and MATCH select the ACLs Kafka's testAclsFilter expects."""
        acl1 = AclBinding(TOPIC, "foo-1", LITERAL, "User:alice", "*", OP.READ, ALLOW)
        acl2 = AclBinding(TOPIC, "foo-1", LITERAL, "User:alice", "192.168.0.1", OP.WRITE, ALLOW)
        acl3 = AclBinding(TOPIC, "bar-1", LITERAL, "User:alice", "*", OP.DESCRIBE, ALLOW)
        acl4 = AclBinding(TOPIC, "bar-", PREFIXED, "User:*", "*", OP.READ, ALLOW)
        acls = {uuid.UUID(int=i): a for i, a in enumerate([acl1, acl2, acl3, acl4], 1)}

        def matching(f: AclBindingFilter) -> set[AclBinding]:
            return {a for a in acls.values() if f.matches(a)}

        self.assertEqual(matching(ANY_ACL), {acl1, acl2, acl3, acl4})
        self.assertEqual(matching(_filter(TOPIC, "foo-1", LITERAL)), {acl1, acl2})
        self.assertEqual(matching(_filter(TOPIC, "bar-", PREFIXED)), {acl4})
        match = _filter(ResourceType.ANY, "bar-1", PatternType.MATCH)
        self.assertEqual(matching(match), {acl3, acl4})
        exact = AclBindingFilter(TOPIC, "foo-1", LITERAL, "User:alice", "*", OP.READ, ALLOW)
        records, results = plan_delete(
            acls,
            [
                match,
                exact,
                _filter(TOPIC, "bar-1", LITERAL),
                _filter(TOPIC, "baz", PatternType.ANY),
            ],
        )
        self.assertEqual(
            [set(r) for r in results if isinstance(r, list)], [{acl3, acl4}, {acl1}, {acl3}, set()]
        )
        # acl3 matched twice but is removed once.
        self.assertEqual(sorted(r.id.int for r in records), [1, 3, 4], "one removal record per ACL")

    def test_principal_filter(self) -> None:
        """testGetAclsPrincipal: a principal filter matches that exact string, User:* included."""
        specific = AclBinding(TOPIC, "t", LITERAL, "User:alice", "*", OP.WRITE, ALLOW)
        wildcard = AclBinding(TOPIC, "t", LITERAL, "User:*", "*", OP.WRITE, ALLOW)
        self.assertTrue(_filter(principal="User:alice").matches(specific))
        self.assertFalse(_filter(principal="User:*").matches(specific))
        self.assertTrue(_filter(principal="User:*").matches(wildcard))
        self.assertFalse(_filter(principal="User:alice").matches(wildcard))

    def test_match_on_a_wildcard_and_prefixes(self) -> None:
        """MATCH with a name finds the wildcard and the prefixes of the name, not longer ones."""
        star = AclBinding(TOPIC, "*", LITERAL, "User:a", "*", OP.READ, ALLOW)
        short = AclBinding(TOPIC, "pay", PREFIXED, "User:a", "*", OP.READ, ALLOW)
        longer = AclBinding(TOPIC, "payments-eu", PREFIXED, "User:a", "*", OP.READ, ALLOW)
        other_type = AclBinding(GROUP, "payments", LITERAL, "User:a", "*", OP.READ, ALLOW)
        f = _filter(TOPIC, "payments", PatternType.MATCH)
        self.assertEqual(
            [f.matches(a) for a in (star, short, longer, other_type)], [True, True, False, False]
        )
        # ANY with a name is the exact name in any pattern type.
        self.assertFalse(_filter(TOPIC, "payments", PatternType.ANY).matches(short))
        self.assertTrue(_filter(TOPIC, "pay", PatternType.ANY).matches(short))


class AuditLogTests(SynchronousTestCase):
    """Denials go to kafka.authorizer.logger at debug, once each (Kafka logs them at INFO)."""

    def test_denials_logged_once(self) -> None:
        """A repeated denial is one debug line in Kafka's audit format; allowed ones none."""
        auth = StandardAuthorizer(acls=[ORDERS])
        alice, bob = KafkaPrincipal("User", "alice"), KafkaPrincipal("User", "bob")
        with capturedLogs() as events:
            for _ in range(3):
                auth.authorize(bob, "10.0.0.9", OP.READ, TOPIC, "orders-1")
            auth.authorize(alice, "10.0.0.9", OP.READ, TOPIC, "orders-1")
            auth.authorize_by_resource_type(bob, "10.0.0.9", OP.WRITE, TOPIC)
        self.assertEqual(
            [(e["log_namespace"], e["log_level"], formatEvent(e)) for e in events],
            [
                (
                    "kafka.authorizer.logger",
                    LogLevel.debug,
                    "Principal = User:bob is Denied operation = READ from host = 10.0.0.9"
                    " on resource = TOPIC:LITERAL:orders-1",
                )
            ],
        )


class ConcurrentCreateTests(SynchronousTestCase):
    """Two CreateAcls of one ACL while the first is being written: one record, as Kafka."""

    def test_one_record(self) -> None:
        """The second creation sees the first's ACL pending and writes nothing."""
        writes: list[Deferred[object]] = []

        def later(fn: Callable[[], object]) -> Deferred[object]:
            d: Deferred[object] = Deferred()
            writes.append(d)
            return d.addCallback(lambda _: fn())

        broker = make_broker()
        store = _store(tempfile.mkdtemp(prefix="acls-", dir=_ROOT))
        store.run_blocking = later
        controller = Controller(store, broker.partitions, 1)
        first = controller.create_acls([ORDERS])
        second = controller.create_acls([ORDERS])
        self.assertEqual(self.successResultOf(second), [None])
        self.assertEqual(len(writes), 1)
        writes[0].callback(None)
        self.assertEqual(self.successResultOf(first), [None])
        self.assertEqual(list(store.image.acls.values()), [ORDERS])
        self.assertEqual(self.successResultOf(controller.create_acls([ORDERS])), [None])
        self.assertEqual(len(writes), 1)
