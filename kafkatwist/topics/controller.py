"""Controller: topic lifecycle written as KRaft records to ``__cluster_metadata``.

In KRaft mode Kafka's controller turns CreateTopics, DeleteTopics,
CreatePartitions and config changes into metadata records (TopicRecord,
PartitionRecord, ConfigRecord, RemoveTopicRecord); brokers then act on the
records. This single-node controller does the same, so a restart replays the
metadata log and recovers every topic, partition and config.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

from attrs import define, field
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from kafkatwist.cluster.interfaces import ICluster
from kafkatwist.cluster.local import LocalCluster
from kafkatwist.config import topic_config
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages import metadata_records as mr
from kafkatwist.quotas.control import QuotaAlteration, plan_alterations
from kafkatwist.quotas.entities import Entity
from kafkatwist.security.acl import AclBinding
from kafkatwist.security.acl_control import plan_create, plan_delete
from kafkatwist.security.acl_filter import AclBindingFilter
from kafkatwist.storage.interfaces import IMetadataStore
from kafkatwist.storage.kraft import (
    METADATA_TOPIC,
    RESOURCE_TOPIC,
    MetadataImage,
    TopicState,
    random_kafka_uuid,
)
from kafkatwist.topics.names import collision_name, validate_topic_name
from kafkatwist.topics.partitions import Partitions
from kafkatwist.topics.placement import (
    check_manual_assignment,
    check_replication_factor,
    partition_records,
)

_T = TypeVar("_T")

#: Kafka's limit on partitions created at once is high; this keeps a typo from
#: creating millions of directories.
MAX_PARTITIONS = 100_000


@define
class Controller:
    """
    Creates, deletes and changes topics through the metadata log.

    @ivar _partitions: Opens the logs of new partitions and deletes those of
        deleted topics.
    @ivar _node_id: This broker: it creates the logs of the new partitions it leads.
    @ivar _num_partitions: Kafka's ``num.partitions``, for requests that give -1.
    @ivar _default_replication_factor: Kafka's ``default.replication.factor``.
    @ivar _cluster: The live brokers new partitions are placed on (default:
        this broker alone, L{LocalCluster}).
    """

    _metadata: IMetadataStore
    _partitions: Partitions
    _node_id: int
    _num_partitions: int = 1
    _default_replication_factor: int = 1
    _cluster: ICluster = field(kw_only=True)
    #: Topic names with a creation or deletion under way.
    _busy: set[str] = field(factory=set, init=False)
    #: Partition counts that CreatePartitions records being written will
    #: bring topics to, by name: later requests are checked against them.
    _growing: dict[str, int] = field(factory=dict, init=False)
    #: ACLs whose AccessControlEntryRecords are being written: a concurrent
    #: CreateAcls of one of them writes nothing (Kafka's controller sees them at once).
    _creating_acls: set[AclBinding] = field(factory=set, init=False)
    _log = Logger()

    @_cluster.default
    def _this_broker_alone(self) -> ICluster:
        return LocalCluster(self._node_id, self._metadata)

    @property
    def _image(self) -> MetadataImage:
        return self._metadata.image

    def check_new_topic(
        self,
        name: str,
        num_partitions: int,
        replication_factor: int,
        assignments: Sequence[tuple[int, Sequence[int]]] = (),
        configs: Mapping[str, str | None] | None = None,
    ) -> tuple[int, int]:
        """
        Validate a topic creation as Kafka's controller does.

        @return: the resolved (partitions, replication factor).
        @raise KafkaError: with Kafka's code and message on refusal.
        """
        if name == METADATA_TOPIC:
            # Its partition directory is the metadata log's own (Kafka's ControllerApis).
            raise KafkaError(
                ErrorCode.INVALID_REQUEST,
                f"Creation of internal topic {METADATA_TOPIC} is prohibited.",
            )
        reason = validate_topic_name(name)
        if reason is not None:
            raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, reason)
        if name in self._image.topics or name in self._busy:
            raise KafkaError(ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{name}' already exists.")
        colliding = collision_name(name)
        for existing in self._image.topics:
            if existing != name and collision_name(existing) == colliding:
                raise KafkaError(
                    ErrorCode.INVALID_TOPIC_EXCEPTION,
                    f"Topic '{name}' collides with existing topic: {existing}",
                )
        if assignments:
            if num_partitions not in (-1, len(assignments)) or replication_factor != -1:
                raise KafkaError(
                    ErrorCode.INVALID_REQUEST,
                    "Both numPartitions or replicationFactor and replicasAssignments were set. "
                    "Both cannot be used at the same time.",
                )
            num_partitions = len(assignments)
            factor: int | None = None
            for index, (pidx, brokers) in enumerate(sorted(assignments)):
                if pidx != index:
                    raise KafkaError(
                        ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                        "Partitions should be a consecutive 0-based integer sequence",
                    )
                check_manual_assignment(self._cluster, brokers, factor)
                factor = len(brokers)
            replication_factor = factor or 1
        if num_partitions == -1:
            num_partitions = self._num_partitions
        if replication_factor == -1:
            replication_factor = self._default_replication_factor
        if num_partitions <= 0 or num_partitions > MAX_PARTITIONS:
            raise KafkaError(
                ErrorCode.INVALID_PARTITIONS, "Number of partitions must be larger than 0."
            )
        if replication_factor <= 0:
            raise KafkaError(
                ErrorCode.INVALID_REPLICATION_FACTOR,
                "Replication factor must be larger than 0.",
            )
        if not assignments:
            check_replication_factor(self._cluster, replication_factor)
        if configs:
            topic_config.validate(configs)
        return num_partitions, replication_factor

    def create_topic(
        self,
        name: str,
        num_partitions: int = -1,
        replication_factor: int = -1,
        assignments: Sequence[tuple[int, Sequence[int]]] = (),
        configs: Mapping[str, str | None] | None = None,
    ) -> Deferred[TopicState]:
        """
        Create a topic: validate, create its logs, then write its records.

        All or nothing: the logs are made before the records are written, and
        if one cannot be made the others are removed and the creation fails
        with C{KAFKA_STORAGE_ERROR} (Kafka's C{KafkaStorageException}); if
        writing the records fails, the logs are removed again.
        """
        num_partitions, rf = self.check_new_topic(
            name, num_partitions, replication_factor, assignments, configs
        )
        topic_id = random_kafka_uuid()
        placed: Sequence[Sequence[int]] = (
            [brokers for _, brokers in sorted(assignments)]
            if assignments
            else self._cluster.assign_replicas(num_partitions, rf)
        )
        records: list[object] = [mr.TopicRecord(name=name, topic_id=topic_id)]
        for key, value in sorted((configs or {}).items()):
            if value is not None:
                records.append(
                    mr.ConfigRecord(
                        resource_type=RESOURCE_TOPIC, resource_name=name, name=key, value=value
                    )
                )
        partitions = partition_records(self._cluster, topic_id, range(num_partitions), placed)
        records.extend(partitions)
        led = self._led(partitions)
        try:
            self._partitions.create_logs(name, topic_id, led)
        except KafkaError as e:
            self._log.error("Creating topic {name} failed: {error}", name=name, error=e.message)
            raise
        self._busy.add(name)

        def created(image: MetadataImage) -> TopicState:
            self._busy.discard(name)
            topic = image.topics[name]
            self._partitions.refresh_config(name)
            for p in led:
                self._partitions.partition_log(topic, p)
            self._log.info(
                "Created topic {name} ({partitions} partitions)",
                name=name,
                partitions=num_partitions,
            )
            return topic

        def failed(f: Failure) -> Failure:
            self._busy.discard(name)
            self._partitions.discard_logs(name, led)
            return f

        return self._metadata.append(records).addCallbacks(created, failed)

    def _led(self, records: Sequence[mr.PartitionRecord]) -> list[int]:
        """The new partitions this broker leads: it creates their logs."""
        return [r.partition_id for r in records if r.leader == self._node_id]

    def delete_topic(self, topic: TopicState) -> Deferred[None]:
        """Delete a topic: write RemoveTopicRecord, then remove its logs."""
        if topic.name in self._busy:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "Topic deletion is in progress.")
        self._busy.add(topic.name)

        def removed(_: object) -> Deferred[None]:
            self._log.info("Deleted topic {name}", name=topic.name)
            return self._partitions.delete_topic(topic.name)

        def done(result: _T) -> _T:
            self._busy.discard(topic.name)
            return result

        d = self._metadata.append([mr.RemoveTopicRecord(topic_id=topic.topic_id)])
        return d.addCallback(removed).addBoth(done)

    def _partition_count(self, topic: TopicState) -> int:
        """The topic's partition count once the records being written are applied."""
        return max(len(topic.partitions), self._growing.get(topic.name, 0))

    def check_new_partitions(
        self, topic: TopicState, count: int, assignments: Sequence[Sequence[int]] | None = None
    ) -> None:
        """
        Validate a CreatePartitions request for one topic.

        Kafka's controller handles requests one at a time, so a request sees
        the partitions an earlier one is still writing, and a topic being
        deleted is already gone.
        """
        if topic.name in self._busy:
            raise KafkaError(
                ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"The topic '{topic.name}' is being deleted."
            )
        current = self._partition_count(topic)
        if count < current:
            raise KafkaError(
                ErrorCode.INVALID_PARTITIONS,
                f"The topic {topic.name} currently has {current} partition(s); "
                f"{count} would not be an increase.",
            )
        if count == current:
            raise KafkaError(
                ErrorCode.INVALID_PARTITIONS,
                f"Topic already has {current} partition(s).",
            )
        if count > MAX_PARTITIONS:
            raise KafkaError(ErrorCode.INVALID_PARTITIONS, "Too many partitions.")
        if assignments is not None:
            if len(assignments) != count - current:
                raise KafkaError(
                    ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                    f"Attempted to add {count - current} additional partition(s), but only "
                    f"{len(assignments)} assignment(s) were specified.",
                )
            for brokers in assignments:
                check_manual_assignment(self._cluster, brokers, _replication_factor(topic))
        else:
            check_replication_factor(self._cluster, _replication_factor(topic))

    def create_partitions(
        self, topic: TopicState, count: int, assignments: Sequence[Sequence[int]] | None = None
    ) -> Deferred[TopicState]:
        """
        Add partitions to reach C{count} (after L{check_new_partitions}).

        Placed as C{assignments} says, else by the cluster with the
        topic's replication factor (Kafka's C{createPartitions}).
        """
        name = topic.name
        indexes = range(self._partition_count(topic), count)
        placed = (
            assignments
            if assignments is not None
            else self._cluster.assign_replicas(len(indexes), _replication_factor(topic))
        )
        records = partition_records(self._cluster, topic.topic_id, indexes, placed)
        led = self._led(records)
        self._growing[name] = count

        def created(image: MetadataImage) -> TopicState:
            t = image.topics_by_id.get(topic.topic_id)
            if t is None:
                # Deleted while the records were written: they were ignored.
                raise KafkaError(
                    ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"The topic '{name}' was deleted."
                )
            for p in led:
                try:
                    self._partitions.partition_log(t, p)
                except KafkaError as e:
                    # An engine that loads logs as their leader is elected (PostgreSQL)
                    # opens it then; nothing of the partition is missing meanwhile.
                    if e.code != ErrorCode.NOT_LEADER_OR_FOLLOWER:
                        raise
            return t

        def done(result: _T) -> _T:
            if self._growing.get(name) == count:
                del self._growing[name]
            return result

        return self._metadata.append(records).addCallback(created).addBoth(done)

    def change_partitions(
        self, records: Sequence[mr.PartitionChangeRecord]
    ) -> Deferred[MetadataImage]:
        """Write PartitionChangeRecords (leader elections, reassignments)."""
        return self._metadata.append(list(records))

    def set_configs(
        self, resource_type: int, resource_name: str, changes: Mapping[str, str | None]
    ) -> Deferred[MetadataImage]:
        """Persist config changes (None deletes a key) as ConfigRecords."""
        records = [
            mr.ConfigRecord(
                resource_type=resource_type, resource_name=resource_name, name=k, value=v
            )
            for k, v in sorted(changes.items())
        ]
        return self._metadata.append(records)

    def alter_client_quotas(
        self, alterations: Sequence[QuotaAlteration], validate_only: bool = False
    ) -> Deferred[dict[Entity, KafkaError | None]]:
        """
        Check client quota changes and write them as ClientQuotaRecords.

        @return: each entity's result (None: done), once the records are
            written; at once with C{validate_only}, which writes nothing.
        """
        records, results = plan_alterations(self._image.client_quotas, alterations)
        if validate_only or not records:
            return succeed(results)
        return self._metadata.append(records).addCallback(lambda _: results)

    def create_acls(self, acls: Sequence[AclBinding]) -> Deferred[list[KafkaError | None]]:
        """
        Check ACLs to create and write the new ones as AccessControlEntryRecords
        (Kafka's C{AclControlManager.createAcls}).

        @return: each ACL's result (None: created or already there), once written.
        """
        existing = set(self._image.acls.values()) | self._creating_acls
        records, results = plan_create(existing, acls, random_kafka_uuid)
        if not records:
            return succeed(results)
        writing = {acl for acl in acls if acl not in existing}
        self._creating_acls |= writing

        def done(outcome: _T) -> _T:
            self._creating_acls -= writing
            return outcome

        return self._metadata.append(records).addCallback(lambda _: results).addBoth(done)

    def delete_acls(
        self, filters: Sequence[AclBindingFilter]
    ) -> Deferred[list[KafkaError | list[AclBinding]]]:
        """
        Remove the ACLs each filter matches with RemoveAccessControlEntryRecords
        (Kafka's C{AclControlManager.deleteAcls}).

        @return: each filter's matched ACLs, or its error, once written.
        """
        records, results = plan_delete(self._image.acls, filters)
        if not records:
            return succeed(results)
        return self._metadata.append(records).addCallback(lambda _: results)


def _replication_factor(topic: TopicState) -> int:
    """The topic's replication factor: its first partition's replica count (Kafka's)."""
    first = topic.partitions.get(0) or next(iter(topic.partitions.values()), None)
    return len(first.replicas) if first is not None and first.replicas else 1


__all__ = ["MAX_PARTITIONS", "Controller"]
