"""The handled APIs: one module each, and REGISTRY, the single list of them.

Adding an API means adding its module and one line here; ApiVersions,
dispatch, version checks and error replies all derive from this tuple.
"""

from __future__ import annotations

from kafkatwist.apis import (
    api_versions,
    create_partitions,
    create_topics,
    delete_groups,
    delete_topics,
    describe_groups,
    describe_topic_partitions,
    fetch,
    find_coordinator,
    heartbeat,
    join_group,
    leave_group,
    list_groups,
    metadata,
    offset_commit,
    offset_delete,
    offset_fetch,
    produce,
    sync_group,
)
from kafkatwist.apis._spec import ApiSpec

REGISTRY: tuple[ApiSpec, ...] = (
    produce.SPEC,
    fetch.SPEC,
    metadata.SPEC,
    api_versions.SPEC,
    create_topics.SPEC,
    delete_topics.SPEC,
    create_partitions.SPEC,
    describe_topic_partitions.SPEC,
    # Group coordinator (branch groups).
    offset_commit.SPEC,
    offset_fetch.SPEC,
    find_coordinator.SPEC,
    join_group.SPEC,
    heartbeat.SPEC,
    leave_group.SPEC,
    sync_group.SPEC,
    describe_groups.SPEC,
    list_groups.SPEC,
    delete_groups.SPEC,
    offset_delete.SPEC,
)

__all__ = ["REGISTRY", "ApiSpec"]
