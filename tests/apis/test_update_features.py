"""The finalized features (kafkatwist.features), in ApiVersions and through UpdateFeatures."""

from __future__ import annotations

from kafka.protocol.admin.cluster import UpdateFeaturesRequest as ClientRequest
from kafka.protocol.admin.cluster import UpdateFeaturesResponse as ClientResponse
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import REGISTRY, api_versions, consumer_group_heartbeat, update_features
from kafkatwist.errors import ErrorCode
from kafkatwist.messages import metadata_records as mr
from kafkatwist.messages.api_versions import ApiVersionsRequest, ApiVersionsResponse
from kafkatwist.messages.consumer_group_heartbeat import (
    ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse,
)
from kafkatwist.messages.update_features import (
    FeatureUpdateKey,
    UpdateFeaturesRequest,
    UpdateFeaturesResponse,
)
from kafkatwist.storage.kraft import KRaftMetadataStore
from kafkatwist.wire import schema
from tests.brokers import call, make_broker, metadata_of
from tests.offsets_support import client_roundtrip

SPEC = update_features.SPEC
NEW_CLUSTER = {
    "group.version": 1,
    "kraft.version": 1,
    "metadata.version": 30,
    "transaction.version": 2,
}


class FinalizedFeaturesTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = make_broker()

    def api_versions(self, version: int = 4) -> ApiVersionsResponse:
        response: ApiVersionsResponse = self.successResultOf(
            call(self.broker, api_versions.SPEC, ApiVersionsRequest(), version)
        )
        schema.encode_bytes(response, version)
        return response

    def test_new_cluster_levels(self) -> None:
        """Before any record, the levels are a new Kafka 4.3 cluster's."""
        features = self.broker.features
        self.assertEqual(features.finalized(), NEW_CLUSTER)
        self.assertEqual(features.finalized_level("group.version"), 1)
        self.assertEqual(features.finalized_level("share.version"), 0)
        self.assertEqual(features.finalized_level("no.such.feature"), 0)

    def test_bootstrap_writes_records(self) -> None:
        """bootstrap() writes FeatureLevelRecords (not kraft.version) once; a reload keeps them."""
        self.successResultOf(self.broker.features.bootstrap())
        metadata = metadata_of(self.broker)
        self.assertEqual(
            metadata.image.features,
            {"metadata.version": 30, "transaction.version": 2, "group.version": 1},
        )
        end = metadata.next_offset
        self.successResultOf(self.broker.features.bootstrap())
        self.assertEqual(metadata.next_offset, end)
        reloaded = KRaftMetadataStore(metadata.log_dir)
        self.successResultOf(reloaded.load())
        self.assertEqual(reloaded.image.features, metadata.image.features)

    def test_api_versions_features(self) -> None:
        """ApiVersions v4 lists the supported ranges above level 0 and the finalized levels."""
        response = self.api_versions(4)
        self.assertEqual(
            sorted((f.name, f.min_version, f.max_version) for f in response.supported_features),
            [
                ("group.version", 0, 1),
                ("kraft.version", 0, 1),
                ("metadata.version", 7, 30),
                ("transaction.version", 0, 2),
            ],
        )
        self.assertEqual(
            {
                f.name: (f.min_version_level, f.max_version_level)
                for f in response.finalized_features
            },
            {name: (level, level) for name, level in NEW_CLUSTER.items()},
        )

    def test_epoch_moves_with_a_level(self) -> None:
        """The finalized features epoch grows when a level changes."""
        self.successResultOf(self.broker.features.bootstrap())
        before = self.api_versions().finalized_features_epoch
        self.update(1, [FeatureUpdateKey("group.version", 0, upgrade_type=2)])
        after = self.api_versions()
        self.assertGreater(after.finalized_features_epoch, before)
        self.assertNotIn("group.version", [f.name for f in after.finalized_features])

    def test_group_version_gates_the_consumer_protocol(self) -> None:
        """With group.version downgraded to 0, ConsumerGroupHeartbeat is UNSUPPORTED_VERSION."""
        self.successResultOf(self.broker.features.bootstrap())
        self.update(1, [FeatureUpdateKey("group.version", 0, upgrade_type=2)])
        request = ConsumerGroupHeartbeatRequest(
            group_id="g", member_id="m", member_epoch=0, subscribed_topic_names=("t",)
        )
        response: ConsumerGroupHeartbeatResponse = self.successResultOf(
            call(self.broker, consumer_group_heartbeat.SPEC, request, 1)
        )
        self.assertEqual(response.error_code, ErrorCode.UNSUPPORTED_VERSION)
        self.assertIn("group.version 0", response.error_message or "")

    def update(
        self, version: int, keys: list[FeatureUpdateKey], validate_only: bool = False
    ) -> UpdateFeaturesResponse:
        request = UpdateFeaturesRequest(feature_updates=tuple(keys), validate_only=validate_only)
        response: UpdateFeaturesResponse = self.successResultOf(
            call(self.broker, SPEC, request, version)
        )
        schema.encode_bytes(response, version)
        return response

    def test_registered(self) -> None:
        """UpdateFeatures is registered with versions 0-2."""
        self.assertIn(SPEC, REGISTRY)
        self.assertEqual((SPEC.versions.lowest, SPEC.versions.highest), (0, 2))

    def test_downgrade_and_upgrade_group_version(self) -> None:
        """A safe downgrade of group.version to 0 is written, and an upgrade brings it back."""
        response = self.update(1, [FeatureUpdateKey("group.version", 0, upgrade_type=2)])
        self.assertEqual((response.error_code, response.error_message), (0, None))
        self.assertEqual(
            [(r.feature, r.error_code, r.error_message) for r in response.results],
            [("group.version", 0, "NONE")],
        )
        self.assertEqual(self.broker.features.finalized_level("group.version"), 0)
        # the record is in the log: a reload sees it
        reloaded = KRaftMetadataStore(metadata_of(self.broker).log_dir)
        self.successResultOf(reloaded.load())
        self.assertEqual(reloaded.image.features.get("group.version", 0), 0)
        self.assertEqual(reloaded.image.features["metadata.version"], 30)
        response = self.update(2, [FeatureUpdateKey("group.version", 1)])
        self.assertEqual((response.error_code, response.results), (0, ()))
        self.assertEqual(self.broker.features.finalized_level("group.version"), 1)

    def test_transaction_coordinator_serves_finalized_level(self) -> None:
        """The transaction coordinator serves the finalized transaction.version."""
        coordinator = self.broker.transactions.coordinator
        self.assertEqual(coordinator.transaction_version, 2)
        self.update(2, [FeatureUpdateKey("transaction.version", 1, upgrade_type=2)])
        self.assertEqual(coordinator.transaction_version, 1)

    def test_validate_only_writes_nothing(self) -> None:
        """validate_only checks the update and writes nothing."""
        metadata = metadata_of(self.broker)
        end = metadata.next_offset
        response = self.update(
            1, [FeatureUpdateKey("transaction.version", 0, upgrade_type=2)], True
        )
        self.assertEqual(response.error_code, 0)
        self.assertEqual(metadata.next_offset, end)
        self.assertEqual(self.broker.features.finalized_level("transaction.version"), 2)

    def assert_refused(self, keys: list[FeatureUpdateKey], message: str, version: int = 2) -> None:
        end = metadata_of(self.broker).next_offset
        response = self.update(version, keys)
        self.assertEqual(response.error_code, ErrorCode.INVALID_UPDATE_VERSION)
        self.assertEqual(
            response.error_message,
            "The update failed for all features since the following feature had an error: "
            + message,
        )
        self.assertEqual(response.results, ())
        self.assertEqual(metadata_of(self.broker).next_offset, end)

    def test_downgrade_needs_a_downgrade_type(self) -> None:
        """Lowering a level with upgrade type UPGRADE is INVALID_UPDATE_VERSION."""
        self.assert_refused(
            [FeatureUpdateKey("group.version", 0)],
            "Invalid update version 0 for feature group.version. Can't downgrade the version "
            "of this feature without setting the upgrade type to either safe or unsafe downgrade.",
        )

    def test_upgrade_with_downgrade_type(self) -> None:
        """Raising a level with a downgrade type is INVALID_UPDATE_VERSION."""
        self.update(2, [FeatureUpdateKey("group.version", 0, upgrade_type=2)])
        self.assert_refused(
            [FeatureUpdateKey("group.version", 1, upgrade_type=3)],
            "Invalid update version 1 for feature group.version. Can't downgrade to a newer "
            "version.",
        )

    def test_unsupported_levels(self) -> None:
        """Levels outside the supported range, and features supported at 0 only, are refused."""
        self.assert_refused(
            [FeatureUpdateKey("transaction.version", 3)],
            "Invalid update version 3 for feature transaction.version. Local controller 1 only "
            "supports versions 0-2",
        )
        self.assert_refused(
            [FeatureUpdateKey("share.version", 1)],
            "Invalid update version 1 for feature share.version. Local controller 1 does not "
            "support this feature.",
        )
        self.assert_refused(
            [FeatureUpdateKey("no.such.feature", 1)],
            "Invalid update version 1 for feature no.such.feature. Local controller 1 does not "
            "support this feature.",
        )
        self.assert_refused(
            [FeatureUpdateKey("no.such.feature", 0, upgrade_type=2)],
            "Invalid update version 0 for feature no.such.feature. Feature no.such.feature not "
            "found.",
        )
        self.assert_refused(
            [FeatureUpdateKey("group.version", -1, upgrade_type=2)],
            "Invalid update version -1 for feature group.version. A feature version cannot be "
            "less than 0.",
        )
        self.assert_refused(
            [FeatureUpdateKey("group.version", 1, upgrade_type=7)],
            "Invalid update version 1 for feature group.version. The controller does not "
            "support the given upgrade type.",
        )

    def test_one_failure_fails_all(self) -> None:
        """A valid update next to a refused one is not applied."""
        self.assert_refused(
            [
                FeatureUpdateKey("group.version", 0, upgrade_type=2),
                FeatureUpdateKey("transaction.version", 5),
            ],
            "Invalid update version 5 for feature transaction.version. Local controller 1 only "
            "supports versions 0-2",
        )
        self.assertEqual(self.broker.features.finalized_level("group.version"), 1)

    def test_metadata_version_downgrade_refused(self) -> None:
        """metadata.version cannot go below 4.3-IV0, which changed the metadata, even unsafely."""
        self.assert_refused(
            [FeatureUpdateKey("metadata.version", 29, upgrade_type=2)],
            "Invalid metadata.version 29. Refusing to perform the requested downgrade because "
            "it might delete metadata information.",
        )
        self.assert_refused(
            [FeatureUpdateKey("metadata.version", 29, upgrade_type=3)],
            "Invalid metadata.version 29. Unsafe metadata downgrade is not supported in this "
            "version.",
        )
        self.assert_refused(
            [FeatureUpdateKey("metadata.version", 31)],
            "Invalid update version 31 for feature metadata.version. Local controller 1 only "
            "supports versions 7-30",
        )

    def test_metadata_version_safe_downgrade_and_dependency(self) -> None:
        """A downgrade over versions without metadata changes works unless a dependant forbids."""
        metadata = metadata_of(self.broker)
        self.successResultOf(
            metadata.append([mr.FeatureLevelRecord(name="metadata.version", feature_level=22)])
        )
        response = self.update(2, [FeatureUpdateKey("metadata.version", 21, upgrade_type=2)])
        self.assertEqual(response.error_code, 0)
        self.assertEqual(self.broker.features.finalized_level("metadata.version"), 21)
        # kraft.version 1 depends on metadata.version 21 (3.9-IV0); 20 and 21 changed nothing
        self.assert_refused(
            [FeatureUpdateKey("metadata.version", 20, upgrade_type=2)],
            "Invalid update version 1 for feature kraft.version. kraft.version could not be "
            "set to 1 because it depends on metadata.version level 21",
        )

    def test_kraft_version_fixed(self) -> None:
        """kraft.version stays 1: asking for 1 changes nothing, 0 is refused."""
        end = metadata_of(self.broker).next_offset
        self.assertEqual(self.update(1, [FeatureUpdateKey("kraft.version", 1)]).error_code, 0)
        self.assertEqual(metadata_of(self.broker).next_offset, end)
        self.assert_refused(
            [FeatureUpdateKey("kraft.version", 0, upgrade_type=2)],
            "Invalid update version 0 for feature kraft.version. Downgrading kraft.version is "
            "not supported.",
        )

    def test_v0_allow_downgrade(self) -> None:
        """v0's allow_downgrade is a safe downgrade; without it a lower level is refused."""
        self.assert_refused(
            [FeatureUpdateKey("group.version", 0, allow_downgrade=False)],
            "Invalid update version 0 for feature group.version. Can't downgrade the version "
            "of this feature without setting the upgrade type to either safe or unsafe downgrade.",
            version=0,
        )
        response = self.update(0, [FeatureUpdateKey("group.version", 0, allow_downgrade=True)])
        self.assertEqual(response.error_code, 0)
        self.assertEqual(self.broker.features.finalized_level("group.version"), 0)

    def test_kafka_python_every_version(self) -> None:
        """kafka-python's requests are answered and its decoder reads our answers, v0-v2."""
        for version in (0, 1, 2):
            key = ClientRequest.FeatureUpdateKey(
                feature="transaction.version",
                max_version_level=2,
                allow_downgrade=False,
                upgrade_type=1,
            )
            request = ClientRequest(timeout_ms=1000, feature_updates=[key], validate_only=False)
            response = client_roundtrip(self, self.broker, SPEC, request, ClientResponse, version)
            self.assertEqual(response.error_code, 0)
            if version <= 1:
                self.assertEqual(
                    [(r.feature, r.error_code) for r in response.results],
                    [("transaction.version", 0)],
                )
