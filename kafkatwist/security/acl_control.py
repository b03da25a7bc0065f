"""The records CreateAcls and DeleteAcls write: Kafka's C{AclControlManager}.

An ACL lives in the metadata log as an C{AccessControlEntryRecord} with a
random id (Kafka's C{StandardAclWithId}); a C{RemoveAccessControlEntryRecord}
names the id it removes. Creating an ACL that exists (or that an earlier
creation of the same request creates) succeeds and writes nothing. Each
creation is checked on its own as Kafka's C{AclApis.handleCreateAcls} and
C{AclControlManager.validateNewAcl} do, in their order; a refused one answers
INVALID_REQUEST with Kafka's message. Each delete filter answers the ACLs it
matched, even those an earlier filter of the request matched too; each ACL is
removed once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import IntEnum
from typing import TypeVar

from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages import metadata_records as mr
from kafkatwist.security.acl import (
    CLUSTER_NAME,
    AclBinding,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourceType,
)
from kafkatwist.security.acl_filter import AclBindingFilter
from kafkatwist.security.principal import KafkaPrincipal

E = TypeVar("E", bound=IntEnum)


def enum_of(kind: type[E], code: int) -> E:
    """Kafka's C{fromCode}: the member with the code, or C{UNKNOWN} (code 0) for others."""
    try:
        return kind(code)
    except ValueError:
        return kind(0)


def acl_of_codes(
    resource_type: int,
    resource_name: str,
    pattern_type: int,
    principal: str,
    host: str,
    operation: int,
    permission: int,
) -> AclBinding:
    """An ACL from the codes a record or request carries (each through L{enum_of})."""
    return AclBinding(
        enum_of(ResourceType, resource_type),
        resource_name,
        enum_of(PatternType, pattern_type),
        principal,
        host,
        enum_of(AclOperation, operation),
        enum_of(AclPermissionType, permission),
    )


def binding_of_record(record: mr.AccessControlEntryRecord) -> AclBinding:
    """Kafka's C{StandardAcl.fromRecord}."""
    return acl_of_codes(
        record.resource_type,
        record.resource_name,
        record.pattern_type,
        record.principal,
        record.host,
        record.operation,
        record.permission_type,
    )


def record_of(acl_id: uuid.UUID, acl: AclBinding) -> mr.AccessControlEntryRecord:
    """Kafka's C{StandardAclWithId.toRecord}."""
    return mr.AccessControlEntryRecord(
        id=acl_id,
        resource_type=int(acl.resource_type),
        resource_name=acl.resource_name,
        pattern_type=int(acl.pattern_type),
        principal=acl.principal,
        host=acl.host,
        operation=int(acl.operation),
        permission_type=int(acl.permission),
    )


def check_constructible(acl: AclBinding) -> None:
    """
    Refuse what Kafka cannot even build an C{AclBinding} of: resource type
    ANY, pattern type MATCH or ANY, permission ANY (its C{ResourcePattern} and
    C{AccessControlEntry} constructors throw C{IllegalArgumentException},
    which fails the whole CreateAcls request with UNKNOWN_SERVER_ERROR).

    @raise KafkaError: UNKNOWN_SERVER_ERROR, for the whole request.
    """
    if (
        acl.resource_type == ResourceType.ANY
        or acl.pattern_type in (PatternType.MATCH, PatternType.ANY)
        or acl.permission == AclPermissionType.ANY
    ):
        raise KafkaError(ErrorCode.UNKNOWN_SERVER_ERROR)


def validate_new_acl(acl: AclBinding) -> None:
    """
    Kafka's checks of one ACL to create, in Kafka's order: C{AclApis} (the
    CLUSTER resource's name, an empty name), then C{validateNewAcl}.

    The principal must be C{Type:name}: Kafka accepts one without a colon,
    which then breaks every authorization that meets it
    (C{StandardAcl.kafkaPrincipal} throws); kafkatwist refuses it here.

    @raise KafkaError: INVALID_REQUEST with Kafka's message.
    """
    name = acl.resource_name
    if acl.resource_type == ResourceType.CLUSTER and name != CLUSTER_NAME:
        raise _invalid(f"The only valid name for the CLUSTER resource is {CLUSTER_NAME}")
    if not name:
        raise _invalid("Invalid empty resource name")
    if acl.resource_type in (ResourceType.UNKNOWN, ResourceType.ANY):
        raise _invalid(f"Invalid resourceType {acl.resource_type.name}")
    if acl.pattern_type not in (PatternType.LITERAL, PatternType.PREFIXED):
        raise _invalid(f"Invalid patternType {acl.pattern_type.name}")
    if acl.operation in (AclOperation.UNKNOWN, AclOperation.ANY):
        raise _invalid(f"Invalid operation {acl.operation.name}")
    if acl.permission not in (AclPermissionType.DENY, AclPermissionType.ALLOW):
        raise _invalid(f"Invalid permissionType {acl.permission.name}")
    try:
        KafkaPrincipal.parse(acl.principal)
    except ValueError as e:
        raise _invalid(str(e)) from None


def _invalid(message: str) -> KafkaError:
    return KafkaError(ErrorCode.INVALID_REQUEST, message)


def plan_create(
    existing: Iterable[AclBinding],
    creations: Sequence[AclBinding],
    new_id: Callable[[], uuid.UUID],
) -> tuple[list[mr.AccessControlEntryRecord], list[KafkaError | None]]:
    """
    Kafka's C{AclControlManager.createAcls}: the records to write and each
    creation's result (None: created, or already there).

    @param new_id: A fresh ACL id (Kafka's C{Uuid.randomUuid}).
    """
    known = set(existing)
    records: list[mr.AccessControlEntryRecord] = []
    results: list[KafkaError | None] = []
    for acl in creations:
        try:
            validate_new_acl(acl)
        except KafkaError as e:
            results.append(e)
            continue
        if acl not in known:
            known.add(acl)
            records.append(record_of(new_id(), acl))
        results.append(None)
    return records, results


def validate_filter(acl_filter: AclBindingFilter) -> None:
    """
    Kafka's C{AclControlManager.validateFilter}.

    @raise KafkaError: INVALID_REQUEST with Kafka's message.
    """
    if acl_filter.pattern_is_unknown:
        raise _invalid("Unknown patternFilter.")
    if acl_filter.entry_is_unknown:
        raise _invalid("Unknown entryFilter.")


def plan_delete(
    acls: Mapping[uuid.UUID, AclBinding], filters: Sequence[AclBindingFilter]
) -> tuple[list[mr.RemoveAccessControlEntryRecord], list[KafkaError | list[AclBinding]]]:
    """
    Kafka's C{AclControlManager.deleteAcls}: the removal records (one per
    ACL, however many filters match it) and each filter's result: the ACLs
    it matched, or its error.
    """
    removed: dict[uuid.UUID, mr.RemoveAccessControlEntryRecord] = {}
    results: list[KafkaError | list[AclBinding]] = []
    for acl_filter in filters:
        try:
            validate_filter(acl_filter)
        except KafkaError as e:
            results.append(e)
            continue
        matched: list[AclBinding] = []
        for acl_id, acl in acls.items():
            if acl_filter.matches(acl):
                matched.append(acl)
                removed.setdefault(acl_id, mr.RemoveAccessControlEntryRecord(id=acl_id))
        results.append(matched)
    return list(removed.values()), results


__all__ = [
    "acl_of_codes",
    "binding_of_record",
    "check_constructible",
    "enum_of",
    "plan_create",
    "plan_delete",
    "record_of",
    "validate_filter",
    "validate_new_acl",
]
