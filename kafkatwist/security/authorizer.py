"""StandardAuthorizer: Kafka's ACL authorizer semantics over ACLs held in memory.

Kafka's C{StandardAuthorizer}/C{StandardAuthorizerData}: super users may do
anything; otherwise the ACLs on the resource decide (a literal name, the
wildcard C{*}, or any prefix of the name), for the principal or C{User:*},
from the client's host or C{*}. A matching DENY wins over any ALLOW; an
ALLOW of READ, WRITE, DELETE or ALTER implies DESCRIBE, and of
ALTER_CONFIGS implies DESCRIBE_CONFIGS. A resource with no ACL at all is
allowed only if C{allow.everyone.if.no.acl.found}.

The ACLs come from the metadata log (C{AccessControlEntryRecord}); whoever
replays it calls L{StandardAuthorizer.add} and L{StandardAuthorizer.remove}.
"""

from __future__ import annotations

from collections.abc import Iterable

from kafkatwist.security.acl import (
    IMPLIED_BY,
    WILDCARD_HOST,
    WILDCARD_RESOURCE,
    AclBinding,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourceType,
)
from kafkatwist.security.principal import KafkaPrincipal

#: Kafka's accepted values of C{authorizer.class.name} for this authorizer.
AUTHORIZER_CLASS_NAMES = frozenset(
    {
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "kafka.security.authorizer.AclAuthorizer",
    }
)


class StandardAuthorizer:
    """
    Decide whether a principal may do an operation on a resource.

    @ivar super_users: principals (C{User:admin}) allowed everything (C{super.users}).
    @ivar allow_everyone_if_no_acl_found: C{allow.everyone.if.no.acl.found}.
    """

    def __init__(
        self,
        super_users: Iterable[str] = (),
        *,
        allow_everyone_if_no_acl_found: bool = False,
        acls: Iterable[AclBinding] = (),
    ) -> None:
        self.super_users = frozenset(super_users)
        self.allow_everyone_if_no_acl_found = allow_everyone_if_no_acl_found
        #: ACLs by (resource type, pattern type, name).
        self._acls: dict[tuple[ResourceType, PatternType, str], set[AclBinding]] = {}
        self.add(acls)

    def add(self, acls: Iterable[AclBinding]) -> None:
        """Add ACLs (replaying C{AccessControlEntryRecord}s)."""
        for acl in acls:
            key = (acl.resource_type, acl.pattern_type, acl.resource_name)
            self._acls.setdefault(key, set()).add(acl)

    def remove(self, acls: Iterable[AclBinding]) -> None:
        """Remove ACLs (replaying C{RemoveAccessControlEntryRecord}s); absent ones are ignored."""
        for acl in acls:
            key = (acl.resource_type, acl.pattern_type, acl.resource_name)
            bucket = self._acls.get(key)
            if bucket is not None:
                bucket.discard(acl)
                if not bucket:
                    del self._acls[key]

    def acls(self) -> list[AclBinding]:
        """Every ACL."""
        return [acl for bucket in self._acls.values() for acl in bucket]

    def is_super_user(self, principal: KafkaPrincipal) -> bool:
        return str(principal) in self.super_users

    def _resource_acls(self, resource_type: ResourceType, name: str) -> Iterable[AclBinding]:
        """The ACLs whose pattern matches the resource: literal, wildcard, prefixed."""
        for key in (
            (resource_type, PatternType.LITERAL, name),
            (resource_type, PatternType.LITERAL, WILDCARD_RESOURCE),
        ):
            yield from self._acls.get(key, ())
        for i in range(1, len(name) + 1):
            yield from self._acls.get((resource_type, PatternType.PREFIXED, name[:i]), ())

    def authorize(
        self,
        principal: KafkaPrincipal,
        host: str,
        operation: AclOperation,
        resource_type: ResourceType,
        resource_name: str,
    ) -> bool:
        """Whether C{principal}, connected from C{host}, may do C{operation} on the resource."""
        if self.is_super_user(principal):
            return True
        principals = {str(principal), f"{principal.principal_type}:*"}
        implied = IMPLIED_BY.get(operation, frozenset())
        found = allowed = False
        for acl in self._resource_acls(resource_type, resource_name):
            found = True
            if acl.principal not in principals or acl.host not in (host, WILDCARD_HOST):
                continue
            if acl.permission == AclPermissionType.DENY:
                if acl.operation in (operation, AclOperation.ALL):
                    return False
            elif acl.operation in (operation, AclOperation.ALL) or acl.operation in implied:
                allowed = True
        if allowed:
            return True
        return not found and self.allow_everyone_if_no_acl_found

    def authorize_by_resource_type(
        self,
        principal: KafkaPrincipal,
        host: str,
        operation: AclOperation,
        resource_type: ResourceType,
    ) -> bool:
        """
        Whether C{principal} may do C{operation} on some resource of the type
        (Kafka's C{Authorizer.authorizeByResourceType}, KIP-679: e.g. WRITE on
        any topic lets InitProducerId give an idempotent producer its id).
        """
        if self.is_super_user(principal):
            return True
        principals = {str(principal), f"{principal.principal_type}:*"}
        denied: set[tuple[PatternType, str]] = set()
        allowed: set[tuple[PatternType, str]] = set()
        any_acl = False
        for (rtype, pattern, name), bucket in self._acls.items():
            if rtype != resource_type:
                continue
            any_acl = True
            for acl in bucket:
                if acl.principal not in principals or acl.host not in (host, WILDCARD_HOST):
                    continue
                if acl.operation not in (operation, AclOperation.ALL):
                    continue
                if acl.permission == AclPermissionType.DENY:
                    denied.add((pattern, name))
                else:
                    allowed.add((pattern, name))
        if (PatternType.LITERAL, WILDCARD_RESOURCE) in denied:
            return False
        for pattern, name in allowed:
            if pattern == PatternType.LITERAL and (PatternType.LITERAL, name) in denied:
                continue
            if any(
                d_pattern == PatternType.PREFIXED and name.startswith(d_name)
                for d_pattern, d_name in denied
            ):
                continue
            return True
        return not any_acl and self.allow_everyone_if_no_acl_found
