"""The finalized features (KIP-584, KIP-1022): the levels supported here and finalized.

Kafka 4.3 knows ``metadata.version`` and the features of its C{Feature}
enum: ``kraft.version``, ``transaction.version``, ``group.version``,
``eligible.leader.replicas.version``, ``share.version`` and
``streams.version``. This broker supports:

* ``metadata.version`` 7-30 (C{MetadataVersion.MINIMUM_VERSION}, 3.3-IV3, to
  Kafka 4.3's C{LATEST_PRODUCTION}, 4.3-IV0), finalized at 30;
* ``kraft.version`` 0-1, finalized at 1 as a cluster formatted
  ``--standalone`` (one dynamic voter, KIP-853); Kafka keeps it in the raft
  log (C{KRaftVersionRecord}), not as a FeatureLevelRecord, and it is fixed here;
* ``transaction.version`` 0-2 (KIP-890) and ``group.version`` 0-1 (KIP-848),
  finalized at their latest levels as on a new Kafka 4.3 cluster;
* ``eligible.leader.replicas.version``, ``share.version`` and
  ``streams.version`` at level 0 only (KIP-966's ELR, share groups and
  streams groups are not served); like Kafka's
  C{BrokerFeatures.defaultSupportedFeatures}, a feature whose highest
  supported level is 0 is not listed among the supported features.

Levels are FeatureLevelRecords in the metadata log. A log without a
``metadata.version`` record (a new one, or one written before this module)
reads as a new cluster's bootstrap levels, and L{FeatureRegistry.bootstrap}
writes them at start. L{FeatureRegistry.update} checks an UpdateFeatures
request as Kafka's C{FeatureControlManager.updateFeatures} does (support
ranges, upgrade types, metadata.version downgrades, dependencies) and
writes its records as one batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from attrs import define, field, frozen
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger

from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages import metadata_records as mr
from kafkatwist.storage.interfaces import IMetadataStore
from kafkatwist.storage.metadata_image import MetadataImage

METADATA_VERSION = "metadata.version"
KRAFT_VERSION = "kraft.version"
TRANSACTION_VERSION = "transaction.version"
GROUP_VERSION = "group.version"
ELR_VERSION = "eligible.leader.replicas.version"
SHARE_VERSION = "share.version"
STREAMS_VERSION = "streams.version"

#: C{MetadataVersion.MINIMUM_VERSION} (3.3-IV3) and Kafka 4.3's C{LATEST_PRODUCTION} (4.3-IV0).
MINIMUM_METADATA_VERSION = 7
LATEST_METADATA_VERSION = 30

#: Kafka's metadata versions from 3.3-IV3 on: (release, whether it changed the metadata).
_METADATA_VERSIONS: dict[int, tuple[str, bool]] = {
    7: ("3.3-IV3", True),
    8: ("3.4-IV0", True),
    9: ("3.5-IV0", False),
    10: ("3.5-IV1", False),
    11: ("3.5-IV2", True),
    12: ("3.6-IV0", False),
    13: ("3.6-IV1", True),
    14: ("3.6-IV2", True),
    15: ("3.7-IV0", True),
    16: ("3.7-IV1", False),
    17: ("3.7-IV2", True),
    18: ("3.7-IV3", False),
    19: ("3.7-IV4", False),
    20: ("3.8-IV0", False),
    21: ("3.9-IV0", False),
    22: ("4.0-IV0", False),
    23: ("4.0-IV1", True),
    24: ("4.0-IV2", False),
    25: ("4.0-IV3", False),
    26: ("4.1-IV0", False),
    27: ("4.1-IV1", False),
    28: ("4.2-IV0", False),
    29: ("4.2-IV1", False),
    30: ("4.3-IV0", True),
}

#: C{FeatureUpdate.UpgradeType} codes.
UPGRADE, SAFE_DOWNGRADE, UNSAFE_DOWNGRADE = 1, 2, 3


@frozen
class Feature:
    """
    One feature: the levels this broker supports and a new cluster's level.

    @ivar dependencies: By level, the features (and levels) that level needs,
        Kafka's C{FeatureVersion.dependencies}.
    """

    name: str
    min_level: int
    max_level: int
    bootstrap: int
    dependencies: Mapping[int, Mapping[str, int]] = field(factory=dict)

    def supports(self, level: int) -> bool:
        return self.min_level <= level <= self.max_level


FEATURES: tuple[Feature, ...] = (
    Feature(
        METADATA_VERSION,
        MINIMUM_METADATA_VERSION,
        LATEST_METADATA_VERSION,
        LATEST_METADATA_VERSION,
    ),
    # KRaftVersion.KRAFT_VERSION_1 depends on metadata.version 3.9-IV0 (21).
    Feature(KRAFT_VERSION, 0, 1, 1, {1: {METADATA_VERSION: 21}}),
    Feature(TRANSACTION_VERSION, 0, 2, 2),
    Feature(GROUP_VERSION, 0, 1, 1),
    Feature(ELR_VERSION, 0, 0, 0),
    Feature(SHARE_VERSION, 0, 0, 0),
    Feature(STREAMS_VERSION, 0, 0, 0),
)
BY_NAME: dict[str, Feature] = {f.name: f for f in FEATURES}


@frozen
class FeatureUpdate:
    """One update of an UpdateFeatures request: the feature, its new level, the upgrade type."""

    name: str
    level: int
    upgrade_type: int = UPGRADE


def _invalid(name: str, level: int, reason: str) -> KafkaError:
    """Kafka's C{FeatureControlManager.invalidUpdateVersion}."""
    return KafkaError(
        ErrorCode.INVALID_UPDATE_VERSION,
        f"Invalid update version {level} for feature {name}. {reason}",
    )


