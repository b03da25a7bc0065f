"""The group coordinator follows ``__consumer_offsets`` leadership (elections, resignations)."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import consumer_group_heartbeat
from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.groups.elections import RELOAD_DELAY_MS
from kafkatwist.groups.records import partition_for
from kafkatwist.groups.state import GroupState
from kafkatwist.messages.consumer_group_heartbeat import ConsumerGroupHeartbeatRequest
from tests.brokers import call
from tests.groups.cluster_support import Cluster
from tests.groups.consumer_support import RoundRobin, describe, heartbeat, topic_id
from tests.groups.support import GroupBroker, member_id_of
from tests.storage.support import temp_dir

NOT_COORDINATOR = int(ErrorCode.NOT_COORDINATOR)
LOADING = int(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS)
#: A KIP-848 member id (the client makes it from ConsumerGroupHeartbeat v1).
MEMBER = "Zm9vYmFyLW1lbWJlci0x"


def other_group(group_id: str, partitions: int = 5) -> str:
    """A group id whose ``__consumer_offsets`` partition is not C{group_id}'s."""
    mine = partition_for(group_id, partitions)
    return next(f"other-{i}" for i in range(100) if partition_for(f"other-{i}", partitions) != mine)


class ElectionTestCase(SynchronousTestCase):
    """Two brokers over one metadata store and one log manager; node 1 creates the topics."""

    def setUp(self) -> None:
        self.cluster = Cluster.build(temp_dir(self))
        self.b1, self.b2 = self.cluster.brokers[1], self.cluster.brokers[2]
        self.b1.topic("t", 2)
        self.other = other_group("g")

    def stable(self, gb: GroupBroker, group: str = "g") -> tuple[int, list[str], str]:
        """A Stable group of two members on C{gb}: (generation, member ids, leader)."""
        ids = [member_id_of(self.successResultOf(gb.join(group))) for _ in range(2)]
        joins = [gb.join(group, m) for m in ids]
        gb.advance(0)
        responses = [self.successResultOf(d) for d in joins]
        generation, leader = responses[0].generation_id, responses[0].leader
        for m in ids:
            assignments = {i: b"assign-" + i.encode() for i in ids} if m == leader else None
            self.assertEqual(
                self.successResultOf(gb.sync(group, m, generation, assignments)).error_code, 0
            )
        return generation, ids, leader


class NotCoordinatorTests(ElectionTestCase):
    def test_every_group_api_answers_not_coordinator_elsewhere(self) -> None:
        """A broker not leading a group's partition answers NOT_COORDINATOR to every group API."""
        generation, ids, _ = self.stable(self.b1)
        self.successResultOf(
            self.b1.commit("g", {("t", 0): 5}, generation=generation, member_id=ids[0])
        )
        b2 = self.b2
        self.assertEqual(self.successResultOf(b2.join("g")).error_code, NOT_COORDINATOR)
        self.assertEqual(
            self.successResultOf(b2.sync("g", ids[0], generation)).error_code, NOT_COORDINATOR
        )
        self.assertEqual(b2.heartbeat("g", ids[0], generation), NOT_COORDINATOR)
        commit = self.successResultOf(b2.commit("g", {("t", 0): 6}))
        self.assertEqual(commit.topics[0].partitions[0].error_code, NOT_COORDINATOR)
        self.assertEqual(b2.fetch("g", {"t": [0]}).error_code, NOT_COORDINATOR)
        self.assertEqual(b2.fetch("g", {"t": [0]}, version=8).groups[0].error_code, NOT_COORDINATOR)
        self.assertEqual(b2.describe("g").groups[0].error_code, NOT_COORDINATOR)
        self.assertEqual(
            self.successResultOf(b2.delete("g")).results[0].error_code, NOT_COORDINATOR
        )
        self.assertEqual(
            self.successResultOf(b2.leave("g", (ids[0], None))).error_code, NOT_COORDINATOR
        )
        offset_delete = self.successResultOf(b2.delete_offsets("g", {"t": [0]}))
        self.assertEqual(offset_delete.error_code, NOT_COORDINATOR)
        # Nothing was written by node 2, and node 1 still serves the group.
        self.assertEqual(b2.coordinator.groups, {})
        self.assertEqual(self.b1.committed("g", "t", [0]), {0: 5})
        self.assertEqual(b2.list_groups().groups, ())

    def test_kip848_heartbeat_answers_not_coordinator_elsewhere(self) -> None:
        """A ConsumerGroupHeartbeat to a broker not leading its partition: NOT_COORDINATOR."""
        self.successResultOf(self.b1.coordinator.ensure_offsets_topic())
        response = heartbeat(self.b2, "cg", MEMBER, 0, topics=["t"])
        self.assertEqual(response.error_code, NOT_COORDINATOR)
        self.assertEqual(describe(self.b2, "cg").error_code, NOT_COORDINATOR)
        self.assertEqual(heartbeat(self.b1, "cg", MEMBER, 0, topics=["t"]).error_code, 0)


