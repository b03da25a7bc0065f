"""AclBindingFilter: which ACLs DescribeAcls lists and DeleteAcls removes.

Kafka's C{AclBindingFilter} (C{ResourcePatternFilter} plus
C{AccessControlEntryFilter}): C{ANY} matches every value, a null name,
principal or host matches every one; pattern type C{MATCH} with a name
matches the ACLs that apply to a resource of that name (the literal name,
the literal wildcard C{*}, and the prefixed patterns the name starts with);
any other pattern type with a name matches that exact pattern.
"""

from __future__ import annotations

from attrs import frozen

from kafkatwist.security.acl import (
    WILDCARD_RESOURCE,
    AclBinding,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourceType,
)

_RESOURCE_FILTERS = (PatternType.ANY, PatternType.MATCH)


@frozen
class AclBindingFilter:
    """
    A filter on ACLs, as DescribeAcls and DeleteAcls carry one.

    @ivar resource_name: None matches every name.
    @ivar principal: None matches every principal.
    @ivar host: None matches every host.
    """

    resource_type: ResourceType
    resource_name: str | None
    pattern_type: PatternType
    principal: str | None
    host: str | None
    operation: AclOperation
    permission: AclPermissionType

    @property
    def pattern_is_unknown(self) -> bool:
        """Kafka's C{ResourcePatternFilter.isUnknown}."""
        return (
            self.resource_type == ResourceType.UNKNOWN or self.pattern_type == PatternType.UNKNOWN
        )

    @property
    def entry_is_unknown(self) -> bool:
        """Kafka's C{AccessControlEntryFilter.isUnknown}."""
        return (
            self.operation == AclOperation.UNKNOWN or self.permission == AclPermissionType.UNKNOWN
        )

    def matches(self, acl: AclBinding) -> bool:
        """Kafka's C{AclBindingFilter.matches}: the pattern filter and the entry filter."""
        return self._matches_pattern(acl) and self._matches_entry(acl)

    def _matches_pattern(self, acl: AclBinding) -> bool:
        """Kafka's C{ResourcePatternFilter.matches}."""
        if self.resource_type != ResourceType.ANY and self.resource_type != acl.resource_type:
            return False
        if self.pattern_type not in _RESOURCE_FILTERS and self.pattern_type != acl.pattern_type:
            return False
        name = self.resource_name
        if name is None:
            return True
        if self.pattern_type == PatternType.ANY or self.pattern_type == acl.pattern_type:
            return name == acl.resource_name
        # MATCH: the ACLs that apply to a resource called `name`.
        if acl.pattern_type == PatternType.LITERAL:
            return name == acl.resource_name or acl.resource_name == WILDCARD_RESOURCE
        if acl.pattern_type == PatternType.PREFIXED:
            return name.startswith(acl.resource_name)
        return False

    def _matches_entry(self, acl: AclBinding) -> bool:
        """Kafka's C{AccessControlEntryFilter.matches}."""
        if self.principal is not None and self.principal != acl.principal:
            return False
        if self.host is not None and self.host != acl.host:
            return False
        if self.operation != AclOperation.ANY and self.operation != acl.operation:
            return False
        return self.permission == AclPermissionType.ANY or self.permission == acl.permission


#: Every ACL (Kafka's C{AclBindingFilter.ANY}).
ANY_ACL = AclBindingFilter(
    ResourceType.ANY, None, PatternType.ANY, None, None, AclOperation.ANY, AclPermissionType.ANY
)
