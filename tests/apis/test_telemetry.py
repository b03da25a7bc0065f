"""Client telemetry (KIP-714): CLIENT_METRICS configs, GetTelemetrySubscriptions, PushTelemetry."""

from __future__ import annotations

import uuid
from typing import Any

from kafka.protocol.admin.configs import ListConfigResourcesRequest as ClientListRequest
from kafka.protocol.admin.configs import ListConfigResourcesResponse as ClientListResponse
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import (
    REGISTRY,
    api_versions,
    describe_configs,
    get_telemetry_subscriptions,
    list_config_resources,
    push_telemetry,
)
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.api_versions import ApiVersionsRequest
from kafkatwist.messages.describe_configs import DescribeConfigsRequest, DescribeConfigsResource
from kafkatwist.messages.get_telemetry_subscriptions import (
    GetTelemetrySubscriptionsRequest,
    GetTelemetrySubscriptionsResponse,
)
from kafkatwist.messages.list_config_resources import ListConfigResourcesRequest
from kafkatwist.messages.push_telemetry import PushTelemetryRequest, PushTelemetryResponse
from kafkatwist.storage.kraft import KRaftMetadataStore
from kafkatwist.telemetry import Push, java_uuid_hash, subscription_id
from kafkatwist.wire import schema
from tests.apis.test_incremental_alter_configs import alter
from tests.brokers import call, clock_of, make_broker, metadata_of
from tests.offsets_support import client_roundtrip

CLIENT_METRICS = 16
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
ZERO = uuid.UUID(int=0)


class TelemetryTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = make_broker()
        self.clock = clock_of(self.broker)

    def subscribe(self, name: str, **configs: str) -> None:
        ops = [(k.replace("_", "."), SET, v) for k, v in configs.items()]
        self.assertEqual(alter(self.broker, [(CLIENT_METRICS, name, ops)]), [(0, None)])

    def get(self, instance_id: uuid.UUID = ZERO) -> GetTelemetrySubscriptionsResponse:
        response: GetTelemetrySubscriptionsResponse = self.successResultOf(
            call(
                self.broker,
                get_telemetry_subscriptions.SPEC,
                GetTelemetrySubscriptionsRequest(client_instance_id=instance_id),
                0,
            )
        )
        schema.encode_bytes(response, 0)
        return response

    def push(
        self,
        get: GetTelemetrySubscriptionsResponse,
        metrics: bytes = b"otlp",
        terminating: bool = False,
        compression_type: int = 0,
        subscription: int | None = None,
    ) -> int:
        request = PushTelemetryRequest(
            client_instance_id=get.client_instance_id,
            subscription_id=get.subscription_id if subscription is None else subscription,
            terminating=terminating,
            compression_type=compression_type,
            metrics=metrics,
        )
        response: PushTelemetryResponse = self.successResultOf(
            call(self.broker, push_telemetry.SPEC, request, 0)
        )
        return response.error_code