def _invalid_metadata_version(level: int, reason: str) -> KafkaError:
    """Kafka's C{FeatureControlManager.invalidMetadataVersion}."""
    return KafkaError(
        ErrorCode.INVALID_UPDATE_VERSION, f"Invalid metadata.version {level}. {reason}"
    )


def _range(feature: Feature) -> str:
    """Kafka's C{VersionRange.toString}."""
    low, high = feature.min_level, feature.max_level
    return str(low) if low == high else f"{low}-{high}"


@define
class FeatureRegistry:
    """
    The features this broker supports and the levels finalized in the metadata log.

    C{finalized_level(name)} is the accessor for other services (the group
    coordinator asks for ``group.version``, the transaction coordinator for
    ``transaction.version``).
    """

    _metadata: IMetadataStore
    _node_id: int
    _log = Logger()

    @property
    def _bootstrapped(self) -> bool:
        return METADATA_VERSION in self._metadata.image.features

    def finalized_level(self, name: str) -> int:
        """The finalized level of feature C{name}; 0 when it is not finalized (or unknown)."""
        if name == KRAFT_VERSION:
            return BY_NAME[KRAFT_VERSION].bootstrap
        if not self._bootstrapped:
            feature = BY_NAME.get(name)
            return feature.bootstrap if feature is not None else 0
        return self._metadata.image.features.get(name, 0)

    def finalized(self) -> dict[str, int]:
        """
        Every finalized feature with its level, as Kafka's C{KRaftMetadataCache.features}.

        The image's levels above 0, ``metadata.version`` and ``kraft.version``.
        """
        if self._bootstrapped:
            levels = dict(self._metadata.image.features)
        else:
            levels = {f.name: f.bootstrap for f in FEATURES if f.bootstrap > 0}
        levels[KRAFT_VERSION] = self.finalized_level(KRAFT_VERSION)
        return {name: level for name, level in sorted(levels.items()) if level > 0}

    def supported(self) -> dict[str, tuple[int, int]]:
        """The supported level ranges, without features whose highest level is 0."""
        return {f.name: (f.min_level, f.max_level) for f in FEATURES if f.max_level > 0}

    @property
    def epoch(self) -> int:
        """
        The finalized features epoch: the offset of the newest metadata record.

        Kafka's C{FinalizedFeatures} epoch is its image's highest offset, so
        it moves whenever a level changes (and with any other metadata change).
        """
        return max(self._metadata.next_offset - 1, 0)

    def bootstrap(self) -> Deferred[None]:
        """Write a new cluster's levels, unless the metadata log has them already."""
        if self._bootstrapped:
            return succeed(None)

        def build(image: MetadataImage) -> list[mr.FeatureLevelRecord]:
            # Called again if another broker of the cluster wrote first: then
            # its levels are in the image and there is nothing to write.
            if METADATA_VERSION in image.features:
                return []
            records = self._bootstrap_records()
            if records:
                self._log.info(
                    "Finalized the bootstrap features: {levels}",
                    levels=", ".join(f"{r.name}={r.feature_level}" for r in records),
                )
            return records

        return self._metadata.append_when(build).addCallback(lambda _: None)

    def _bootstrap_records(self) -> list[mr.FeatureLevelRecord]:
        """A new cluster's levels, unless the log has them (then none)."""
        if self._bootstrapped:
            return []
        return [
            mr.FeatureLevelRecord(name=f.name, feature_level=f.bootstrap)
            for f in FEATURES
            if f.bootstrap > 0 and f.name != KRAFT_VERSION
        ]

    # -- UpdateFeatures ----------------------------------------------------------------------

    def update(self, updates: Sequence[FeatureUpdate], validate_only: bool) -> Deferred[None]:
        """
        Apply UpdateFeatures' updates, all or none; fires once they are in the metadata log.

        @raise KafkaError: the first update's error (INVALID_UPDATE_VERSION),
            Kafka's C{FeatureControlManager.updateFeatures}.
        """
        proposed = self.finalized()
        proposed.update({u.name: u.level for u in updates})
        records: list[mr.FeatureLevelRecord] = []
        for update in updates:
            record = self._check(update, proposed)
            if record is not None:
                records.append(record)
        if validate_only or not records:
            return succeed(None)
        # Levels read as the bootstrap ones until written: write those first.
        records = self._bootstrap_records() + records
        for r in records:
            self._log.info(
                "Feature {name}: {old} -> {new}",
                name=r.name,
                old=self.finalized_level(r.name),
                new=r.feature_level,
            )
        return self._metadata.append(records).addCallback(lambda _: None)

    def _check(
        self, update: FeatureUpdate, proposed: Mapping[str, int]
    ) -> mr.FeatureLevelRecord | None:
        """The record one update writes (None: nothing), or its KafkaError."""
        name, level, kind = update.name, update.level, update.upgrade_type
        if kind not in (UPGRADE, SAFE_DOWNGRADE, UNSAFE_DOWNGRADE):
            raise _invalid(name, level, "The controller does not support the given upgrade type.")
        current = self.finalized_level(name)
        if level < 0:
            raise _invalid(name, level, "A feature version cannot be less than 0.")
        feature = BY_NAME.get(name)
        where = f"Local controller {self._node_id}"
        if feature is None and level == 0:
            raise _invalid(name, level, f"Feature {name} not found.")
        if feature is None or feature.max_level == 0:
            if level != 0:
                raise _invalid(name, level, f"{where} does not support this feature.")
        elif not feature.supports(level):
            raise _invalid(name, level, f"{where} only supports versions {_range(feature)}")
        if level < current and kind == UPGRADE:
            raise _invalid(
                name,
                level,
                "Can't downgrade the version of this feature without setting the upgrade "
                "type to either safe or unsafe downgrade.",
            )
        if level > current and kind != UPGRADE:
            raise _invalid(name, level, "Can't downgrade to a newer version.")
        if name == METADATA_VERSION:
            self._check_metadata_version(current, level, kind == UNSAFE_DOWNGRADE, proposed)
        elif name == KRAFT_VERSION:
            if level < current:
                raise _invalid(name, level, "Downgrading kraft.version is not supported.")
            return None  # already at the highest supported level
        else:
            self._check_dependencies(name, level, proposed)
        return mr.FeatureLevelRecord(name=name, feature_level=level)

    @staticmethod
    def _check_dependencies(name: str, level: int, proposed: Mapping[str, int]) -> None:
        """Kafka's C{Feature.validateVersion}: a level's dependencies must hold."""
        metadata_version = proposed.get(METADATA_VERSION, 0)
        if level >= 1 and metadata_version < MINIMUM_METADATA_VERSION:
            raise _invalid(
                name,
                level,
                f"{name} could not be set to {level} because it depends on metadata.version="
                f"{MINIMUM_METADATA_VERSION} (3.3-IV3)",
            )
        feature = BY_NAME[name]
        for dependency, needed in feature.dependencies.get(level, {}).items():
            if proposed.get(dependency, 0) < needed:
                raise _invalid(
                    name,
                    level,
                    f"{name} could not be set to {level} because it depends on "
                    f"{dependency} level {needed}",
                )

    def _check_metadata_version(
        self, current: int, level: int, unsafe: bool, proposed: Mapping[str, int]
    ) -> None:
        """Kafka's C{FeatureControlManager.updateMetadataVersion}, and the dependants' levels."""
        if level not in _METADATA_VERSIONS:
            raise _invalid_metadata_version(level, "Unknown metadata.version.")
        if level < current:
            changed = any(_METADATA_VERSIONS[v][1] for v in range(level + 1, current + 1))
            if changed and unsafe:
                raise _invalid_metadata_version(
                    level, "Unsafe metadata downgrade is not supported in this version."
                )
            if changed:
                raise _invalid_metadata_version(
                    level,
                    "Refusing to perform the requested downgrade because it might delete "
                    "metadata information.",
                )
        for name, feature_level in proposed.items():
            if name != METADATA_VERSION and name in BY_NAME:
                self._check_dependencies(name, feature_level, proposed)


__all__ = [
    "BY_NAME",
    "FEATURES",
    "GROUP_VERSION",
    "KRAFT_VERSION",
    "METADATA_VERSION",
    "SAFE_DOWNGRADE",
    "TRANSACTION_VERSION",
    "UNSAFE_DOWNGRADE",
    "UPGRADE",
    "Feature",
    "FeatureRegistry",
    "FeatureUpdate",
]
