"""What CreateAcls, DescribeAcls and DeleteAcls share: Kafka's request checks and conversions.

Kafka's C{CreateAclsRequest}, C{DescribeAclsRequest} and
C{DeleteAclsRequest} refuse, while parsing, a resource type, pattern type,
operation or permission of code 0 (C{UNKNOWN}), with an
C{IllegalArgumentException} that Kafka's socket server answers by closing
the connection; kafkatwist answers the whole request INVALID_REQUEST with
Kafka's message instead (every API answers a request that decodes). Any
other unknown code becomes C{UNKNOWN} (C{fromCode}) and is answered later.
"""

from __future__ import annotations

from kafkatwist.security.acl import AclBinding, AclOperation, AclPermissionType, PatternType
from kafkatwist.security.acl import ResourceType as RT
from kafkatwist.security.acl_control import enum_of
from kafkatwist.security.acl_filter import AclBindingFilter

#: Kafka's message when an ACL API is called on a broker without an authorizer.
NO_AUTHORIZER = "No Authorizer is configured."


def unknown_elements(what: str, *codes: int) -> str | None:
    """Kafka's parse-time message if any code is C{UNKNOWN} (0), else None."""
    return f"{what} contain UNKNOWN elements" if 0 in codes else None


def acl_binding(
    resource_type: int,
    resource_name: str,
    pattern_type: int,
    principal: str,
    host: str,
    operation: int,
    permission: int,
) -> AclBinding:
    """An ACL from a request's codes (Kafka's C{CreateAclsRequest.aclBinding})."""
    return AclBinding(
        enum_of(RT, resource_type),
        resource_name,
        enum_of(PatternType, pattern_type),
        principal,
        host,
        enum_of(AclOperation, operation),
        enum_of(AclPermissionType, permission),
    )


def acl_filter(
    resource_type: int,
    resource_name: str | None,
    pattern_type: int,
    principal: str | None,
    host: str | None,
    operation: int,
    permission: int,
) -> AclBindingFilter:
    """A filter from a request's codes (Kafka's C{DescribeAclsRequest.filter})."""
    return AclBindingFilter(
        enum_of(RT, resource_type),
        resource_name,
        enum_of(PatternType, pattern_type),
        principal,
        host,
        enum_of(AclOperation, operation),
        enum_of(AclPermissionType, permission),
    )
