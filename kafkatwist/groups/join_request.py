"""What a JoinGroup asks, independent of the request version."""

from __future__ import annotations

from attrs import frozen

from kafkatwist.groups.state import Protocols


@frozen
class JoinRequest:
    """What JoinGroup asks, independent of the request version."""

    group_id: str
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    session_timeout_ms: int
    rebalance_timeout_ms: int
    protocol_type: str
    protocols: Protocols
    #: v4+: a join without member id gets MEMBER_ID_REQUIRED (KIP-394).
    require_known_member_id: bool = True
    #: v9+: a static leader rejoining a stable group skips the assignment.
    supports_skip_assignment: bool = True
