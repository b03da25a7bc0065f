"""The handled APIs: one module each, and REGISTRY, the single list of them.

Adding an API means adding its module and one line here; ApiVersions,
dispatch, version checks and error replies all derive from this tuple.
"""

from __future__ import annotations

from kafkatwist.apis import (
    alter_configs,
    api_versions,
    create_partitions,
    create_topics,
    delete_records,
    delete_topics,
    describe_cluster,
    describe_configs,
    describe_log_dirs,
    describe_topic_partitions,
    fetch,
    incremental_alter_configs,
    init_producer_id,
    list_offsets,
    metadata,
    offset_for_leader_epoch,
    produce,
)
from kafkatwist.apis._spec import ApiSpec

#: In API key order.
REGISTRY: tuple[ApiSpec, ...] = (
    produce.SPEC,  # 0
    fetch.SPEC,  # 1
    list_offsets.SPEC,  # 2
    metadata.SPEC,  # 3
    api_versions.SPEC,  # 18
    create_topics.SPEC,  # 19
    delete_topics.SPEC,  # 20
    delete_records.SPEC,  # 21
    init_producer_id.SPEC,  # 22
    offset_for_leader_epoch.SPEC,  # 23
    describe_configs.SPEC,  # 32
    alter_configs.SPEC,  # 33
    describe_log_dirs.SPEC,  # 35
    create_partitions.SPEC,  # 37
    incremental_alter_configs.SPEC,  # 44
    describe_cluster.SPEC,  # 60
    describe_topic_partitions.SPEC,  # 75
)

__all__ = ["REGISTRY", "ApiSpec"]
