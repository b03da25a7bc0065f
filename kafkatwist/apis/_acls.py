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

from kafkatwist.security.acl_control import acl_of_codes
from kafkatwist.security.acl_filter import AclBindingFilter

#: Kafka's message when an ACL API is called on a broker without an authorizer.
NO_AUTHORIZER = "No Authorizer is configured."


def unknown_elements(message: str, *codes: int) -> str | None:
    """C{message} (Kafka's, without its dump of the request) if any code is C{UNKNOWN} (0)."""
    return message if 0 in codes else None


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
    # The codes convert as an ACL's do; the nullable fields are set after.
    acl = acl_of_codes(resource_type, "", pattern_type, "", "", operation, permission)
    return AclBindingFilter(
        acl.resource_type,
        resource_name,
        acl.pattern_type,
        principal,
        host,
        acl.operation,
        acl.permission,
    )