class MoveTests(ElectionTestCase):
    def test_group_survives_its_coordinator_moving(self) -> None:
        """After its partition moves to node 2, node 2 serves the group's members and offsets."""
        generation, ids, leader = self.stable(self.b1)
        self.successResultOf(
            self.b1.commit(
                "g", {("t", 0): 33, ("t", 1): 44}, generation=generation, member_id=ids[0]
            )
        )
        self.successResultOf(self.b1.commit(self.other, {("t", 0): 7}))
        p = self.cluster.partition_of("g")
        self.assertEqual(self.cluster.leader_of(p), (1, 0))

        self.cluster.move(p, 2)

        self.assertEqual(self.cluster.leader_of(p), (2, 1))
        # Node 1 dropped the group and answers NOT_COORDINATOR; the other partition stays.
        self.assertNotIn("g", self.b1.coordinator.groups)
        self.assertEqual(self.b1.fetch("g", {"t": [0]}).error_code, NOT_COORDINATOR)
        self.assertEqual(self.b1.committed(self.other, "t", [0]), {0: 7})
        # Node 2 loaded it from the shared log: offsets, generation, members, assignments.
        self.assertFalse(self.b2.coordinator.loading)
        self.assertEqual(self.b2.committed("g", "t", [0, 1]), {0: 33, 1: 44})
        group = self.b2.coordinator.groups["g"]
        self.assertEqual(
            (group.state, group.generation, group.leader_id),
            (GroupState.STABLE, generation, leader),
        )
        self.assertEqual(self.b2.heartbeat("g", ids[1], generation), 0)
        sync = self.successResultOf(self.b2.sync("g", ids[1], generation))
        self.assertEqual(sync.assignment, b"assign-" + ids[1].encode())
        # It commits there, and a move back reads node 2's commit on node 1.
        self.successResultOf(
            self.b2.commit("g", {("t", 0): 50}, generation=generation, member_id=ids[0])
        )
        self.cluster.move(p, 1)
        self.assertEqual(self.b1.committed("g", "t", [0, 1]), {0: 50, 1: 44})
        self.assertEqual(self.b2.fetch("g", {"t": [0]}).error_code, NOT_COORDINATOR)
        self.assertEqual(self.b1.heartbeat("g", ids[0], generation), 0)

    def test_new_epoch_on_the_same_broker_reloads(self) -> None:
        """A new leader epoch of a partition led here reloads it: the group carries on."""
        generation, ids, _ = self.stable(self.b1)
        self.successResultOf(
            self.b1.commit("g", {("t", 0): 3}, generation=generation, member_id=ids[0])
        )
        p = self.cluster.partition_of("g")
        before = self.b1.coordinator.groups["g"]
        self.cluster.move(p, 1)
        self.assertEqual(self.cluster.leader_of(p), (1, 1))
        self.assertIsNot(self.b1.coordinator.groups["g"], before)
        self.assertEqual(self.b1.heartbeat("g", ids[0], generation), 0)
        self.assertEqual(self.b1.committed("g", "t", [0]), {0: 3})

    def test_members_expire_on_the_new_coordinator(self) -> None:
        """Members that never reach the new coordinator expire there after their session timeout."""
        generation, ids, _ = self.stable(self.b1)
        self.cluster.move(self.cluster.partition_of("g"), 2)
        self.b2.advance(10_000)
        self.assertEqual(self.b2.heartbeat("g", ids[0], generation), ErrorCode.UNKNOWN_MEMBER_ID)
        self.assertEqual(self.b2.coordinator.groups["g"].state, GroupState.EMPTY)

    def test_consumer_group_moves(self) -> None:
        """A KIP-848 member keeps its epoch and assignment when its group's coordinator moves."""
        for gb in (self.b1, self.b2):
            gb.coordinator.consumer.assignors = {"uniform": RoundRobin()}
        joined = heartbeat(self.b1, "cg", MEMBER, 0, topics=["t"])
        self.assertEqual(joined.error_code, 0)
        member, epoch = joined.member_id, joined.member_epoch
        assert member is not None
        self.cluster.move(self.cluster.partition_of("cg"), 2)
        self.assertEqual(heartbeat(self.b1, "cg", member, epoch).error_code, NOT_COORDINATOR)
        self.assertEqual(describe(self.b1, "cg").error_code, NOT_COORDINATOR)
        moved = heartbeat(self.b2, "cg", member, epoch, owned=[(topic_id(self.b2, "t"), [0, 1])])
        self.assertEqual((moved.error_code, moved.member_epoch), (0, epoch))
        # Its session timer runs on node 2 now: silence fences it there.
        self.b2.advance(60_000)
        self.assertEqual(
            heartbeat(self.b2, "cg", member, epoch).error_code, ErrorCode.UNKNOWN_MEMBER_ID
        )


