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
    delete_topics,
    describe_configs,
    describe_topic_partitions,
    fetch,
    incremental_alter_configs,
    metadata,
    produce,
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
    describe_configs.SPEC,
    alter_configs.SPEC,
    incremental_alter_configs.SPEC,
    describe_topic_partitions.SPEC,
)

__all__ = ["REGISTRY", "ApiSpec"]
