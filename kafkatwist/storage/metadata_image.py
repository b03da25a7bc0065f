"""The metadata image: the cluster state that replaying ``__cluster_metadata`` builds.

L{MetadataImage} applies TopicRecord, PartitionRecord, PartitionChangeRecord,
RemoveTopicRecord, ConfigRecord, FeatureLevelRecord, ProducerIdsRecord,
ClientQuotaRecord, (Remove)UserScramCredentialRecord and the ACL records (others are
counted and ignored); L{image_records} turns an image back into the records a
snapshot holds. Split from L{kafkatwist.storage.kraft}, which re-exports these names.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from attrs import define, field

from kafkatwist.messages import metadata_records as mr
from kafkatwist.quotas.entities import Entity, entity_of
from kafkatwist.security.acl import AclBinding
from kafkatwist.security.acl_control import binding_of_record, record_of

T = TypeVar("T")

#: ConfigRecord resource types (Kafka's ConfigResource.Type).
RESOURCE_TOPIC = 2
RESOURCE_BROKER = 4


def _unless_absent(value: T | None, current: T) -> T:
    """C{value}, or C{current} when C{value} is absent (C{None})."""
    return current if value is None else value


@define
class PartitionState:
    """One partition as the metadata log describes it."""

    partition: int
    leader: int = -1
    leader_epoch: int = 0
    partition_epoch: int = 0
    replicas: tuple[int, ...] = ()
    isr: tuple[int, ...] = ()
    removing_replicas: tuple[int, ...] = ()
    adding_replicas: tuple[int, ...] = ()
    eligible_leader_replicas: tuple[int, ...] | None = None
    last_known_elr: tuple[int, ...] | None = None
    leader_recovery_state: int = 0
    directories: tuple[uuid.UUID, ...] = ()


@define
class TopicState:
    """One topic: its name, id, partitions and configs."""

    name: str
    topic_id: uuid.UUID
    partitions: dict[int, PartitionState] = field(factory=dict)
    configs: dict[str, str] = field(factory=dict)

    @property
    def is_internal(self) -> bool:
        return self.name in INTERNAL_TOPICS


INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state"})


@define
class MetadataImage:
    """The in-memory state built by replaying the metadata log."""

    topics: dict[str, TopicState] = field(factory=dict)
    topics_by_id: dict[uuid.UUID, TopicState] = field(factory=dict)
    features: dict[str, int] = field(factory=dict)
    #: Non-topic configs (brokers, ...), by (resource type, resource name).
    configs: dict[tuple[int, str], dict[str, str]] = field(factory=dict)
    #: The first producer id of the next block to allocate (ProducerIdsRecord).
    next_producer_id: int = 0
    #: Client quotas by entity (Kafka's C{ClientQuotasImage}): key to value.
    client_quotas: dict[Entity, dict[str, float]] = field(factory=dict)
    #: Bumped by every ClientQuotaRecord, so that quota managers know to look again.
    quota_generation: int = 0
    #: SCRAM credentials (Kafka's C{ScramImage}) by (user, mechanism type): the record itself.
    scram_credentials: dict[tuple[str, int], mr.UserScramCredentialRecord] = field(factory=dict)
    #: The ACLs by id (Kafka's C{AclsImage}): AccessControlEntryRecords not removed.
    acls: dict[uuid.UUID, AclBinding] = field(factory=dict)
    #: Bumped by every ACL record, so that the authorizer knows to look again.
    acl_generation: int = 0
    #: Records of kinds this broker does not act on, counted by name.
    ignored: dict[str, int] = field(factory=dict)
    #: Configs seen for topics that did not exist (yet), by topic name.
    _pending_topic_configs: dict[str, dict[str, str]] = field(factory=dict)

    def apply(self, record: Any) -> None:
        """Apply one decoded metadata record."""
        if isinstance(record, mr.TopicRecord):
            topic = TopicState(name=record.name, topic_id=record.topic_id)
            topic.configs.update(self._pending_topic_configs.pop(record.name, {}))
            self.topics[record.name] = topic
            self.topics_by_id[record.topic_id] = topic
        elif isinstance(record, mr.PartitionRecord):
            known = self.topics_by_id.get(record.topic_id)
            if known is None:
                self._ignore("PartitionRecord for an unknown topic id")
                return
            known.partitions[record.partition_id] = PartitionState(
                partition=record.partition_id,
                leader=record.leader,
                leader_epoch=record.leader_epoch,
                partition_epoch=record.partition_epoch,
                replicas=record.replicas,
                isr=record.isr,
                removing_replicas=record.removing_replicas,
                adding_replicas=record.adding_replicas,
                eligible_leader_replicas=record.eligible_leader_replicas,
                last_known_elr=record.last_known_elr,
                leader_recovery_state=record.leader_recovery_state,
                directories=record.directories,
            )
        elif isinstance(record, mr.PartitionChangeRecord):
            self._apply_change(record)
        elif isinstance(record, mr.RemoveTopicRecord):
            removed = self.topics_by_id.pop(record.topic_id, None)
            if removed is not None:
                self.topics.pop(removed.name, None)
        elif isinstance(record, mr.ConfigRecord):
            self._apply_config(record)
        elif isinstance(record, mr.FeatureLevelRecord):
            if record.feature_level == 0:
                self.features.pop(record.name, None)
            else:
                self.features[record.name] = record.feature_level
        elif isinstance(record, mr.ProducerIdsRecord):
            self.next_producer_id = max(self.next_producer_id, record.next_producer_id)
        elif isinstance(record, mr.ClientQuotaRecord):
            self._apply_quota(record)
        elif isinstance(record, mr.UserScramCredentialRecord):
            self.scram_credentials[record.name, record.mechanism] = record
        elif isinstance(record, mr.RemoveUserScramCredentialRecord):
            self.scram_credentials.pop((record.name, record.mechanism), None)
        elif isinstance(record, mr.AccessControlEntryRecord):
            self.acls[record.id] = binding_of_record(record)
            self.acl_generation += 1
        elif isinstance(record, mr.RemoveAccessControlEntryRecord):
            if self.acls.pop(record.id, None) is None:
                self._ignore("RemoveAccessControlEntryRecord for an unknown id")
            self.acl_generation += 1
        elif record is not None:
            self._ignore(type(record).__name__)

    def _apply_quota(self, record: mr.ClientQuotaRecord) -> None:
        """Kafka's C{ClientQuotaControlManager.replay}: set or remove one key of an entity."""
        entity = entity_of((e.entity_type, e.entity_name) for e in record.entity)
        self.quota_generation += 1
        if record.remove:
            values = self.client_quotas.get(entity)
            if values is not None:
                values.pop(record.key, None)
                if not values:
                    del self.client_quotas[entity]
        else:
            self.client_quotas.setdefault(entity, {})[record.key] = record.value

    def _ignore(self, what: str) -> None:
        self.ignored[what] = self.ignored.get(what, 0) + 1

    def _apply_change(self, record: mr.PartitionChangeRecord) -> None:
        topic = self.topics_by_id.get(record.topic_id)
        part = topic.partitions.get(record.partition_id) if topic else None
        if part is None:
            self._ignore("PartitionChangeRecord for an unknown partition")
            return
        # Kafka's PartitionChangeRecord: absent (null / -2) fields mean "unchanged".
        part.isr = _unless_absent(record.isr, part.isr)
        part.replicas = _unless_absent(record.replicas, part.replicas)
        part.removing_replicas = _unless_absent(record.removing_replicas, part.removing_replicas)
        part.adding_replicas = _unless_absent(record.adding_replicas, part.adding_replicas)
        part.directories = _unless_absent(record.directories, part.directories)
        part.eligible_leader_replicas = _unless_absent(
            record.eligible_leader_replicas, part.eligible_leader_replicas
        )
        part.last_known_elr = _unless_absent(record.last_known_elr, part.last_known_elr)
        if record.leader_recovery_state != -1:
            part.leader_recovery_state = record.leader_recovery_state
        if record.leader != -2:
            part.leader = record.leader
            part.leader_epoch += 1
        part.partition_epoch += 1

    def _apply_config(self, record: mr.ConfigRecord) -> None:
        if record.resource_type == RESOURCE_TOPIC:
            topic = self.topics.get(record.resource_name)
            configs = (
                topic.configs
                if topic
                else self._pending_topic_configs.setdefault(record.resource_name, {})
            )
        else:
            configs = self.configs.setdefault((record.resource_type, record.resource_name), {})
        if record.value is None:
            configs.pop(record.name, None)
        else:
            configs[record.name] = record.value