class ClientMetricsConfigTests(TelemetryTestCase):
    def test_subscription_stored_and_described(self) -> None:
        """A CLIENT_METRICS resource is persisted as ConfigRecords and described back."""
        self.subscribe("sub", metrics="org.apache.kafka.producer.", interval_ms="1000")
        reloaded = KRaftMetadataStore(metadata_of(self.broker).log_dir)
        self.successResultOf(reloaded.load())
        self.assertEqual(
            reloaded.image.configs[(CLIENT_METRICS, "sub")],
            {"metrics": "org.apache.kafka.producer.", "interval.ms": "1000"},
        )
        request = DescribeConfigsRequest(resources=(DescribeConfigsResource(16, "sub", None),))
        (result,) = self.successResultOf(
            call(self.broker, describe_configs.SPEC, request, 4)
        ).results
        self.assertEqual(
            [(c.name, c.value, c.config_source) for c in result.configs],
            [("interval.ms", "1000", 7), ("metrics", "org.apache.kafka.producer.", 7)],
        )

    def test_validation(self) -> None:
        """ClientMetricsConfigs.validate's errors, and APPEND/SUBTRACT on the list keys."""
        cases = [
            (
                ("", [("metrics", SET, "*")]),
                (ErrorCode.INVALID_REQUEST, "Subscription name can't be empty"),
            ),
            (
                ("s", [("bogus", SET, "1")]),
                (ErrorCode.INVALID_REQUEST, "Unknown client metrics configuration: bogus"),
            ),
            (
                ("s", [("interval.ms", SET, "50")]),
                (
                    ErrorCode.INVALID_REQUEST,
                    "Invalid value 50 for interval.ms, interval must be between 100 and "
                    "3600000 (1 hour)",
                ),
            ),
            (
                ("s", [("match", SET, "client_color=red")]),
                (ErrorCode.INVALID_CONFIG, "Illegal client matching pattern: client_color=red"),
            ),
            (
                ("s", [("interval.ms", APPEND, "5")]),
                (
                    ErrorCode.INVALID_CONFIG,
                    "Can't APPEND to key interval.ms because its type is not LIST.",
                ),
            ),
        ]
        for (name, ops), expected in cases:
            self.assertEqual(alter(self.broker, [(CLIENT_METRICS, name, ops)]), [expected])
        self.assertEqual(metadata_of(self.broker).image.configs.get((CLIENT_METRICS, "s")), None)
        alter(self.broker, [(CLIENT_METRICS, "s", [("metrics", APPEND, "a,b")])])
        alter(self.broker, [(CLIENT_METRICS, "s", [("metrics", SUBTRACT, "a")])])
        self.assertEqual(
            metadata_of(self.broker).image.configs[(CLIENT_METRICS, "s")], {"metrics": "b"}
        )

    def test_list_config_resources(self) -> None:
        """v0 lists subscriptions; v1 lists the requested types in Kafka's order."""
        self.successResultOf(self.broker.controller.create_topic("t", 1))
        self.subscribe("sub", metrics="*")
        v0 = self.successResultOf(
            call(self.broker, list_config_resources.SPEC, ListConfigResourcesRequest(), 0)
        )
        self.assertEqual([r.resource_name for r in v0.config_resources], ["sub"])
        v1 = self.successResultOf(
            call(self.broker, list_config_resources.SPEC, ListConfigResourcesRequest(()), 1)
        )
        self.assertEqual(
            [(r.resource_name, r.resource_type) for r in v1.config_resources],
            [("sub", 16), ("1", 8), ("1", 4), ("t", 2)],
        )
        only = self.successResultOf(
            call(self.broker, list_config_resources.SPEC, ListConfigResourcesRequest((2,)), 1)
        )
        self.assertEqual([r.resource_name for r in only.config_resources], ["t"])
        bad = self.successResultOf(
            call(self.broker, list_config_resources.SPEC, ListConfigResourcesRequest((1,)), 1)
        )
        self.assertEqual(
            (bad.error_code, bad.config_resources), (ErrorCode.UNSUPPORTED_VERSION, ())
        )
        # deleting every key removes the subscription
        alter(self.broker, [(CLIENT_METRICS, "sub", [("metrics", DELETE, None)])])
        v0 = self.successResultOf(
            call(self.broker, list_config_resources.SPEC, ListConfigResourcesRequest(), 0)
        )
        self.assertEqual(v0.config_resources, ())

    def test_list_kafka_python(self) -> None:
        """kafka-python's ListConfigResources request is answered and our answer decodes, v0-v1."""
        self.subscribe("sub", metrics="*")
        for version in (0, 1):
            request = ClientListRequest(resource_types=[16])
            response = client_roundtrip(
                self, self.broker, list_config_resources.SPEC, request, ClientListResponse, version
            )
            self.assertEqual([r.resource_name for r in response.config_resources], ["sub"])

    def test_registered(self) -> None:
        """The telemetry APIs and ListConfigResources are registered."""
        versions = {s.api_key: (s.versions.lowest, s.versions.highest) for s in REGISTRY}
        self.assertEqual((versions[71], versions[72], versions[74]), ((0, 0), (0, 0), (0, 1)))