class ResignationTests(ElectionTestCase):
    def test_parked_join_answered_not_coordinator(self) -> None:
        """A JoinGroup parked in a rebalance gets NOT_COORDINATOR when the partition moves."""
        _, ids, _ = self.stable(self.b1)
        newcomer = member_id_of(self.successResultOf(self.b1.join("g")))
        parked = self.b1.join("g", newcomer)
        self.assertNoResult(parked)
        self.cluster.gates[2].hold_reads = True  # node 2 stays loading: only node 1 could write
        p = self.cluster.partition_of("g")
        end = self.cluster.end_offset(p)
        self.cluster.move(p, 2)
        self.assertEqual(self.successResultOf(parked).error_code, NOT_COORDINATOR)
        # Its timers were cancelled: the rebalance and session timeouts write nothing.
        self.b1.advance(120_000)
        self.assertEqual(self.cluster.end_offset(p), end)
        self.assertEqual(self.b1.coordinator.groups, {})
        self.cluster.gates[2].release()
        self.assertEqual(self.b2.coordinator.groups["g"].members.keys(), set(ids))

    def test_parked_sync_answered_not_coordinator(self) -> None:
        """A follower's SyncGroup waiting for the leader's gets NOT_COORDINATOR on resignation."""
        self.successResultOf(self.b1.coordinator.ensure_offsets_topic())
        ids = [member_id_of(self.successResultOf(self.b1.join("g"))) for _ in range(2)]
        joins = [self.b1.join("g", m) for m in ids]
        self.b1.advance(0)
        responses = [self.successResultOf(d) for d in joins]
        generation, leader = responses[0].generation_id, responses[0].leader
        follower = next(m for m in ids if m != leader)
        parked = self.b1.sync("g", follower, generation)
        self.assertNoResult(parked)
        self.cluster.move(self.cluster.partition_of("g"), 2)
        self.assertEqual(self.successResultOf(parked).error_code, NOT_COORDINATOR)
        self.assertEqual(
            self.successResultOf(self.b1.sync("g", leader, generation, {})).error_code,
            NOT_COORDINATOR,
        )

    def test_consumer_group_timers_stop_on_resignation(self) -> None:
        """A resigned consumer group's session timers are cancelled: its partition gets no write."""
        self.b1.coordinator.consumer.assignors = {"uniform": RoundRobin()}
        self.assertEqual(heartbeat(self.b1, "cg", MEMBER, 0, topics=["t"]).error_code, 0)
        p = self.cluster.partition_of("cg")
        end = self.cluster.end_offset(p)
        self.cluster.gates[2].hold_reads = True  # node 2 stays loading: only node 1 could write
        self.cluster.move(p, 2)
        self.b1.advance(120_000)
        self.assertEqual(self.cluster.end_offset(p), end)
        self.cluster.gates[2].release()
        self.assertEqual(describe(self.b2, "cg").members[0].member_id, MEMBER)

    def test_write_ending_after_resignation_answers_not_coordinator(self) -> None:
        """A commit whose append ends after its partition resigned is answered NOT_COORDINATOR."""
        self.successResultOf(self.b1.commit("g", {("t", 0): 1}))
        self.cluster.gates[1].hold_appends = True
        committing = self.b1.commit("g", {("t", 0): 2})
        self.assertNoResult(committing)
        self.cluster.move(self.cluster.partition_of("g"), 2)
        self.cluster.gates[1].release()
        response = self.successResultOf(committing)
        self.assertEqual(response.topics[0].partitions[0].error_code, NOT_COORDINATOR)

    def test_kip848_heartbeat_ending_after_resignation_answers_not_coordinator(self) -> None:
        """A ConsumerGroupHeartbeat waiting for its append gets NOT_COORDINATOR on resignation."""
        self.successResultOf(self.b1.coordinator.ensure_offsets_topic())
        self.cluster.gates[1].hold_appends = True
        request = ConsumerGroupHeartbeatRequest(
            group_id="cg",
            member_id=MEMBER,
            member_epoch=0,
            rebalance_timeout_ms=30000,
            subscribed_topic_names=("t",),
            topic_partitions=(),
        )
        joining = call(self.b1.broker, consumer_group_heartbeat.SPEC, request, 1)
        self.assertNoResult(joining)
        self.cluster.move(self.cluster.partition_of("cg"), 2)
        self.cluster.gates[1].release()
        self.assertEqual(self.successResultOf(joining).error_code, NOT_COORDINATOR)
        # Node 2 loaded what was written: the member joined, then it was answered nothing.
        self.assertEqual(describe(self.b2, "cg").error_code, 0)