def image_records(image: MetadataImage) -> list[Any]:
    """
    The metadata records that rebuild C{image} (a snapshot's content).

    Features first (C{metadata.version} leads, as in Kafka's snapshots), then
    non-topic configs, each topic with its partitions and configs, the client
    quotas, the SCRAM credentials, the ACLs, then the producer id block.
    """
    records: list[Any] = [
        mr.FeatureLevelRecord(name=name, feature_level=level)
        for name, level in sorted(
            image.features.items(), key=lambda kv: kv[0] != "metadata.version"
        )
    ]
    for (kind, name), configs in sorted(image.configs.items()):
        records += [mr.ConfigRecord(kind, name, k, v) for k, v in sorted(configs.items())]
    for topic in image.topics.values():
        records.append(mr.TopicRecord(name=topic.name, topic_id=topic.topic_id))
        for p in sorted(topic.partitions.values(), key=lambda p: p.partition):
            records.append(
                mr.PartitionRecord(
                    partition_id=p.partition,
                    topic_id=topic.topic_id,
                    replicas=p.replicas,
                    isr=p.isr,
                    removing_replicas=p.removing_replicas,
                    adding_replicas=p.adding_replicas,
                    leader=p.leader,
                    leader_recovery_state=p.leader_recovery_state,
                    leader_epoch=p.leader_epoch,
                    partition_epoch=p.partition_epoch,
                    directories=p.directories,
                    eligible_leader_replicas=p.eligible_leader_replicas,
                    last_known_elr=p.last_known_elr,
                )
            )
        records += [
            mr.ConfigRecord(RESOURCE_TOPIC, topic.name, k, v)
            for k, v in sorted(topic.configs.items())
        ]
    for entity, values in image.client_quotas.items():
        data = tuple(mr.EntityData(entity_type=t, entity_name=n) for t, n in entity)
        records += [
            mr.ClientQuotaRecord(entity=data, key=k, value=v, remove=False)
            for k, v in sorted(values.items())
        ]
    records += list(image.scram_credentials.values())
    records += [record_of(acl_id, acl) for acl_id, acl in image.acls.items()]
    if image.next_producer_id:
        records.append(mr.ProducerIdsRecord(broker_id=-1, next_producer_id=image.next_producer_id))
    return records
