"""The handled APIs: one module each, and REGISTRY, the single list of them.

Adding an API means adding its module and one line here; ApiVersions,
dispatch, version checks and error replies all derive from this tuple.
"""

from __future__ import annotations

from kafkatwist.apis import (
    add_offsets_to_txn,
    add_partitions_to_txn,
    alter_client_quotas,
    alter_configs,
    alter_partition_reassignments,
    alter_replica_log_dirs,
    alter_user_scram_credentials,
    api_versions,
    consumer_group_describe,
    consumer_group_heartbeat,
    create_acls,
    create_partitions,
    create_topics,
    delete_acls,
    delete_groups,
    delete_records,
    delete_topics,
    describe_acls,
    describe_client_quotas,
    describe_cluster,
    describe_configs,
    describe_groups,
    describe_log_dirs,
    describe_producers,
    describe_quorum,
    describe_topic_partitions,
    describe_transactions,
    describe_user_scram_credentials,
    elect_leaders,
    end_txn,
    fetch,
    find_coordinator,
    get_telemetry_subscriptions,
    heartbeat,
    incremental_alter_configs,
    init_producer_id,
    join_group,
    leave_group,
    list_config_resources,
    list_groups,
    list_offsets,
    list_partition_reassignments,
    list_transactions,
    metadata,
    offset_commit,
    offset_delete,
    offset_fetch,
    offset_for_leader_epoch,
    produce,
    push_telemetry,
    sasl_authenticate,
    sasl_handshake,
    sync_group,
    txn_offset_commit,
    update_features,
    write_txn_markers,
)
from kafkatwist.apis._spec import ApiSpec

#: In API key order.
REGISTRY: tuple[ApiSpec, ...] = (
    produce.SPEC,  # 0
    fetch.SPEC,  # 1
    list_offsets.SPEC,  # 2
    metadata.SPEC,  # 3
    offset_commit.SPEC,  # 8
    offset_fetch.SPEC,  # 9
    find_coordinator.SPEC,  # 10
    join_group.SPEC,  # 11
    heartbeat.SPEC,  # 12
    leave_group.SPEC,  # 13
    sync_group.SPEC,  # 14
    describe_groups.SPEC,  # 15
    list_groups.SPEC,  # 16
    sasl_handshake.SPEC,  # 17
    api_versions.SPEC,  # 18
    create_topics.SPEC,  # 19
    delete_topics.SPEC,  # 20
    delete_records.SPEC,  # 21
    init_producer_id.SPEC,  # 22
    offset_for_leader_epoch.SPEC,  # 23
    add_partitions_to_txn.SPEC,  # 24
    add_offsets_to_txn.SPEC,  # 25
    end_txn.SPEC,  # 26
    write_txn_markers.SPEC,  # 27
    txn_offset_commit.SPEC,  # 28
    describe_acls.SPEC,  # 29
    create_acls.SPEC,  # 30
    delete_acls.SPEC,  # 31
    describe_configs.SPEC,  # 32
    alter_configs.SPEC,  # 33
    alter_replica_log_dirs.SPEC,  # 34
    describe_log_dirs.SPEC,  # 35
    sasl_authenticate.SPEC,  # 36
    create_partitions.SPEC,  # 37
    delete_groups.SPEC,  # 42
    elect_leaders.SPEC,  # 43
    incremental_alter_configs.SPEC,  # 44
    alter_partition_reassignments.SPEC,  # 45
    list_partition_reassignments.SPEC,  # 46
    offset_delete.SPEC,  # 47
    describe_client_quotas.SPEC,  # 48
    alter_client_quotas.SPEC,  # 49
    describe_user_scram_credentials.SPEC,  # 50
    alter_user_scram_credentials.SPEC,  # 51
    describe_quorum.SPEC,  # 55
    update_features.SPEC,  # 57
    describe_cluster.SPEC,  # 60
    describe_producers.SPEC,  # 61
    describe_transactions.SPEC,  # 65
    list_transactions.SPEC,  # 66
    consumer_group_heartbeat.SPEC,  # 68
    consumer_group_describe.SPEC,  # 69
    get_telemetry_subscriptions.SPEC,  # 71
    push_telemetry.SPEC,  # 72
    list_config_resources.SPEC,  # 74
    describe_topic_partitions.SPEC,  # 75
)

__all__ = ["REGISTRY", "ApiSpec"]
