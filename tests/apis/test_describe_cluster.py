"""DescribeCluster (api key 60) against a broker on the file engine, at every version."""

from __future__ import annotations

from kafka.protocol.admin.cluster import DescribeClusterRequest as ClientRequest
from kafka.protocol.admin.cluster import DescribeClusterResponse as ClientResponse
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import REGISTRY, describe_cluster
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.describe_cluster import DescribeClusterRequest, DescribeClusterResponse
from kafkatwist.wire import schema
from tests.brokers import call, make_broker
from tests.offsets_support import client_roundtrip

SPEC = describe_cluster.SPEC
#: Kafka's cluster operations without an authorizer: CREATE, ALTER, DESCRIBE,
#: CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE.
ALL_CLUSTER_OPERATIONS = 8096
INT32_MIN = -(2**31)


class DescribeClusterTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = make_broker()

    def describe(self, version: int, **fields: object) -> DescribeClusterResponse:
        request = DescribeClusterRequest(**fields)  # type: ignore[arg-type]
        response: DescribeClusterResponse = self.successResultOf(
            call(self.broker, SPEC, request, version)
        )
        schema.encode_bytes(response, version)
        return response

    def test_registered(self) -> None:
        """DescribeCluster is registered with versions 0-2."""
        self.assertIn(SPEC, REGISTRY)
        self.assertEqual((SPEC.versions.lowest, SPEC.versions.highest), (0, 2))

    def test_this_broker_only(self) -> None:
        """The answer names this broker alone, as controller too, with the cluster id."""
        for version in (0, 1, 2):
            response = self.describe(version)
            self.assertEqual(
                (
                    response.error_code,
                    response.cluster_id,
                    response.controller_id,
                    response.endpoint_type,
                ),
                (0, "test-cluster", 1, 1),
            )
            self.assertEqual(
                [(b.broker_id, b.host, b.port, b.rack) for b in response.brokers],
                [(1, "127.0.0.1", 9092, None)],
            )
            self.assertEqual(response.cluster_authorized_operations, INT32_MIN)

    def test_advertised_address(self) -> None:
        """A configured advertised host wins over the address the client connected to."""
        self.broker.advertised_host, self.broker.advertised_port = "kafka.example", 19092
        (b,) = self.describe(1).brokers
        self.assertEqual((b.host, b.port), ("kafka.example", 19092))

    def test_authorized_operations(self) -> None:
        """Asked for, the cluster operations are every one Kafka grants without an authorizer."""
        response = self.describe(1, include_cluster_authorized_operations=True)
        self.assertEqual(response.cluster_authorized_operations, ALL_CLUSTER_OPERATIONS)

    def test_controller_endpoint(self) -> None:
        """Asking a broker for controllers is MISMATCHED_ENDPOINT_TYPE, with a message."""
        response = self.describe(1, endpoint_type=2)
        self.assertEqual(response.error_code, ErrorCode.MISMATCHED_ENDPOINT_TYPE)
        self.assertEqual(
            response.error_message,
            "The request was sent to an endpoint of type BROKER, "
            "but we wanted an endpoint of type CONTROLLER",
        )
        self.assertEqual((response.brokers, response.cluster_id), ((), ""))

    def test_unknown_endpoint(self) -> None:
        """An endpoint type other than 1 or 2 is UNSUPPORTED_ENDPOINT_TYPE."""
        for endpoint in (0, 3, -1):
            response = self.describe(1, endpoint_type=endpoint)
            self.assertEqual(response.error_code, ErrorCode.UNSUPPORTED_ENDPOINT_TYPE)
            self.assertEqual(response.error_message, f"Unsupported endpoint type {endpoint}")

    def test_kafka_python_every_version(self) -> None:
        """kafka-python requests are answered and its decoder reads our answers, v0-v2."""
        for version in (0, 1, 2):
            request = ClientRequest(
                include_cluster_authorized_operations=True,
                endpoint_type=1,
                include_fenced_brokers=True,
            )
            response = client_roundtrip(self, self.broker, SPEC, request, ClientResponse, version)
            self.assertEqual((response.error_code, response.cluster_id), (0, "test-cluster"))
            # kafka-python decodes the bit field into the AclOperation codes it holds.
            self.assertEqual(response.authorized_operations, {5, 7, 8, 9, 10, 11, 12})
            (b,) = response.brokers
            self.assertEqual((b.broker_id, b.host, b.port), (1, "127.0.0.1", 9092))
            if version >= 1:
                self.assertEqual(response.endpoint_type, 1)
            if version >= 2:
                self.assertIs(b.is_fenced, False)

    def test_fenced_brokers_v2(self) -> None:
        """v2: asking for fenced brokers too lists this broker alone, not fenced (KIP-1073)."""
        for include in (False, True):
            (b,) = self.describe(2, include_fenced_brokers=include).brokers
            self.assertEqual((b.broker_id, b.is_fenced), (1, False))

    def test_error_response_every_version(self) -> None:
        """The whole-request error answer carries the code."""
        for version in (0, 1, 2):
            response = SPEC.error_response(
                DescribeClusterRequest(), version, ErrorCode.CLUSTER_AUTHORIZATION_FAILED
            )
            decoded = ClientResponse.decode(schema.encode_bytes(response, version), version=version)
            self.assertEqual(decoded.error_code, ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
