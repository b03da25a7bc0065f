"""ApiSpec, the registry entry of one API, and RequestContext, what a handler sees."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
from attrs import define, frozen

from kafkatwist.clock import HandlingTimer
from kafkatwist.errors import ErrorCode
from kafkatwist.security.acl import AclOperation, ResourceType
from kafkatwist.security.session import Session
from kafkatwist.wire.header import RequestHeader
from kafkatwist.wire.schema import field_specs
from kafkatwist.wire.versions import VersionRange

if TYPE_CHECKING:
    from kafkatwist.broker import Broker


@define
class RequestContext:
    """What a handler knows about the request besides its body."""

    header: RequestHeader
    broker: Broker
    #: The peer's address as C{host:port}, for log lines.
    peer: str = ""
    #: The host the client connected to, for advertising this listener.
    local_host: str | None = None
    #: The dispatcher's registry, by API key.
    apis: Mapping[int, ApiSpec] = attrs.field(factory=dict)
    #: What was already logged about this connection (one line per kind of
    #: refusal), shared by its requests.
    logged: set[str] = attrs.field(factory=set)
    #: The request's size in bytes, header included (Kafka's C{Request.sizeInBytes}).
    request_size: int = 0
    #: The connection's listener, principal and client host (shared by its requests).
    session: Session = attrs.field(factory=Session)
    #: Set by a handler whose client went over a quota: how long to mute the
    #: connection after the response (KIP-219), in ms.
    throttle_ms: int = 0
    #: The handler's running time (the request quota's measure), when timed.
    timer: HandlingTimer | None = None
    #: Whether the request quota was charged already (by the handler or the dispatcher).
    request_time_charged: bool = False

    @property
    def api_version(self) -> int:
        return self.header.api_version

    @property
    def user(self) -> str:
        """The principal's name, as quotas see it (C{ANONYMOUS} when unauthenticated)."""
        return self.session.principal.name

    def authorize(self, operation: AclOperation, resource_type: ResourceType, name: str) -> bool:
        """
        Whether the connection's principal may do C{operation} on the resource.

        Always true when the broker has no authorizer (C{authorizer.class.name} unset).
        """
        authorizer = self.broker.authorizer
        if authorizer is None:
            return True
        session = self.session
        return authorizer.authorize(
            session.principal, session.client_host, operation, resource_type, name
        )

    def authorize_by_resource_type(
        self, operation: AclOperation, resource_type: ResourceType
    ) -> bool:
        """Whether the principal may do C{operation} on some resource of the type (KIP-679)."""
        authorizer = self.broker.authorizer
        if authorizer is None:
            return True
        session = self.session
        return authorizer.authorize_by_resource_type(
            session.principal, session.client_host, operation, resource_type
        )

    @property
    def client_id(self) -> str:
        """The request header's client id (None is the empty string, as Kafka's quotas see it)."""
        return self.header.client_id or ""


Handler = Callable[[RequestContext, Any], Awaitable[Any]]
ErrorResponder = Callable[[Any, int, ErrorCode], Any]


def generic_error_response(response_cls: type) -> ErrorResponder:
    """
    An ``error_response`` for APIs whose response has a top-level ``error_code``.

    Kafka's ``AbstractRequest.getErrorResponse`` does the same for such APIs:
    the whole response carries the one code and otherwise holds defaults.
    """
    error_field = next((f for a, f in field_specs(response_cls) if a.name == "error_code"), None)

    def error_response(request: Any, version: int, code: ErrorCode) -> Any:
        if error_field is not None and version in error_field.versions:
            return response_cls(error_code=int(code))
        return response_cls()

    return error_response


@frozen
class ApiSpec:
    """
    One handled API: its key, the versions it serves and its handler.

    @ivar versions: The versions served; a request at another version closes
        the connection (Kafka's C{UnsupportedVersionException} while parsing).
    @ivar advertised: What ApiVersions lists, C{versions} unless Kafka lists
        more than it serves: Produce, whose v0-2 Kafka 4.x still advertises
        for librdkafka's sake (KAFKA-18659, C{ApiKeys.PRODUCE_API_VERSIONS_RESPONSE_MIN_VERSION}).
    @ivar unused_fields: The request fields the handler deliberately never
        reads and the response fields it never sets, at the versions it
        serves, each with the reason (e.g. C{"ReplicaState.replica_epoch":
        "follower-only: a single broker has no followers"}). Keys are
        C{StructName.field_name}, the generated model's class and attribute.
        tests/apis/test_advertised_fields.py checks every other field is
        handled.
    """

    api_key: int
    versions: VersionRange
    request: type
    response: type
    handle: Handler
    error_response: ErrorResponder = attrs.field()
    advertised: VersionRange = attrs.field()
    unused_fields: Mapping[str, str] = attrs.field(factory=dict, eq=False)

    @error_response.default
    def _default_error_response(self) -> ErrorResponder:
        return generic_error_response(self.response)

    @advertised.default
    def _default_advertised(self) -> VersionRange:
        return self.versions

    @property
    def name(self) -> str:
        return self.request.__name__.removesuffix("Request")
