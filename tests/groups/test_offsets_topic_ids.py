"""OffsetCommit and OffsetFetch v10: topics named by id (KIP-848), through kafka-python."""

from __future__ import annotations

import uuid
from typing import Any

from kafka.protocol.consumer.group import OffsetCommitRequest as ClientCommitRequest
from kafka.protocol.consumer.group import OffsetCommitResponse as ClientCommitResponse
from kafka.protocol.consumer.group import OffsetFetchRequest as ClientFetchRequest
from kafka.protocol.consumer.group import OffsetFetchResponse as ClientFetchResponse

from kafkatwist.apis import REGISTRY, offset_commit, offset_fetch
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.offset_commit import (
    OffsetCommitRequest,
    OffsetCommitRequestPartition,
    OffsetCommitRequestTopic,
)
from kafkatwist.wire import schema
from tests.brokers import call
from tests.groups.test_rebalance import GroupTestCase
from tests.offsets_support import client_roundtrip

NONE = int(ErrorCode.NONE)
UNKNOWN_ID = uuid.UUID(int=77)
ZERO = uuid.UUID(int=0)


class TopicIdOffsetsTests(GroupTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.gb.topic("t", 2)
        self.gb.topic("u", 1)
        topics = self.gb.broker.metadata.image.topics
        self.t_id, self.u_id = topics["t"].topic_id, topics["u"].topic_id

    def commit(self, topics: list[tuple[uuid.UUID, list[tuple[int, int]]]], **kw: Any) -> Any:
        """A kafka-python OffsetCommit v10 by topic id, answered, decoded by kafka-python."""
        T = ClientCommitRequest.OffsetCommitRequestTopic
        P = T.OffsetCommitRequestPartition
        request = ClientCommitRequest(
            group_id="g",
            generation_id_or_member_epoch=kw.get("generation", -1),
            member_id=kw.get("member_id", ""),
            group_instance_id=None,
            topics=[
                T(
                    topic_id=tid,
                    partitions=[
                        P(
                            partition_index=p,
                            committed_offset=o,
                            committed_leader_epoch=-1,
                            committed_metadata="m",
                        )
                        for p, o in parts
                    ],
                )
                for tid, parts in topics
            ],
        )
        return client_roundtrip(
            self, self.gb.broker, offset_commit.SPEC, request, ClientCommitResponse, 10
        )

    def fetch(self, topics: list[tuple[uuid.UUID, list[int]]] | None) -> Any:
        """A kafka-python OffsetFetch v10 for group g, answered, decoded by kafka-python."""
        G = ClientFetchRequest.OffsetFetchRequestGroup
        request = ClientFetchRequest(
            groups=[
                G(
                    group_id="g",
                    member_id=None,
                    member_epoch=-1,
                    topics=None
                    if topics is None
                    else [
                        G.OffsetFetchRequestTopics(topic_id=tid, partition_indexes=ps)
                        for tid, ps in topics
                    ],
                )
            ],
            require_stable=True,
        )
        response = client_roundtrip(
            self, self.gb.broker, offset_fetch.SPEC, request, ClientFetchResponse, 10
        )
        (group,) = response.groups
        self.assertEqual((group.group_id, group.error_code), ("g", NONE))
        return group

    def test_registered(self) -> None:
        """OffsetCommit and OffsetFetch are registered up to v10."""
        self.assertIn(offset_commit.SPEC, REGISTRY)
        self.assertEqual(offset_commit.SPEC.versions.highest, 10)
        self.assertEqual(offset_fetch.SPEC.versions.highest, 10)

    def test_commit_by_id_echoes_ids(self) -> None:
        """A v10 commit resolves each id to its topic, stores by name and echoes the ids."""
        response = self.commit([(self.t_id, [(0, 5), (1, 7)]), (self.u_id, [(0, 2)])])
        self.assertEqual(
            [
                (t.topic_id, [(p.partition_index, p.error_code) for p in t.partitions])
                for t in response.topics
            ],
            [(self.t_id, [(0, NONE), (1, NONE)]), (self.u_id, [(0, NONE)])],
        )
        self.assertEqual(self.gb.committed("g", "t", [0, 1]), {0: 5, 1: 7})
        self.assertEqual(self.gb.committed("g", "u", [0]), {0: 2})

    def test_commit_unknown_id(self) -> None:
        """An unknown id (or the zero id) is UNKNOWN_TOPIC_ID per partition; others still commit."""
        response = self.commit(
            [(UNKNOWN_ID, [(0, 1), (3, 1)]), (ZERO, [(0, 1)]), (self.t_id, [(0, 9), (5, 1)])]
        )
        unknown_id = int(ErrorCode.UNKNOWN_TOPIC_ID)
        self.assertEqual(
            [
                (t.topic_id, [(p.partition_index, p.error_code) for p in t.partitions])
                for t in response.topics
            ],
            [
                (UNKNOWN_ID, [(0, unknown_id), (3, unknown_id)]),
                (None, [(0, unknown_id)]),  # kafka-python decodes the zero id as None
                (self.t_id, [(0, NONE), (5, int(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION))]),
            ],
        )
        self.assertEqual(self.gb.committed("g", "t", [0]), {0: 9})

    def test_commit_v9_names_unchanged(self) -> None:
        """v9 still names topics; an unknown name is UNKNOWN_TOPIC_OR_PARTITION."""
        request = OffsetCommitRequest(
            group_id="g",
            topics=(
                OffsetCommitRequestTopic(
                    name="nope",
                    partitions=(
                        OffsetCommitRequestPartition(partition_index=0, committed_offset=1),
                    ),
                ),
            ),
        )
        response = self.successResultOf(call(self.gb.broker, offset_commit.SPEC, request, 9))
        schema.encode_bytes(response, 9)
        (topic,) = response.topics
        self.assertEqual(
            (topic.name, topic.partitions[0].error_code),
            ("nope", int(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)),
        )

    def test_commit_error_response_echoes_ids(self) -> None:
        """The whole-request error answer (v10) names each topic by its id."""
        request = OffsetCommitRequest(
            group_id="g",
            topics=(
                OffsetCommitRequestTopic(
                    topic_id=self.t_id,
                    partitions=(
                        OffsetCommitRequestPartition(partition_index=1, committed_offset=1),
                    ),
                ),
            ),
        )
        response = offset_commit.SPEC.error_response(request, 10, ErrorCode.NOT_COORDINATOR)
        decoded = ClientCommitResponse.decode(schema.encode_bytes(response, 10), version=10)
        (topic,) = decoded.topics
        self.assertEqual(topic.topic_id, self.t_id)
        self.assertEqual(topic.partitions[0].error_code, ErrorCode.NOT_COORDINATOR)

    def test_fetch_by_id(self) -> None:
        """A v10 fetch resolves ids; unknown ids come last, UNKNOWN_TOPIC_ID with offset -1."""
        self.commit([(self.t_id, [(0, 5)]), (self.u_id, [(0, 2)])])
        group = self.fetch([(UNKNOWN_ID, [0]), (self.t_id, [0, 1]), (self.u_id, [0])])
        answers = [
            (
                t.topic_id,
                [
                    (p.partition_index, p.committed_offset, p.metadata, p.error_code)
                    for p in t.partitions
                ],
            )
            for t in group.topics
        ]
        self.assertEqual(
            answers,
            [
                (self.t_id, [(0, 5, "m", NONE), (1, -1, "", NONE)]),
                (self.u_id, [(0, 2, "m", NONE)]),
                (UNKNOWN_ID, [(0, -1, "", int(ErrorCode.UNKNOWN_TOPIC_ID))]),
            ],
        )

    def test_fetch_all_names_topics_by_id(self) -> None:
        """A v10 fetch of every committed partition names topics by id, leaving out deleted ones."""
        self.commit([(self.t_id, [(1, 4)]), (self.u_id, [(0, 2)])])
        controller = self.gb.broker.controller
        self.successResultOf(controller.delete_topic(self.gb.broker.metadata.image.topics["u"]))
        group = self.fetch(None)
        self.assertEqual(
            [
                (t.topic_id, [(p.partition_index, p.committed_offset) for p in t.partitions])
                for t in group.topics
            ],
            [(self.t_id, [(1, 4)])],
        )