class TelemetryTests(TelemetryTestCase):
    def test_no_subscription(self) -> None:
        """Without a subscription a client gets a new id, no metrics and the default interval."""
        response = self.get()
        self.assertEqual(response.error_code, 0)
        self.assertNotEqual(response.client_instance_id, ZERO)
        self.assertEqual(
            (
                response.requested_metrics,
                response.push_interval_ms,
                response.accepted_compression_types,
                response.telemetry_max_bytes,
                response.delta_temporality,
            ),
            ((), 300000, (4, 3, 1, 2), 1048576, True),
        )
        self.assertEqual(
            response.subscription_id,
            subscription_id(frozenset(), 300000, response.client_instance_id),
        )

    def test_subscriptions_merge(self) -> None:
        """Matching subscriptions merge (smallest interval); a non-matching one is ignored."""
        self.subscribe("a", metrics="org.apache.kafka.producer.", interval_ms="2000")
        self.subscribe("b", metrics="org.apache.kafka.consumer.", interval_ms="1000")
        self.subscribe("c", metrics="*", match="client_id=other.*")
        response = self.get()
        self.assertEqual(
            (response.requested_metrics, response.push_interval_ms),
            (("org.apache.kafka.consumer.", "org.apache.kafka.producer."), 1000),
        )
        self.subscribe("d", metrics="*", match="client_id=test-.*,client_source_address=127.*")
        clock = self.clock
        clock.advance(1)
        again = self.get(response.client_instance_id)
        self.assertEqual((again.requested_metrics, again.push_interval_ms), (("*",), 1000))
        self.assertNotEqual(again.subscription_id, response.subscription_id)

    def test_match_client_software(self) -> None:
        """A subscription matching the software an ApiVersions request named applies to it."""
        self.subscribe("java", metrics="org.", match="client_software_name=apache-kafka-java")
        self.assertEqual(self.get().requested_metrics, ())
        request = ApiVersionsRequest(
            client_software_name="apache-kafka-java", client_software_version="4.3.0"
        )
        self.successResultOf(call(self.broker, api_versions.SPEC, request, 4))
        self.clock.advance(1)
        self.assertEqual(self.get().requested_metrics, ("org.",))

    def test_get_throttled_within_interval(self) -> None:
        """A second get within the push interval is THROTTLING_QUOTA_EXCEEDED; later, served."""
        self.subscribe("a", metrics="*", interval_ms="1000")
        first = self.get()
        again = self.get(first.client_instance_id)
        self.assertEqual(again.error_code, ErrorCode.THROTTLING_QUOTA_EXCEEDED)
        self.assertEqual(again.client_instance_id, ZERO)
        self.clock.advance(1)
        self.assertEqual(self.get(first.client_instance_id).error_code, 0)

    def test_push_accepted_and_paced(self) -> None:
        """A push right after a get is accepted and counted; the next one waits the interval."""
        self.subscribe("a", metrics="*", interval_ms="1000")
        pushed: list[Push] = []
        self.broker.telemetry.exporter = pushed.append
        sub = self.get()
        self.assertEqual(self.push(sub, b"payload"), 0)
        self.assertEqual(self.push(sub), ErrorCode.THROTTLING_QUOTA_EXCEEDED)
        self.clock.advance(1)
        self.assertEqual(self.push(sub, b"more", compression_type=4), 0)
        self.assertEqual(
            (self.broker.telemetry.pushes, self.broker.telemetry.pushed_bytes), (2, 11)
        )
        self.assertEqual(
            [(p.instance_id, p.compression_type, p.metrics) for p in pushed],
            [(sub.client_instance_id, 0, b"payload"), (sub.client_instance_id, 4, b"more")],
        )
        self.assertEqual(pushed[0].attributes["client_id"], "test-client")

    def test_telemetry_max_bytes_config(self) -> None:
        """The broker's telemetry.max.bytes bounds a push: one byte over is TELEMETRY_TOO_LARGE."""
        config = BrokerConfig.from_properties({"telemetry.max.bytes": "100"})
        self.broker = make_broker(config=config)
        self.clock = clock_of(self.broker)
        self.subscribe("a", metrics="*", interval_ms="100")
        sub = self.get()
        self.assertEqual(self.push(sub, metrics=b"x" * 101), ErrorCode.TELEMETRY_TOO_LARGE)
        self.clock.advance(1)
        self.assertEqual(self.push(sub, metrics=b"x" * 100), ErrorCode.NONE)

    def test_push_errors(self) -> None:
        """Push errors: reserved id, unknown subscription, compression, size, terminating."""
        self.subscribe("a", metrics="*", interval_ms="100")
        sub = self.get()
        zero = GetTelemetrySubscriptionsResponse(client_instance_id=ZERO, subscription_id=1)
        self.assertEqual(self.push(zero), ErrorCode.INVALID_REQUEST)
        self.assertEqual(
            self.push(sub, subscription=sub.subscription_id + 1), ErrorCode.UNKNOWN_SUBSCRIPTION_ID
        )
        self.clock.advance(1)
        self.assertEqual(self.push(sub, compression_type=9), ErrorCode.UNSUPPORTED_COMPRESSION_TYPE)
        self.clock.advance(1)
        self.assertEqual(
            self.push(sub, metrics=b"x" * (1048576 + 1)), ErrorCode.TELEMETRY_TOO_LARGE
        )
        self.assertEqual(self.push(sub, terminating=True), 0)
        self.assertEqual(self.push(sub, terminating=True), ErrorCode.INVALID_REQUEST)
        self.assertEqual(self.broker.telemetry.pushes, 1)

    def test_subscription_change_invalidates_id(self) -> None:
        """After the subscriptions change, a push with the old id is UNKNOWN_SUBSCRIPTION_ID."""
        self.subscribe("a", metrics="*", interval_ms="100")
        sub = self.get()
        self.subscribe("a", metrics="org.", interval_ms="100")
        self.assertEqual(self.push(sub), ErrorCode.UNKNOWN_SUBSCRIPTION_ID)
        self.clock.advance(0.01)
        # asked again at once, within the interval: served, not throttled
        again = self.get(sub.client_instance_id)
        self.assertEqual((again.error_code, again.requested_metrics), (0, ("org.",)))
        self.clock.advance(0.01)
        self.assertEqual(self.push(again), 0)

    def test_java_uuid_hash(self) -> None:
        """Uuid.hashCode as Java computes it (msb ^ lsb, folded to 32 bits)."""
        u = uuid.UUID(int=0x80000000 << 64)
        h = 0x80000000
        expected = ((h >> 32) ^ h) & 0xFFFFFFFF
        self.assertEqual(java_uuid_hash(u) & 0xFFFFFFFF, expected)
        self.assertEqual(java_uuid_hash(u), expected - 2**32)

    def test_expired_instance_forgotten(self) -> None:
        """An instance unseen for max(60 s, 3 intervals) is forgotten and gets a fresh start."""
        sub = self.get()
        manager: Any = self.broker.telemetry
        self.assertIn(sub.client_instance_id, manager._instances)
        self.clock.advance(3 * 300 + 1)
        self.get()
        self.assertNotIn(sub.client_instance_id, manager._instances)
