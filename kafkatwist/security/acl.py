"""Kafka's ACL vocabulary: resource, operation, pattern and permission types, and AclBinding.

The codes are Kafka's (C{org.apache.kafka.common.acl.AclOperation},
C{AclPermissionType}, C{resource.ResourceType}, C{resource.PatternType}),
as CreateAcls, DescribeAcls, DeleteAcls and C{AccessControlEntryRecord} carry them.
"""

from __future__ import annotations

from enum import IntEnum

from attrs import frozen

#: The resource name that matches every name (Kafka's C{ResourcePattern.WILDCARD_RESOURCE}).
WILDCARD_RESOURCE = "*"
#: The host that matches every host (Kafka's C{AccessControlEntry.WILDCARD_HOST}... C{"*"}).
WILDCARD_HOST = "*"
#: The name of the one CLUSTER resource (Kafka's C{Resource.CLUSTER_NAME}).
CLUSTER_NAME = "kafka-cluster"


class ResourceType(IntEnum):
    UNKNOWN = 0
    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5
    DELEGATION_TOKEN = 6
    USER = 7


class AclOperation(IntEnum):
    UNKNOWN = 0
    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12
    CREATE_TOKENS = 13
    DESCRIBE_TOKENS = 14
    TWO_PHASE_COMMIT = 15


class PatternType(IntEnum):
    UNKNOWN = 0
    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


class AclPermissionType(IntEnum):
    UNKNOWN = 0
    ANY = 1
    DENY = 2
    ALLOW = 3


#: The operations an ALLOW of the key implies besides itself (Kafka's
#: C{StandardAuthorizerData}: DESCRIBE is implied by READ, WRITE, DELETE and
#: ALTER; DESCRIBE_CONFIGS by ALTER_CONFIGS).
IMPLIED_BY: dict[AclOperation, frozenset[AclOperation]] = {
    AclOperation.DESCRIBE: frozenset(
        {AclOperation.READ, AclOperation.WRITE, AclOperation.DELETE, AclOperation.ALTER}
    ),
    AclOperation.DESCRIBE_CONFIGS: frozenset({AclOperation.ALTER_CONFIGS}),
}


@frozen
class AclBinding:
    """
    One ACL: a resource pattern and an access control entry (Kafka's C{AclBinding}).

    @ivar principal: C{User:alice}, or C{User:*} for every user.
    @ivar host: an IP address, or C{*} for every host.
    """

    resource_type: ResourceType
    resource_name: str
    pattern_type: PatternType
    principal: str
    host: str
    operation: AclOperation
    permission: AclPermissionType
