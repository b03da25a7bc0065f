"""Quota resolution and recording: Kafka's C{ClientQuotaManager} and its default callback."""

from __future__ import annotations

from attrs import define, field
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.messages import metadata_records as mr
from kafkatwist.quotas.entities import CLIENT_ID, USER
from kafkatwist.quotas.manager import UNLIMITED, ClientQuotaManager, ClientQuotas
from kafkatwist.quotas.rate import QuotaWindow
from kafkatwist.storage.metadata_image import MetadataImage

KEY = "producer_byte_rate"


@define
class ImageSource:
    """The quota source: a metadata image the test applies records to."""

    image: MetadataImage = field(factory=MetadataImage)

    def set(self, user: str | None | bool, client: str | None | bool, value: float) -> None:
        """Set the quota of an entity; False leaves a type out, None is its default."""
        entity = []
        if client is not False:
            entity.append(mr.EntityData(entity_type=CLIENT_ID, entity_name=client))  # type: ignore[arg-type]
        if user is not False:
            entity.append(mr.EntityData(entity_type=USER, entity_name=user))  # type: ignore[arg-type]
        self.image.apply(
            mr.ClientQuotaRecord(entity=tuple(entity), key=KEY, value=value, remove=False)
        )

    def remove(self, user: str | None | bool, client: str | None | bool) -> None:
        """Remove the quota of an entity."""
        entity = []
        if client is not False:
            entity.append(mr.EntityData(entity_type=CLIENT_ID, entity_name=client))  # type: ignore[arg-type]
        if user is not False:
            entity.append(mr.EntityData(entity_type=USER, entity_name=user))  # type: ignore[arg-type]
        self.image.apply(mr.ClientQuotaRecord(entity=tuple(entity), key=KEY, value=0, remove=True))


def manager(source: ImageSource) -> ClientQuotaManager:
    """A produce quota manager over C{source} with Kafka's default windows."""
    return ClientQuotas.create(source, QuotaWindow()).produce


class PrecedenceTests(SynchronousTestCase):
    """The eight levels of C{DefaultQuotaCallback.quotaLimit}, most specific first."""

    def test_each_level_in_turn(self) -> None:
        """Removing the most specific quota each time falls to the next level."""
        source = ImageSource()
        levels: list[tuple[str | None | bool, str | None | bool]] = [
            ("u", "c"),
            ("u", None),
            ("u", False),
            (None, "c"),
            (None, None),
            (None, False),
            (False, "c"),
            (False, None),
        ]
        for rank, (user, client) in enumerate(levels):
            source.set(user, client, 1000.0 * (rank + 1))
        quotas = manager(source)
        for rank, (user, client) in enumerate(levels):
            self.assertEqual(quotas.quota("u", "c"), 1000.0 * (rank + 1), (user, client))
            source.remove(user, client)
        self.assertEqual(quotas.quota("u", "c"), UNLIMITED)
        self.assertFalse(quotas.enabled)

    def test_other_clients_are_unlimited(self) -> None:
        """A quota for client-id c leaves client-id d unlimited (Long.MAX_VALUE)."""
        source = ImageSource()
        source.set(False, "c", 500.0)
        quotas = manager(source)
        self.assertEqual(quotas.quota("ANONYMOUS", "c"), 500.0)
        self.assertEqual(quotas.quota("ANONYMOUS", "d"), UNLIMITED)

    def test_ip_and_other_keys_do_not_apply(self) -> None:
        """Only the manager's own key of user/client-id entities is a quota."""
        source = ImageSource()
        source.image.apply(
            mr.ClientQuotaRecord(
                entity=(mr.EntityData(entity_type=CLIENT_ID, entity_name="c"),),
                key="consumer_byte_rate",
                value=10.0,
                remove=False,
            )
        )
        self.assertFalse(manager(source).enabled)


class MetricTagsTests(SynchronousTestCase):
    """Which clients share a rate (C{quotaMetricTags})."""

    def test_client_id_quotas_share_by_client_id(self) -> None:
        """With client-id quotas only, the tags are ("", client-id): users share the rate."""
        source = ImageSource()
        source.set(False, None, 1000.0)
        self.assertEqual(manager(source).metric_tags("u", "c"), ("", "c"))

    def test_user_quotas_share_by_user(self) -> None:
        """With user quotas only, the tags are (user, "")."""
        source = ImageSource()
        source.set("u", False, 1000.0)
        self.assertEqual(manager(source).metric_tags("u", "c"), ("u", ""))

    def test_several_levels(self) -> None:
        """With user and client-id quotas, a user that has a quota is tagged (user, "")."""
        source = ImageSource()
        source.set("u", False, 1000.0)
        source.set(False, "c", 1000.0)
        quotas = manager(source)
        self.assertEqual(quotas.metric_tags("u", "c"), ("u", ""))
        self.assertEqual(quotas.metric_tags("v", "c"), ("", "c"))


class RecordTests(SynchronousTestCase):
    """Recording values and the throttle time."""

    def test_nothing_is_recorded_without_quotas(self) -> None:
        """Without any quota of the type a huge value is never throttled."""
        self.assertEqual(manager(ImageSource()).record("u", "c", 1e12, 0), 0)

    def test_shared_rate_throttles(self) -> None:
        """
        Two users with client-id c share its 1000/s: 6000 + 6000 bytes at t=0 throttle 2000 ms.

        12000 bytes over the minimum window of 10 s is 1200/s;
        X = (1200 - 1000) / 1000 * 10000 = 2000 ms.
        """
        source = ImageSource()
        source.set(False, "c", 1000.0)
        quotas = manager(source)
        self.assertEqual(quotas.record("alice", "c", 6000, 0), 0)
        self.assertEqual(quotas.record("bob", "c", 6000, 0), 2000)

    def test_quota_change_applies_to_existing_sensor(self) -> None:
        """A raised quota applies to the next record of an existing sensor."""
        source = ImageSource()
        source.set(False, "c", 1000.0)
        quotas = manager(source)
        self.assertEqual(quotas.record("u", "c", 20000, 0), 10000)
        source.set(False, "c", 4000.0)
        self.assertEqual(quotas.record("u", "c", 1, 0), 0)

    def test_request_quota_throttle_is_bounded(self) -> None:
        """The request quota's throttle is at most one window (C{boundedThrottleTime})."""
        source = ImageSource()
        source.image.apply(
            mr.ClientQuotaRecord(
                entity=(mr.EntityData(entity_type=CLIENT_ID, entity_name="c"),),
                key="request_percentage",
                value=1.0,
                remove=False,
            )
        )
        request = ClientQuotas.create(source, QuotaWindow()).request
        self.assertEqual(request.record("u", "c", 500.0, 0), 1000)

    def test_unrecord(self) -> None:
        """An unrecorded value no longer counts towards the rate."""
        source = ImageSource()
        source.set(False, "c", 1000.0)
        quotas = manager(source)
        self.assertEqual(quotas.record("u", "c", 20000, 0), 10000)
        quotas.unrecord("u", "c", 20000, 0)
        self.assertEqual(quotas.record("u", "c", 10000, 0), 0)

    def test_max_value_in_window(self) -> None:
        """The most one fetch may take: quota * (11 - 1) windows of 1 s."""
        source = ImageSource()
        source.set(False, "c", 1000.0)
        self.assertEqual(manager(source).max_value_in_window("u", "c", 0), 10000.0)
        self.assertEqual(manager(ImageSource()).max_value_in_window("u", "c", 0), float("inf"))
