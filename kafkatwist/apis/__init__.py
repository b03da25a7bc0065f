"""The handled APIs: one module each, and REGISTRY, the single list of them.

Adding an API means adding its module and one line here; ApiVersions,
dispatch, version checks and error replies all derive from this tuple.
"""

from __future__ import annotations

from kafkatwist.apis import (
    api_versions,
    create_partitions,
    create_topics,
    delete_records,
    delete_topics,
    describe_cluster,
    describe_log_dirs,
    describe_topic_partitions,
    fetch,
    list_offsets,
    metadata,
    offset_for_leader_epoch,
    produce,
)
from kafkatwist.apis._spec import ApiSpec

REGISTRY: tuple[ApiSpec, ...] = (
    produce.SPEC,
    fetch.SPEC,
    list_offsets.SPEC,
    metadata.SPEC,
    api_versions.SPEC,
    create_topics.SPEC,
    delete_topics.SPEC,
    create_partitions.SPEC,
    describe_topic_partitions.SPEC,
    delete_records.SPEC,
    offset_for_leader_epoch.SPEC,
    describe_log_dirs.SPEC,
    describe_cluster.SPEC,
)

__all__ = ["REGISTRY", "ApiSpec"]
