"""DescribeClientQuotas (48) and AlterClientQuotas (49): Kafka's checks, matching and storage."""

from __future__ import annotations

from kafka.protocol.admin import AlterClientQuotasRequest as ClientAlter
from kafka.protocol.admin import AlterClientQuotasResponse as ClientAlterResponse
from kafka.protocol.admin import DescribeClientQuotasRequest as ClientDescribe
from kafka.protocol.admin import DescribeClientQuotasResponse as ClientDescribeResponse
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import REGISTRY, alter_client_quotas, describe_client_quotas
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.alter_client_quotas import (
    AlterClientQuotasRequest,
    AlterClientQuotasResponse,
    EntityData,
    EntryDataRequest,
    OpData,
)
from kafkatwist.messages.describe_client_quotas import (
    ComponentData,
    DescribeClientQuotasRequest,
    DescribeClientQuotasResponse,
)
from kafkatwist.storage.kraft import KRaftMetadataStore, image_records
from kafkatwist.wire import schema
from tests.brokers import call, make_broker, metadata_of
from tests.offsets_support import client_roundtrip

ALTER, DESCRIBE = alter_client_quotas.SPEC, describe_client_quotas.SPEC
INVALID = int(ErrorCode.INVALID_REQUEST)

Pairs = tuple[tuple[str, str | None], ...]


def entry(entity: Pairs, *ops: tuple[str, float | None]) -> EntryDataRequest:
    """An alteration: None as a value removes the key."""
    return EntryDataRequest(
        entity=tuple(EntityData(entity_type=t, entity_name=n) for t, n in entity),
        ops=tuple(OpData(key=k, value=v or 0.0, remove=v is None) for k, v in ops),
    )


