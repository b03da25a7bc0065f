"""StandardAuthorizer: Kafka's ACL authorizer semantics over ACLs held in memory.

Kafka's C{StandardAuthorizer}/C{StandardAuthorizerData}: super users
(C{super.users}, compared as C{Type:name}) may do anything; otherwise the
ACLs whose pattern matches the resource decide: a literal name, the literal
wildcard C{*}, or a prefixed name that starts the resource's name. An ACL
applies when its principal is the caller's or C{User:*} (whatever the
caller's principal type), its host the client's address or C{*}, and its
operation the one asked, or C{ALL}. A matching DENY wins over any ALLOW; an
ALLOW of READ, WRITE, DELETE or ALTER implies DESCRIBE, and of ALTER_CONFIGS
implies DESCRIBE_CONFIGS (a DENY implies nothing). When ACLs match the
resource but none applies to the caller, the answer is no; only a resource
with no matching ACL at all takes the default, C{allow.everyone.if.no.acl.found}.

The ACLs come from the metadata log (C{AccessControlEntryRecord}): an
authorizer built with a L{AclSource} reloads them from the metadata image
whenever the image's ACLs changed (Kafka's C{loadSnapshot}); one built
without is fed by L{StandardAuthorizer.add} and L{StandardAuthorizer.remove}.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Protocol

from twisted.logger import Logger

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

#: Kafka's class name of this authorizer, the one C{authorizer.class.name}
#: value kafkatwist accepts besides the empty string (Kafka 4 removed the
#: ZooKeeper-based C{kafka.security.authorizer.AclAuthorizer}).
STANDARD_AUTHORIZER_CLASS = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
AUTHORIZER_CLASS_NAMES = frozenset({STANDARD_AUTHORIZER_CLASS})

#: Kafka's C{StandardAuthorizerData.WILDCARD_PRINCIPAL}: matches every principal.
WILDCARD_PRINCIPAL = "User:*"

#: How many distinct denials are logged (then no more: a client probing
#: names must not flood the log).
_MAX_LOGGED_DENIALS = 10_000

_Key = tuple[ResourceType, PatternType, str]

#: Kafka's audit logger (C{kafka.authorizer.logger}).
_audit = Logger(namespace="kafka.authorizer.logger")


class AclSource(Protocol):
    """Where the ACLs are: the metadata image (the metadata store satisfies this)."""

    @property
    def image(self) -> AclImage: ...


class AclImage(Protocol):
    """The part of the metadata image the authorizer reads."""

    @property
    def acls(self) -> Mapping[uuid.UUID, AclBinding]: ...

    @property
    def acl_generation(self) -> int: ...


def parse_super_users(value: str | None) -> frozenset[str]:
    """
    Kafka's C{StandardAuthorizer.getConfiguredSuperUsers}: C{super.users} is
    semicolon-separated, each entry trimmed, empty entries skipped.

    @raise ValueError: for an entry that is not C{Type:name}.
    """
    users: set[str] = set()
    for entry in (value or "").split(";"):
        entry = entry.strip()
        if entry:
            KafkaPrincipal.parse(entry)
            users.add(entry)
    return frozenset(users)


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
        source: AclSource | None = None,
    ) -> None:
        self.super_users = frozenset(super_users)
        self.allow_everyone_if_no_acl_found = allow_everyone_if_no_acl_found
        #: ACLs by (resource type, pattern type, name).
        self._acls: dict[_Key, set[AclBinding]] = {}
        #: The lengths of the PREFIXED names, by resource type (to look up only those prefixes).
        self._prefix_lengths: dict[ResourceType, dict[int, int]] = {}
        self._source = source
        self._image: AclImage | None = None
        self._generation = -1
        self._denials: set[tuple[str, str, AclOperation, ResourceType, str]] = set()
        self.add(acls)

    # -- the ACLs ---------------------------------------------------------------

    def add(self, acls: Iterable[AclBinding]) -> None:
        """Add ACLs (replaying C{AccessControlEntryRecord}s)."""
        for acl in acls:
            key = (acl.resource_type, acl.pattern_type, acl.resource_name)
            bucket = self._acls.setdefault(key, set())
            if not bucket and acl.pattern_type == PatternType.PREFIXED:
                lengths = self._prefix_lengths.setdefault(acl.resource_type, {})
                size = len(acl.resource_name)
                lengths[size] = lengths.get(size, 0) + 1
            bucket.add(acl)

    def remove(self, acls: Iterable[AclBinding]) -> None:
        """Remove ACLs (replaying C{RemoveAccessControlEntryRecord}s); absent ones are ignored."""
        for acl in acls:
            key = (acl.resource_type, acl.pattern_type, acl.resource_name)
            bucket = self._acls.get(key)
            if bucket is None:
                continue
            bucket.discard(acl)
            if bucket:
                continue
            del self._acls[key]
            if acl.pattern_type == PatternType.PREFIXED:
                lengths = self._prefix_lengths[acl.resource_type]
                size = len(acl.resource_name)
                lengths[size] -= 1
                if not lengths[size]:
                    del lengths[size]

    def acls(self) -> list[AclBinding]:
        """Every ACL."""
        self._refresh()
        return [acl for bucket in self._acls.values() for acl in bucket]

    def _refresh(self) -> None:
        """Reload the ACLs from the source's image when they changed (Kafka's C{loadSnapshot})."""
        if self._source is None:
            return
        image = self._source.image
        if image is self._image and image.acl_generation == self._generation:
            return
        self._image, self._generation = image, image.acl_generation
        self._acls.clear()
        self._prefix_lengths.clear()
        self.add(image.acls.values())

    # -- decisions ---------------------------------------------------------------

    def is_super_user(self, principal: KafkaPrincipal) -> bool:
        return str(principal) in self.super_users

    def _resource_acls(self, resource_type: ResourceType, name: str) -> Iterable[AclBinding]:
        """The ACLs whose pattern matches the resource: literal, wildcard, prefixed."""
        acls = self._acls
        yield from acls.get((resource_type, PatternType.LITERAL, name), ())
        if name != WILDCARD_RESOURCE:
            yield from acls.get((resource_type, PatternType.LITERAL, WILDCARD_RESOURCE), ())
        for size in self._prefix_lengths.get(resource_type, {}):
            if size <= len(name):
                yield from acls.get((resource_type, PatternType.PREFIXED, name[:size]), ())

    def authorize(
        self,
        principal: KafkaPrincipal,
        host: str,
        operation: AclOperation,
        resource_type: ResourceType,
        resource_name: str,
    ) -> bool:
        """
        Whether C{principal}, connected from C{host}, may do C{operation} on the resource
        (Kafka's C{StandardAuthorizerData.authorize} and C{findAclRule}).
        """
        return self._decide(principal, host, operation, resource_type, resource_name, log=True)

    def _decide(
        self,
        principal: KafkaPrincipal,
        host: str,
        operation: AclOperation,
        resource_type: ResourceType,
        resource_name: str,
        *,
        log: bool,
    ) -> bool:
        if self.is_super_user(principal):
            return True
        self._refresh()
        caller = str(principal)
        implied = IMPLIED_BY.get(operation, frozenset())
        found = allowed = False
        for acl in self._resource_acls(resource_type, resource_name):
            found = True
            if acl.principal != caller and acl.principal != WILDCARD_PRINCIPAL:
                continue
            if acl.host != WILDCARD_HOST and acl.host != host:
                continue
            if acl.permission == AclPermissionType.DENY:
                if acl.operation == operation or acl.operation == AclOperation.ALL:
                    if log:
                        self._denied(caller, host, operation, resource_type, resource_name)
                    return False
            elif acl.permission == AclPermissionType.ALLOW and (
                acl.operation == operation
                or acl.operation == AclOperation.ALL
                or acl.operation in implied
            ):
                allowed = True
        if allowed:
            return True
        if not found and self.allow_everyone_if_no_acl_found:
            return True
        if log:
            self._denied(caller, host, operation, resource_type, resource_name)
        return False

    def _denied(
        self,
        principal: str,
        host: str,
        operation: AclOperation,
        resource_type: ResourceType,
        name: str,
    ) -> None:
        """Log a denial at debug, once per distinct one (Kafka: C{kafka.authorizer.logger})."""
        key = (principal, host, operation, resource_type, name)
        if key in self._denials or len(self._denials) >= _MAX_LOGGED_DENIALS:
            return
        self._denials.add(key)
        _audit.debug(
            "Principal = {principal} is Denied operation = {operation} from host = {host}"
            " on resource = {resource}:LITERAL:{name}",
            principal=principal,
            operation=operation.name,
            host=host,
            resource=resource_type.name,
            name=name,
        )

    def authorize_by_resource_type(
        self,
        principal: KafkaPrincipal,
        host: str,
        operation: AclOperation,
        resource_type: ResourceType,
    ) -> bool:
        """
        Whether C{principal} may do C{operation} on some resource of the type
        (Kafka's default C{Authorizer.authorizeByResourceType}, KIP-679: e.g.
        WRITE on any topic lets InitProducerId give an idempotent producer its id).

        First the operation is checked on a made-up name (so super users,
        wildcard ALLOWs and the no-ACL default apply); then some ALLOW
        (literal or prefixed) must not be covered by a DENY of the same
        literal name or of a prefix of it; a wildcard DENY denies.

        @raise ValueError: for the filter values ANY and UNKNOWN.
        """
        _check_args(operation, resource_type)
        if self._decide(principal, host, operation, resource_type, "hardcode", log=False):
            return True
        caller = str(principal)
        denied: dict[PatternType, set[str]] = {
            PatternType.LITERAL: set(),
            PatternType.PREFIXED: set(),
        }
        allowed: dict[PatternType, set[str]] = {
            PatternType.LITERAL: set(),
            PatternType.PREFIXED: set(),
        }
        wildcard_allowed = False
        for (rtype, pattern, name), bucket in self._acls.items():
            if rtype != resource_type:
                continue
            for acl in bucket:
                if acl.host != host and acl.host != WILDCARD_HOST:
                    continue
                if acl.principal != caller and acl.principal != WILDCARD_PRINCIPAL:
                    continue
                if acl.operation != operation and acl.operation != AclOperation.ALL:
                    continue
                if acl.permission == AclPermissionType.DENY:
                    if pattern == PatternType.LITERAL and name == WILDCARD_RESOURCE:
                        return False
                    denied[pattern].add(name)
                elif acl.permission == AclPermissionType.ALLOW:
                    if pattern == PatternType.LITERAL and name == WILDCARD_RESOURCE:
                        wildcard_allowed = True
                    else:
                        allowed[pattern].add(name)
        if wildcard_allowed:
            return True
        denied_prefixes = denied[PatternType.PREFIXED]
        for pattern in (PatternType.LITERAL, PatternType.PREFIXED):
            for name in allowed[pattern]:
                if pattern == PatternType.LITERAL and name in denied[PatternType.LITERAL]:
                    continue
                if not any(name[:i] in denied_prefixes for i in range(1, len(name) + 1)):
                    return True
        return False


def _check_args(operation: AclOperation, resource_type: ResourceType) -> None:
    """Kafka's C{SecurityUtils.authorizeByResourceTypeCheckArgs}."""
    if resource_type == ResourceType.ANY:
        raise ValueError("Must specify a non-filter resource type for authorizeByResourceType")
    if resource_type == ResourceType.UNKNOWN:
        raise ValueError("Unknown resource type")
    if operation == AclOperation.ANY:
        raise ValueError("Must specify a non-filter operation type for authorizeByResourceType")
    if operation == AclOperation.UNKNOWN:
        raise ValueError("Unknown operation type")
