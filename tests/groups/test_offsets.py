"""OffsetCommit and OffsetFetch: validation, metadata, retention and loading."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred

from kafkatwist.config.properties import BrokerConfig
from kafkatwist.errors import ErrorCode
from kafkatwist.groups import records as rec
from kafkatwist.wire.record import decode_batch_records
from tests.brokers import log_of, metadata_of
from tests.groups.support import GroupBroker
from tests.groups.test_rebalance import GroupTestCase
from tests.storage.support import stored_batches

NONE = int(ErrorCode.NONE)


def codes(response: Any) -> dict[tuple[str, int], int]:
    return {
        (t.name, p.partition_index): int(p.error_code)
        for t in response.topics
        for p in t.partitions
    }


def log_records(gb: GroupBroker, group: str) -> list[Any]:
    """The records of the group's __consumer_offsets partition, decoded."""
    topic = gb.broker.metadata.image.topics[rec.OFFSETS_TOPIC]
    log = log_of(gb.broker, rec.OFFSETS_TOPIC, rec.partition_for(group, len(topic.partitions)))
    out = []
    for batch in stored_batches(log):
        out.extend(decode_batch_records(batch))
    return out


class CommitFetchTests(GroupTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.gb.topic("t", 3)

    def test_standalone_commit_and_fetch(self) -> None:
        """A standalone consumer (generation -1, no member id) commits; OffsetFetch returns it."""
        response = self.successResultOf(
            self.gb.commit("solo", {("t", 0): 42, ("t", 2): 7}, metadata="m")
        )
        self.assertEqual(codes(response), {("t", 0): NONE, ("t", 2): NONE})
        fetched = self.gb.fetch("solo", {"t": [0, 1, 2]})
        parts = {p.partition_index: p for p in fetched.topics[0].partitions}
        self.assertEqual(parts[0].committed_offset, 42)
        self.assertEqual(parts[0].metadata, "m")
        self.assertEqual(parts[1].committed_offset, -1)
        self.assertEqual((parts[1].metadata, parts[1].error_code), ("", NONE))
        self.assertEqual(parts[2].committed_offset, 7)
        self.assertEqual(self.gb.describe("solo").groups[0].group_state, "Empty")

    def test_fetch_unknown_group(self) -> None:
        """OffsetFetch of a group without commits: offset -1, metadata "", no error."""
        fetched = self.gb.fetch("nobody", {"t": [0]})
        self.assertEqual(fetched.error_code, NONE)
        p = fetched.topics[0].partitions[0]
        self.assertEqual(
            (p.committed_offset, p.metadata, p.error_code, p.committed_leader_epoch),
            (-1, "", NONE, -1),
        )

    def test_fetch_all_topics(self) -> None:
        """Null topics fetch every partition the group committed."""
        self.gb.topic("u", 1)
        self.successResultOf(self.gb.commit("solo", {("t", 1): 1, ("u", 0): 2}))
        fetched = self.gb.fetch("solo", None)
        self.assertEqual(
            {
                (t.name, p.partition_index, p.committed_offset)
                for t in fetched.topics
                for p in t.partitions
            },
            {("t", 1, 1), ("u", 0, 2)},
        )

    def test_fetch_batched_groups_v8(self) -> None:
        """OffsetFetch v8+ answers several groups, each with its own offsets."""
        self.successResultOf(self.gb.commit("a", {("t", 0): 1}))
        self.successResultOf(self.gb.commit("b", {("t", 0): 2}))
        from kafkatwist.apis import offset_fetch
        from kafkatwist.messages.offset_fetch import OffsetFetchRequest, OffsetFetchRequestGroup
        from tests.brokers import call

        req = OffsetFetchRequest(
            groups=(
                OffsetFetchRequestGroup(group_id="a", topics=None),
                OffsetFetchRequestGroup(group_id="b", topics=None),
                OffsetFetchRequestGroup(group_id="c", topics=None),
            )
        )
        response = self.successResultOf(call(self.gb.broker, offset_fetch.SPEC, req, 9))
        got = {
            g.group_id: [(t.name, [p.committed_offset for p in t.partitions]) for t in g.topics]
            for g in response.groups
        }
        self.assertEqual(got, {"a": [("t", [1])], "b": [("t", [2])], "c": []})

    def test_leader_epoch_kept(self) -> None:
        """The committed leader epoch comes back from OffsetFetch."""
        from kafkatwist.apis import offset_commit
        from kafkatwist.messages.offset_commit import (
            OffsetCommitRequest,
            OffsetCommitRequestPartition,
            OffsetCommitRequestTopic,
        )
        from tests.brokers import call

        req = OffsetCommitRequest(
            group_id="solo",
            topics=(
                OffsetCommitRequestTopic(
                    name="t",
                    partitions=(
                        OffsetCommitRequestPartition(
                            partition_index=0,
                            committed_offset=9,
                            committed_leader_epoch=4,
                            committed_metadata=None,
                        ),
                    ),
                ),
            ),
        )
        self.successResultOf(call(self.gb.broker, offset_commit.SPEC, req, 8))
        p = self.gb.fetch("solo", {"t": [0]}).topics[0].partitions[0]
        self.assertEqual((p.committed_offset, p.committed_leader_epoch, p.metadata), (9, 4, ""))

    def test_unknown_topic(self) -> None:
        """Commits to a topic that does not exist get UNKNOWN_TOPIC_OR_PARTITION."""
        response = self.successResultOf(self.gb.commit("solo", {("nope", 0): 1, ("t", 0): 1}))
        self.assertEqual(
            codes(response), {("nope", 0): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ("t", 0): NONE}
        )

    def test_metadata_too_large(self) -> None:
        """Metadata longer than 4096 gets OFFSET_METADATA_TOO_LARGE; 4096 is fine."""
        ok = self.successResultOf(self.gb.commit("solo", {("t", 0): 1}, metadata="x" * 4096))
        self.assertEqual(codes(ok), {("t", 0): NONE})
        big = self.successResultOf(self.gb.commit("solo", {("t", 0): 2}, metadata="x" * 4097))
        self.assertEqual(codes(big), {("t", 0): ErrorCode.OFFSET_METADATA_TOO_LARGE})
        self.assertEqual(self.gb.committed("solo", "t", [0]), {0: 1})

    def test_configured_metadata_limit(self) -> None:
        """offset.metadata.max.bytes from server.properties is the limit enforced."""
        config = BrokerConfig.from_properties({"offset.metadata.max.bytes": "10"})
        self.gb = GroupBroker(offset_metadata_max_bytes=config.offset_metadata_max_bytes)
        self.gb.topic("t", 1)
        ok = self.successResultOf(self.gb.commit("solo", {("t", 0): 1}, metadata="x" * 10))
        self.assertEqual(codes(ok), {("t", 0): NONE})
        big = self.successResultOf(self.gb.commit("solo", {("t", 0): 2}, metadata="x" * 11))
        self.assertEqual(codes(big), {("t", 0): ErrorCode.OFFSET_METADATA_TOO_LARGE})

    def test_member_commit_checks(self) -> None:
        """Member commits: current generation only, known members only, no standalone commits."""
        generation, ids, _ = self.stable(1)
        m = ids[0]

        def commit(**kw: Any) -> int:
            return codes(self.successResultOf(self.gb.commit("g", {("t", 0): 5}, **kw)))[("t", 0)]

        self.assertEqual(commit(generation=generation, member_id=m), NONE)
        self.assertEqual(
            commit(generation=generation + 1, member_id=m), ErrorCode.ILLEGAL_GENERATION
        )
        self.assertEqual(
            commit(generation=generation, member_id="forged"), ErrorCode.UNKNOWN_MEMBER_ID
        )
        self.assertEqual(commit(), ErrorCode.UNKNOWN_MEMBER_ID)  # standalone into a live group
        self.assertEqual(commit(generation=-1, member_id=m), ErrorCode.ILLEGAL_GENERATION)

    def test_commit_with_generation_to_unknown_group(self) -> None:
        """A member commit to a missing group: GROUP_ID_NOT_FOUND (v9), else ILLEGAL_GENERATION."""
        v9 = self.successResultOf(
            self.gb.commit("nope", {("t", 0): 1}, generation=3, member_id="m")
        )
        v8 = self.successResultOf(
            self.gb.commit("nope", {("t", 0): 1}, generation=3, member_id="m", version=8)
        )
        self.assertEqual(codes(v9)[("t", 0)], ErrorCode.GROUP_ID_NOT_FOUND)
        self.assertEqual(codes(v8)[("t", 0)], ErrorCode.ILLEGAL_GENERATION)
        self.assertNotIn("nope", self.gb.coordinator.groups)

    def test_commit_while_awaiting_assignment(self) -> None:
        """Commits between the join answer and the assignment get REBALANCE_IN_PROGRESS."""
        a = self.new_member()
        d = self.gb.join("g", a)
        self.gb.advance(0)
        generation = self.successResultOf(d).generation_id
        response = self.successResultOf(
            self.gb.commit("g", {("t", 0): 1}, generation=generation, member_id=a)
        )
        self.assertEqual(codes(response)[("t", 0)], ErrorCode.REBALANCE_IN_PROGRESS)

    def test_commit_while_preparing_rebalance_is_accepted(self) -> None:
        """A member may commit with its generation while the group prepares a rebalance."""
        generation, ids, _ = self.stable(1)
        self.gb.join("g", self.new_member())
        response = self.successResultOf(
            self.gb.commit("g", {("t", 0): 11}, generation=generation, member_id=ids[0])
        )
        self.assertEqual(codes(response)[("t", 0)], NONE)
        self.assertEqual(self.gb.committed("g", "t", [0]), {0: 11})

    def test_invalid_group_id(self) -> None:
        """A commit with an empty group id gets INVALID_GROUP_ID."""
        response = self.successResultOf(self.gb.commit("", {("t", 0): 1}))
        self.assertEqual(codes(response)[("t", 0)], ErrorCode.INVALID_GROUP_ID)

    def test_old_versions(self) -> None:
        """OffsetCommit v0-v1 and OffsetFetch v0-v1 work (per-partition errors)."""
        for version in (0, 1, 2):
            response = self.successResultOf(
                self.gb.commit("old", {("t", 0): version}, version=version)
            )
            self.assertEqual(codes(response), {("t", 0): NONE})
        for version in (0, 1, 3, 5):
            fetched = self.gb.fetch("old", {"t": [0]}, version=version)
            self.assertEqual(fetched.topics[0].partitions[0].committed_offset, 2)


class RetentionTests(GroupTestCase):
    def setUp(self) -> None:
        self.gb = GroupBroker(
            offsets_retention_minutes=60, offsets_retention_check_interval_ms=60000
        )
        self.gb.topic("t", 1)

    def test_standalone_offsets_expire_after_retention(self) -> None:
        """Offsets of a memberless group expire offsets.retention.minutes after the commit."""
        self.successResultOf(self.gb.commit("solo", {("t", 0): 3}))
        self.gb.advance(59 * 60_000)
        self.assertEqual(self.gb.committed("solo", "t", [0]), {0: 3})
        self.gb.advance(61_000)
        self.assertEqual(self.gb.committed("solo", "t", [0]), {0: -1})
        self.assertNotIn("solo", [g.group_id for g in self.gb.list_groups().groups])
        tombstones = [r for r in log_records(self.gb, "solo") if r.value is None]
        self.assertEqual(len(tombstones), 2)  # the offset, then the group

    def test_recommit_resets_the_clock(self) -> None:
        """A new commit restarts the retention period of its offset."""
        self.successResultOf(self.gb.commit("solo", {("t", 0): 3}))
        self.gb.advance(50 * 60_000)
        self.successResultOf(self.gb.commit("solo", {("t", 0): 4}))
        self.gb.advance(50 * 60_000)
        self.assertEqual(self.gb.committed("solo", "t", [0]), {0: 4})

    def test_stable_group_offsets_do_not_expire(self) -> None:
        """Offsets of a Stable group for topics it consumes do not expire."""
        from tests.groups.support import subscription

        generation, ids, _ = self.stable(
            1, protocols=(("range", subscription("t")),), session=60000
        )
        self.successResultOf(
            self.gb.commit("g", {("t", 0): 8}, generation=generation, member_id=ids[0])
        )
        for _ in range(150):
            self.gb.advance(50_000)
            self.gb.heartbeat("g", ids[0], generation)
        self.assertEqual(self.gb.committed("g", "t", [0]), {0: 8})

    def test_empty_group_offsets_expire_from_when_it_emptied(self) -> None:
        """Once the last member leaves, offsets expire retention after the group became Empty."""
        generation, ids, _ = self.stable(1, session=60000)
        self.successResultOf(
            self.gb.commit("g", {("t", 0): 8}, generation=generation, member_id=ids[0])
        )
        for _ in range(120):  # 100 minutes, longer than the retention, while the member lives
            self.gb.advance(50_000)
            self.gb.heartbeat("g", ids[0], generation)
        self.successResultOf(self.gb.leave("g", (ids[0], None)))
        self.gb.advance(59 * 60_000)
        self.assertEqual(self.gb.committed("g", "t", [0]), {0: 8})
        self.gb.advance(2 * 60_000)
        self.assertEqual(self.gb.committed("g", "t", [0]), {0: -1})

    def test_retention_time_of_old_requests(self) -> None:
        """OffsetCommit v2-v4 retention_time_ms sets an expire timestamp (value version 1)."""
        self.successResultOf(
            self.gb.commit(
                "solo", {("t", 0): 3}, version=2, generation=-1, retention_time_ms=120_000
            )
        )
        value = log_records(self.gb, "solo")[-1].value
        self.assertEqual(value[:2], b"\x00\x01")
        self.gb.advance(120_000)
        self.assertEqual(self.gb.committed("solo", "t", [0]), {0: -1})


class LoadingTests(GroupTestCase):
    def test_every_api_waits_while_loading(self) -> None:
        """While __consumer_offsets replays, group APIs answer COORDINATOR_LOAD_IN_PROGRESS."""
        self.gb.topic("t", 1)
        self.gb.coordinator.loading = True
        load = int(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS)
        self.assertEqual(self.successResultOf(self.gb.join("g")).error_code, load)
        self.assertEqual(self.successResultOf(self.gb.sync("g", "m", 1)).error_code, load)
        self.assertEqual(
            codes(self.successResultOf(self.gb.commit("g", {("t", 0): 1}))), {("t", 0): load}
        )
        self.assertEqual(self.gb.fetch("g", {"t": [0]}).error_code, load)
        self.assertEqual(self.gb.fetch("g", {"t": [0]}, version=8).groups[0].error_code, load)
        self.assertEqual(
            self.gb.fetch("g", {"t": [0]}, version=1).topics[0].partitions[0].error_code, load
        )
        self.assertEqual(self.gb.list_groups().error_code, load)
        self.assertEqual(self.gb.describe("g").groups[0].error_code, load)
        self.assertEqual(self.successResultOf(self.gb.delete("g")).results[0].error_code, load)
        self.assertEqual(self.successResultOf(self.gb.leave("g", ("m", None))).error_code, load)
        self.assertEqual(
            self.successResultOf(self.gb.delete_offsets("g", {"t": [0]})).error_code, load
        )
        # Heartbeats are answered NONE while loading, as Kafka does.
        self.assertEqual(self.gb.heartbeat("g", "m", 1), NONE)

    def test_start_reports_loading_until_the_log_is_read(self) -> None:
        """C{start} keeps the coordinator loading until __consumer_offsets is read."""
        self.gb.topic("t", 1)
        self.successResultOf(self.gb.commit("solo", {("t", 0): 5}))
        real = self.gb.broker.logs
        gate: Deferred[None] = Deferred()

        class SlowLog:
            def __init__(self, log: Any) -> None:
                self._log = log

            def __getattr__(self, name: str) -> Any:
                return getattr(self._log, name)

            def read(self, *args: Any, **kw: Any) -> Any:
                result = self._log.read(*args, **kw)
                return gate.addCallback(lambda _: result)

        class SlowLogs:
            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

            def get(self, topic: str, p: int) -> Any:
                log = real.get(topic, p)
                return None if log is None else SlowLog(log)

        # "Restart" over the same metadata and logs, read slowly.
        slow = GroupBroker(logs=SlowLogs(), log_dir=metadata_of(self.gb.broker).log_dir)
        started = slow.coordinator.start()
        self.assertNoResult(started)
        self.assertEqual(
            slow.fetch("solo", {"t": [0]}).error_code, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
        )
        gate.callback(None)
        self.successResultOf(started)
        self.assertEqual(slow.committed("solo", "t", [0]), {0: 5})


class AppendFailureTests(GroupTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.gb.topic("t", 1)

    def break_appends(self, code: ErrorCode) -> None:
        """Make every __consumer_offsets append fail with C{code}."""
        self.gb.faults.code = code

    def test_failed_commit_is_not_acknowledged(self) -> None:
        """A commit whose append fails is refused (NOT_LEADER_OR_FOLLOWER -> NOT_COORDINATOR)."""
        self.successResultOf(self.gb.commit("solo", {("t", 0): 1}))
        self.break_appends(ErrorCode.NOT_LEADER_OR_FOLLOWER)
        response = self.successResultOf(self.gb.commit("solo", {("t", 0): 2}))
        self.assertEqual(codes(response), {("t", 0): ErrorCode.NOT_COORDINATOR})
        self.assertEqual(self.gb.committed("solo", "t", [0]), {0: 1})

    def test_commit_too_large_for_one_batch(self) -> None:
        """Offsets that do not fit max.message.bytes get INVALID_COMMIT_OFFSET_SIZE."""
        self.gb.topic("wide", 300)
        offsets = {("wide", p): p for p in range(300)}
        response = self.successResultOf(self.gb.commit("solo", offsets, metadata="m" * 4000))
        self.assertEqual(set(codes(response).values()), {ErrorCode.INVALID_COMMIT_OFFSET_SIZE})
        self.assertEqual(self.gb.committed("solo", "wide", [0]), {0: -1})

    def test_failed_assignment_store_restarts_the_rebalance(self) -> None:
        """An assignment that cannot be stored is reported and the group rebalances."""
        a, b = self.new_member(), self.new_member()
        da, db = self.gb.join("g", a), self.gb.join("g", b)
        self.gb.advance(0)
        self.successResultOf(da)
        self.successResultOf(db)
        follower = self.gb.sync("g", b, 1)
        self.break_appends(ErrorCode.NOT_ENOUGH_REPLICAS)
        leader = self.successResultOf(self.gb.sync("g", a, 1, {a: b"x", b: b"y"}))
        self.assertEqual(leader.error_code, ErrorCode.COORDINATOR_NOT_AVAILABLE)
        self.assertEqual(
            self.successResultOf(follower).error_code, ErrorCode.COORDINATOR_NOT_AVAILABLE
        )
        self.assertEqual(self.gb.describe("g").groups[0].group_state, "PreparingRebalance")