class _Case(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = make_broker()

    def alter(
        self, *entries: EntryDataRequest, validate_only: bool = False, version: int = 1
    ) -> list[tuple[Pairs, int, str | None]]:
        request = AlterClientQuotasRequest(entries=entries, validate_only=validate_only)
        response: AlterClientQuotasResponse = self.successResultOf(
            call(self.broker, ALTER, request, version)
        )
        schema.encode_bytes(response, version)
        return [
            (
                tuple((e.entity_type, e.entity_name) for e in r.entity),
                r.error_code,
                r.error_message,
            )
            for r in response.entries
        ]

    def describe(
        self, *components: tuple[str, int, str | None], strict: bool = False, version: int = 1
    ) -> DescribeClientQuotasResponse:
        request = DescribeClientQuotasRequest(
            components=tuple(ComponentData(t, m, n) for t, m, n in components), strict=strict
        )
        response: DescribeClientQuotasResponse = self.successResultOf(
            call(self.broker, DESCRIBE, request, version)
        )
        schema.encode_bytes(response, version)
        return response

    def described(self, *components: tuple[str, int, str | None], strict: bool = False) -> set:  # type: ignore[type-arg]
        response = self.describe(*components, strict=strict)
        assert response.entries is not None
        return {
            (
                tuple((e.entity_type, e.entity_name) for e in entry.entity),
                tuple((v.key, v.value) for v in entry.values),
            )
            for entry in response.entries
        }


class AlterTests(_Case):
    """AlterClientQuotas, as Kafka's ClientQuotaControlManager validates and records."""

    def test_registered(self) -> None:
        """Both APIs are registered at versions 0-1."""
        for spec in (ALTER, DESCRIBE):
            self.assertIn(spec, REGISTRY)
            self.assertEqual((spec.versions.lowest, spec.versions.highest), (0, 1))

    def test_set_describe_remove(self) -> None:
        """A set quota is described; a removed one is gone, with its entity."""
        entity = (("user", "alice"), ("client-id", "app"))
        self.assertEqual(
            self.alter(entry(entity, ("producer_byte_rate", 1024.0))),
            [((("client-id", "app"), ("user", "alice")), 0, None)],
        )
        self.assertEqual(
            self.described(),
            {((("client-id", "app"), ("user", "alice")), (("producer_byte_rate", 1024.0),))},
        )
        self.alter(entry(entity, ("producer_byte_rate", None)))
        self.assertEqual(self.described(), set())
        self.assertEqual(self.broker.metadata.image.client_quotas, {})

    def test_validate_only_writes_nothing(self) -> None:
        """validate_only answers the checks and records nothing."""
        before = metadata_of(self.broker).next_offset
        results = self.alter(
            entry((("client-id", "c"),), ("consumer_byte_rate", 10.0)), validate_only=True
        )
        self.assertEqual(results, [((("client-id", "c"),), 0, None)])
        self.assertEqual(self.described(), set())
        self.assertEqual(metadata_of(self.broker).next_offset, before)

    def test_unchanged_value_writes_no_record(self) -> None:
        """Setting a key to its current value appends nothing (Kafka compares first)."""
        e = entry((("user", None),), ("request_percentage", 50.0))
        self.alter(e)
        before = metadata_of(self.broker).next_offset
        self.assertEqual(self.alter(e), [((("user", None),), 0, None)])
        self.assertEqual(metadata_of(self.broker).next_offset, before)

    def test_invalid_entities(self) -> None:
        """Bad entities get INVALID_REQUEST with Kafka's messages; good ones go ahead."""
        cases: list[tuple[Pairs, str, str]] = [
            ((), "producer_byte_rate", "Invalid empty client quota entity"),
            ((("group", "g"),), "producer_byte_rate", "Unhandled client quota entity type: group"),
            ((("user", ""),), "producer_byte_rate", "Empty user not supported"),
            (
                (("ip", "127.0.0.1"), ("user", "u")),
                "connection_creation_rate",
                "Invalid quota entity combination, IP entity shouldnot be combined with "
                "User or ClientId",
            ),
            (
                (("user", "u"),),
                "connection_creation_rate",
                "Invalid configuration key connection_creation_rate",
            ),
            ((("ip", None),), "producer_byte_rate", "Invalid configuration key producer_byte_rate"),
            (
                (("ip", "not a host!"),),
                "connection_creation_rate",
                "not a host! is not a valid IP or resolvable host.",
            ),
        ]
        for entity, key, message in cases:
            results = self.alter(
                entry(entity, (key, 10.0)),
                entry((("client-id", "ok"),), ("producer_byte_rate", 5.0)),
            )
            self.assertEqual(results[0][1:], (INVALID, message), entity)
            self.assertEqual(results[1][1:], (0, None))
        self.assertEqual(
            self.described(), {((("client-id", "ok"),), (("producer_byte_rate", 5.0),))}
        )

    def test_ip_entities(self) -> None:
        """IPv4, IPv6 and well-formed host names are accepted (their form only is checked)."""
        for name in ("10.1.2.3", "::1", "broker-1.example.com", None):
            (result,) = self.alter(entry((("ip", name),), ("connection_creation_rate", 5.0)))
            self.assertEqual(result[1:], (0, None), name)
        for name in ("-bad.example", "a..b", "x" * 64):
            (result,) = self.alter(entry((("ip", name),), ("connection_creation_rate", 5.0)))
            self.assertEqual(
                result[1:], (INVALID, f"{name} is not a valid IP or resolvable host."), name
            )

    def test_invalid_values(self) -> None:
        """Values must be positive, integral for the integer keys, within their type."""
        cases: list[tuple[Pairs, str, float, str]] = [
            (
                (("user", "u"),),
                "producer_byte_rate",
                0.0,
                "Quota producer_byte_rate must be greater than 0",
            ),
            (
                (("user", "u"),),
                "consumer_byte_rate",
                -5.0,
                "Quota consumer_byte_rate must be greater than 0",
            ),
            (
                (("user", "u"),),
                "producer_byte_rate",
                10.5,
                "producer_byte_rate cannot be a fractional value.",
            ),
            (
                (("user", "u"),),
                "request_percentage",
                float("nan"),
                "Quota request_percentage must be a finite number",
            ),
            (
                (("client-id", None),),
                "producer_byte_rate",
                float("inf"),
                "Quota producer_byte_rate must be a finite number",
            ),
            (
                (("ip", "127.0.0.1"),),
                "connection_creation_rate",
                2.0**31,
                "Proposed value for connection_creation_rate is too large for an INT.",
            ),
            (
                (("user", "u"),),
                "producer_byte_rate",
                2.0**64,
                "Proposed value for producer_byte_rate is too large for a LONG.",
            ),
        ]
        for entity, key, value, message in cases:
            (result,) = self.alter(entry(entity, (key, value)))
            self.assertEqual(result[1:], (INVALID, message), key)
        # Doubles may be fractional.
        (result,) = self.alter(entry((("user", "u"),), ("request_percentage", 12.5)))
        self.assertEqual(result[1], 0)

    def test_one_bad_key_refuses_the_entity(self) -> None:
        """An entity with one invalid key writes none of its keys."""
        (result,) = self.alter(
            entry((("user", "u"),), ("producer_byte_rate", 100.0), ("nope", 1.0))
        )
        self.assertEqual(result[1:], (INVALID, "Invalid configuration key nope"))
        self.assertEqual(self.described(), set())

    def test_duplicates(self) -> None:
        """A key given twice, or an entity listed twice, is 'Ignoring duplicate entity'."""
        (result,) = self.alter(
            entry((("user", "u"),), ("producer_byte_rate", 100.0), ("producer_byte_rate", 5.0))
        )
        self.assertEqual(result[1], INVALID)
        self.assertTrue(str(result[2]).startswith("Ignoring duplicate entity"), result)
        self.assertEqual(self.described(), set())

    def test_removing_an_absent_key_is_a_no_op(self) -> None:
        """Removing a key the entity lacks succeeds and writes nothing (even an unknown key)."""
        before = metadata_of(self.broker).next_offset
        (result,) = self.alter(entry((("user", "u"),), ("whatever", None)))
        self.assertEqual(result[1:], (0, None))
        self.assertEqual(metadata_of(self.broker).next_offset, before)

    def test_survives_a_restart(self) -> None:
        """Quotas are ClientQuotaRecords in the metadata log: a reloaded store has them."""
        self.alter(
            entry((("user", "u"), ("client-id", None)), ("producer_byte_rate", 2048.0)),
            entry((("ip", "10.0.0.1"),), ("connection_creation_rate", 7.0)),
        )
        store = KRaftMetadataStore(metadata_of(self.broker).log_dir, clock=self.broker.clock)
        image = self.successResultOf(store.load())
        self.assertEqual(
            image.client_quotas,
            {
                (("client-id", None), ("user", "u")): {"producer_byte_rate": 2048.0},
                (("ip", "10.0.0.1"),): {"connection_creation_rate": 7.0},
            },
        )

    def test_snapshot_holds_the_quotas(self) -> None:
        """A snapshot's records rebuild the quotas (image_records)."""
        self.alter(entry((("client-id", "c"),), ("consumer_byte_rate", 99.0)))
        records = image_records(self.broker.metadata.image)
        quota_records = [r for r in records if type(r).__name__ == "ClientQuotaRecord"]
        self.assertEqual(len(quota_records), 1)
        self.assertEqual(
            (quota_records[0].key, quota_records[0].value), ("consumer_byte_rate", 99.0)
        )

    def test_kafka_python_round_trip(self) -> None:
        """kafka-python's encoder and decoder agree with ours at both versions."""
        for version in (0, 1):
            request = ClientAlter(
                entries=[
                    ClientAlter.EntryData(
                        entity=[
                            ClientAlter.EntryData.EntityData(
                                entity_type="client-id", entity_name=f"c{version}"
                            )
                        ],
                        ops=[
                            ClientAlter.EntryData.OpData(
                                key="producer_byte_rate", value=1000.0, remove=False
                            )
                        ],
                    )
                ],
                validate_only=False,
            )
            response = client_roundtrip(
                self, self.broker, ALTER, request, ClientAlterResponse, version
            )
            (result,) = response.entries
            self.assertEqual((result.error_code, result.entity[0].entity_name), (0, f"c{version}"))
            request = ClientDescribe(
                components=[
                    ClientDescribe.ComponentData(
                        entity_type="client-id", match_type=0, match=f"c{version}"
                    )
                ],
                strict=True,
            )
            response = client_roundtrip(
                self, self.broker, DESCRIBE, request, ClientDescribeResponse, version
            )
            (found,) = response.entries
            self.assertEqual(
                [(v.key, v.value) for v in found.values], [("producer_byte_rate", 1000.0)]
            )


class DescribeTests(_Case):
    """DescribeClientQuotas filters, as Kafka's ClientQuotasImage.describe."""

    def setUp(self) -> None:
        super().setUp()
        for entity in [
            (("user", "alice"),),
            (("user", None),),
            (("user", "alice"), ("client-id", "app")),
            (("user", "bob"), ("client-id", None)),
            (("client-id", "app"),),
            (("ip", "10.0.0.1"),),
        ]:
            key = "connection_creation_rate" if entity[0][0] == "ip" else "producer_byte_rate"
            self.alter(entry(entity, (key, 100.0)))

    def entities(
        self, *components: tuple[str, int, str | None], strict: bool = False
    ) -> set[Pairs]:
        return {entity for entity, _ in self.described(*components, strict=strict)}

    def test_no_components(self) -> None:
        """No filter components, not strict: every entity."""
        self.assertEqual(len(self.entities()), 6)
        self.assertEqual(self.entities(strict=True), set())

    def test_exact(self) -> None:
        """EXACT user alice: both of alice's entities; strict: only /users/alice."""
        self.assertEqual(
            self.entities(("user", 0, "alice")),
            {(("user", "alice"),), (("client-id", "app"), ("user", "alice"))},
        )
        self.assertEqual(self.entities(("user", 0, "alice"), strict=True), {(("user", "alice"),)})

    def test_default(self) -> None:
        """DEFAULT user: the default-user entity; DEFAULT client-id: bob's default client."""
        self.assertEqual(self.entities(("user", 1, None)), {(("user", None),)})
        self.assertEqual(
            self.entities(("client-id", 1, None)), {(("client-id", None), ("user", "bob"))}
        )

    def test_specified(self) -> None:
        """SPECIFIED client-id with strict: the client-id-only entity."""
        self.assertEqual(
            self.entities(("client-id", 2, None), strict=True), {(("client-id", "app"),)}
        )
        self.assertEqual(self.entities(("ip", 2, None)), {(("ip", "10.0.0.1"),)})

    def test_bad_filters(self) -> None:
        """Bad filters answer Kafka's error and message, with null entries."""
        cases = [
            (
                (("user", 0, None),),
                INVALID,
                "Request specified MATCH_TYPE_EXACT, but set match string to null.",
            ),
            (
                (("user", 1, "x"),),
                INVALID,
                "Request specified MATCH_TYPE_DEFAULT, but also specified a match string.",
            ),
            (
                (("user", 2, "x"),),
                INVALID,
                "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.",
            ),
            ((("user", 7, None),), INVALID, "Unknown match type 7"),
            ((("", 2, None),), INVALID, "Invalid empty entity type."),
            (
                (("user", 2, None), ("user", 1, None)),
                INVALID,
                "Entity type user cannot appear more than once in the filter.",
            ),
            (
                (("group", 2, None),),
                int(ErrorCode.UNSUPPORTED_VERSION),
                "Unsupported entity type group",
            ),
            (
                (("ip", 2, None), ("user", 2, None)),
                INVALID,
                "Invalid entity filter component combination. IP filter component should not "
                "be used with user or clientId filter component.",
            ),
        ]
        for components, code, message in cases:
            response = self.describe(*components)
            self.assertEqual(
                (response.error_code, response.error_message, response.entries),
                (code, message, None),
            )
