"""The records AlterClientQuotas writes: Kafka's C{ClientQuotaControlManager.alterClientQuotas}.

Each entity is checked on its own (L{kafkatwist.quotas.entities}); one that
fails writes nothing and answers its error, the others go ahead. For an
entity that passes, a key with a new value writes a ClientQuotaRecord (none
when the value is unchanged), a removed key writes a removal record when
the entity has it (removing an absent key, valid or not, is a no-op), as
Kafka's controller does. An entity listing a key twice, or listed twice in
the request, answers "Ignoring duplicate entity" (Kafka keeps the records
of the entity's first listing in the latter case, and so does this).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from attrs import frozen

from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages import metadata_records as mr
from kafkatwist.quotas.entities import Entity, check_entity, check_value, describe_entity


@frozen
class QuotaAlteration:
    """One entity of an AlterClientQuotas request: key to new value (None removes it)."""

    entity: Entity
    ops: Sequence[tuple[str, float | None]]


def plan_alterations(
    current: Mapping[Entity, Mapping[str, float]], alterations: Sequence[QuotaAlteration]
) -> tuple[list[mr.ClientQuotaRecord], dict[Entity, KafkaError | None]]:
    """
    The records to write and each entity's result (None: success).

    The results are in the order entities were first listed.
    """
    records: list[mr.ClientQuotaRecord] = []
    results: dict[Entity, KafkaError | None] = {}
    for alteration in alterations:
        entity = alteration.entity
        changes: dict[str, float | None] = {}
        duplicate = entity in results
        for key, value in alteration.ops:
            if key in changes:
                duplicate = True
            changes[key] = value
        if duplicate:
            results[entity] = KafkaError(
                ErrorCode.INVALID_REQUEST,
                f"Ignoring duplicate entity {describe_entity(entity)}",
            )
            continue
        try:
            records += _entity_records(entity, current.get(entity, {}), changes)
        except KafkaError as e:
            results[entity] = e
        else:
            results[entity] = None
    return records, results


def _entity_records(
    entity: Entity, current: Mapping[str, float], changes: Mapping[str, float | None]
) -> list[mr.ClientQuotaRecord]:
    keys = check_entity(entity)
    data = tuple(mr.EntityData(entity_type=t, entity_name=n) for t, n in entity)
    out: list[mr.ClientQuotaRecord] = []
    for key, value in changes.items():
        if value is None:
            if key in current:
                out.append(mr.ClientQuotaRecord(entity=data, key=key, value=0.0, remove=True))
            continue
        check_value(keys, key, value)
        if current.get(key) != value:
            out.append(mr.ClientQuotaRecord(entity=data, key=key, value=value, remove=False))
    return out


__all__ = ["QuotaAlteration", "plan_alterations"]