class LoadingTests(ElectionTestCase):
    def test_loading_partition_answers_load_in_progress(self) -> None:
        """While node 2 loads the moved partition its groups are loading; others NOT_COORDINATOR."""
        self.successResultOf(self.b1.commit("g", {("t", 0): 9}))
        self.successResultOf(self.b1.commit(self.other, {("t", 0): 1}))
        gate = self.cluster.gates[2]
        gate.hold_reads = True
        self.cluster.move(self.cluster.partition_of("g"), 2)
        started = self.b2.coordinator.start()
        self.assertNoResult(started)
        self.assertTrue(self.b2.coordinator.loading)
        self.assertEqual(self.b2.fetch("g", {"t": [0]}).error_code, LOADING)
        self.assertEqual(self.successResultOf(self.b2.join("g")).error_code, LOADING)
        self.assertEqual(self.b2.heartbeat("g", "m", 1), 0)  # answered blindly while loading
        self.assertEqual(self.b2.fetch(self.other, {"t": [0]}).error_code, NOT_COORDINATOR)
        commit = self.successResultOf(self.b2.commit("g", {("t", 0): 10}))
        self.assertEqual(commit.topics[0].partitions[0].error_code, LOADING)
        gate.release()
        self.successResultOf(started)
        self.assertFalse(self.b2.coordinator.loading)
        self.assertEqual(self.b2.committed("g", "t", [0]), {0: 9})

    def test_resigned_while_loading_leaves_nothing(self) -> None:
        """A partition moved away before its load ends keeps nothing of that load."""
        self.successResultOf(self.b1.commit("g", {("t", 0): 9}))
        gate = self.cluster.gates[2]
        gate.hold_reads = True
        p = self.cluster.partition_of("g")
        self.cluster.move(p, 2)
        self.cluster.move(p, 1)
        gate.release()
        self.assertEqual(self.b2.coordinator.groups, {})
        self.assertFalse(self.b2.coordinator.loading)
        self.assertEqual(self.b2.fetch("g", {"t": [0]}).error_code, NOT_COORDINATOR)
        self.assertEqual(self.b1.committed("g", "t", [0]), {0: 9})

    def test_failed_load_is_retried(self) -> None:
        """A failed load is tried again, later each time; its groups are loading meanwhile."""
        self.successResultOf(self.b1.commit("g", {("t", 0): 9}))
        self.cluster.gates[2].fail_reads = 2
        self.cluster.move(self.cluster.partition_of("g"), 2)
        self.assertEqual(self.b2.fetch("g", {"t": [0]}).error_code, LOADING)
        self.b2.advance(RELOAD_DELAY_MS)
        self.assertEqual(self.b2.fetch("g", {"t": [0]}).error_code, LOADING)
        self.b2.advance(2 * RELOAD_DELAY_MS - 1)
        self.assertEqual(self.b2.fetch("g", {"t": [0]}).error_code, LOADING)
        self.b2.advance(1)
        self.assertEqual(self.b2.committed("g", "t", [0]), {0: 9})
        self.assertEqual(len(self.flushLoggedErrors(KafkaError)), 2)
