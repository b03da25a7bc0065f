"""Fetch sessions (KIP-227) through the Fetch handler, on the file engine and a Clock."""

from __future__ import annotations

import uuid
from typing import Any

from kafka.protocol.consumer.fetch import FetchRequest as ClientFetchRequest
from kafka.protocol.consumer.fetch import FetchResponse as ClientFetchResponse
from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import fetch
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.errors import ErrorCode
from kafkatwist.fetchsessions.session import FetchSession
from kafkatwist.messages.fetch import (
    FetchPartition,
    FetchRequest,
    FetchResponse,
    FetchTopic,
    ForgottenTopic,
    PartitionData,
)
from kafkatwist.storage.interfaces import IPartitionLog
from kafkatwist.wire.record import build_batch
from tests.brokers import call, clock_of, log_of, make_broker
from tests.offsets_support import client_roundtrip
from tests.storage.support import append_batches


def batch(value: bytes = b"x" * 100) -> bytes:
    return build_batch([(None, value)], base_timestamp=1_700_000_000_000)


class FetchSessionTests(SynchronousTestCase):
    """A consumer of topic C{t} (3 partitions, one record each) using a session."""

    def setUp(self) -> None:
        self.broker = make_broker()
        self.successResultOf(self.broker.controller.create_topic("t", 3))
        self.logs = [log_of(self.broker, "t", p) for p in range(3)]
        for log in self.logs:
            self.append(log)

    def append(self, log: IPartitionLog) -> None:
        self.successResultOf(append_batches(log, batch()))

    def request(
        self,
        session_id: int,
        epoch: int,
        offsets: dict[int, int],
        *,
        forget: tuple[int, ...] = (),
        version: int = 12,
        wait: int = 0,
        max_bytes: int = 1 << 20,
    ) -> Deferred[FetchResponse]:
        parts = tuple(
            FetchPartition(partition=p, fetch_offset=o, partition_max_bytes=1 << 20)
            for p, o in offsets.items()
        )
        if version >= 13:
            topic_id = self.broker.metadata.image.topics["t"].topic_id
            topics = (FetchTopic(topic_id=topic_id, partitions=parts),) if parts else ()
            forgotten = (ForgottenTopic(topic_id=topic_id, partitions=forget),) if forget else ()
        else:
            topics = (FetchTopic(topic="t", partitions=parts),) if parts else ()
            forgotten = (ForgottenTopic(topic="t", partitions=forget),) if forget else ()
        request = FetchRequest(
            max_wait_ms=wait,
            min_bytes=1,
            max_bytes=max_bytes,
            session_id=session_id,
            session_epoch=epoch,
            topics=topics,
            forgotten_topics_data=forgotten,
        )
        return call(self.broker, fetch.SPEC, request, version)

    def fetch(
        self, session_id: int, epoch: int, offsets: dict[int, int], **kw: Any
    ) -> FetchResponse:
        response: FetchResponse = self.successResultOf(
            self.request(session_id, epoch, offsets, **kw)
        )
        return response

    def parts(self, response: FetchResponse) -> dict[int, PartitionData]:
        """The answered partitions, by index."""
        return {p.partition_index: p for t in response.responses for p in t.partitions}

    def open(self, offsets: dict[int, int] | None = None, version: int = 12) -> int:
        """Create a session at the given offsets (default: every partition at its end)."""
        response = self.fetch(0, 0, offsets or {0: 1, 1: 1, 2: 1}, version=version)
        self.assertNotEqual(response.session_id, 0)
        return response.session_id

    def session(self, session_id: int) -> FetchSession:
        session = self.broker.fetch_sessions.cache.get(session_id)
        assert session is not None
        return session

    def test_full_fetch_creates_a_session(self) -> None:
        """Epoch 0 creates a session: the response carries its id and every partition."""
        response = self.fetch(0, 0, {0: 0, 1: 0, 2: 1})
        self.assertNotEqual(response.session_id, 0)
        self.assertEqual(sorted(self.parts(response)), [0, 1, 2])
        self.assertEqual(self.session(response.session_id).epoch, 1)

    def test_sessionless(self) -> None:
        """Epoch -1 without a session id is a sessionless full fetch: id 0, no session cached."""
        response = self.fetch(0, -1, {0: 0})
        self.assertEqual((response.session_id, sorted(self.parts(response))), (0, [0]))
        self.assertEqual(len(self.broker.fetch_sessions.cache), 0)

    def test_incremental_answers_what_changed(self) -> None:
        """An idle incremental fetch answers no partition; after an append, only that one."""
        sid = self.open()
        idle = self.fetch(sid, 1, {})
        self.assertEqual((idle.error_code, idle.session_id, idle.responses), (0, sid, ()))
        self.append(self.logs[1])
        moved = self.parts(self.fetch(sid, 2, {}))
        self.assertEqual(list(moved), [1])
        self.assertEqual(moved[1].high_watermark, 2)
        self.assertTrue(moved[1].records)
        self.assertEqual(self.session(sid).epoch, 3)

    def test_idle_session_reads_nothing(self) -> None:
        """Once every partition was answered idle, the next fetch has no partition to read."""
        sid = self.open()
        self.fetch(sid, 1, {})
        image = self.broker.metadata.image
        self.assertEqual(self.session(sid).active(image), [])
        self.append(self.logs[2])
        self.assertEqual([cp.partition for cp in self.session(sid).active(image)], [2])

    def test_wrong_epoch(self) -> None:
        """A wrong epoch is INVALID_FETCH_SESSION_EPOCH (id 0, no partitions); the session stays."""
        sid = self.open()
        for epoch in (2, 0x7FFFFFFF, -2):
            response = self.fetch(sid, epoch, {0: 0})
            self.assertEqual(
                (response.error_code, response.session_id, response.responses),
                (ErrorCode.INVALID_FETCH_SESSION_EPOCH, 0, ()),
            )
        self.assertEqual(self.fetch(sid, 1, {}).error_code, 0)

    def test_unknown_session(self) -> None:
        """An unknown id, or id 0 with an incremental epoch, is FETCH_SESSION_ID_NOT_FOUND."""
        for sid, epoch in ((1234, 1), (0, 5)):
            response = self.fetch(sid, epoch, {0: 0})
            self.assertEqual(
                (response.error_code, response.session_id, response.responses),
                (ErrorCode.FETCH_SESSION_ID_NOT_FOUND, 0, ()),
            )

    def test_final_epoch_closes(self) -> None:
        """Epoch -1 closes the session and fetches sessionless."""
        sid = self.open()
        response = self.fetch(sid, -1, {0: 0})
        self.assertEqual((response.session_id, list(self.parts(response))), (0, [0]))
        self.assertEqual(self.fetch(sid, 1, {}).error_code, ErrorCode.FETCH_SESSION_ID_NOT_FOUND)

    def test_initial_epoch_recreates(self) -> None:
        """Epoch 0 with a session id closes that session and creates another."""
        sid = self.open()
        again = self.fetch(sid, 0, {0: 1})
        self.assertNotIn(again.session_id, (0, sid))
        self.assertIsNone(self.broker.fetch_sessions.cache.get(sid))
        self.assertEqual(len(self.session(again.session_id).partitions), 1)

    def test_added_partition_is_answered(self) -> None:
        """A partition added by an incremental fetch is answered even with nothing new."""
        sid = self.open({0: 1, 1: 1})
        self.fetch(sid, 1, {})
        self.assertEqual(list(self.parts(self.fetch(sid, 2, {2: 1}))), [2])
        self.assertEqual(self.fetch(sid, 3, {}).responses, ())

    def test_updated_offset(self) -> None:
        """A partition's new fetch offset replaces the cached one: its records are not resent."""
        sid = self.open({0: 0, 1: 1, 2: 1})
        self.assertTrue(self.parts(self.fetch(sid, 1, {}))[0].records)  # still at offset 0
        self.assertEqual(self.fetch(sid, 2, {0: 1}).responses, ())

    def test_forgotten_partitions(self) -> None:
        """Forgotten partitions leave the session; forgetting the last closes it (id 0)."""
        sid = self.open()
        self.fetch(sid, 1, {}, forget=(2,))
        self.append(self.logs[2])
        self.assertEqual(self.fetch(sid, 2, {}).responses, ())
        self.assertEqual(sorted(k[1] for k in self.session(sid).partitions), [0, 1])
        closed = self.fetch(sid, 3, {}, forget=(0, 1))
        self.assertEqual(closed.session_id, 0)
        self.assertIsNone(self.broker.fetch_sessions.cache.get(sid))

    def test_errors_always_answered(self) -> None:
        """A partition in error is answered at every fetch."""
        sid = self.open({0: 1, 1: 99})
        for epoch in (1, 2):
            parts = self.parts(self.fetch(sid, epoch, {}))
            self.assertEqual(list(parts), [1])
            self.assertEqual(parts[1].error_code, ErrorCode.OFFSET_OUT_OF_RANGE)

    def test_log_start_offset_change_is_answered(self) -> None:
        """A partition whose log start offset moved is answered with the new one."""
        self.append(self.logs[0])
        sid = self.open({0: 2, 1: 1, 2: 1})
        self.fetch(sid, 1, {})
        self.successResultOf(self.logs[0].delete_records_before(1))
        parts = self.parts(self.fetch(sid, 2, {}))
        self.assertEqual(list(parts), [0])
        self.assertEqual(parts[0].log_start_offset, 1)

    def test_partitions_with_records_go_last(self) -> None:
        """A partition that returned records moves to the end: the next fetch starts elsewhere."""
        sid = self.open({0: 0, 1: 0, 2: 0})
        self.assertEqual(list(self.parts(self.fetch(sid, 1, {}, max_bytes=1))), [0])
        self.assertEqual(list(self.parts(self.fetch(sid, 2, {}, max_bytes=1))), [1])
        self.assertEqual(list(self.parts(self.fetch(sid, 3, {}, max_bytes=1))), [2])

    def test_long_poll_waits_on_the_whole_session(self) -> None:
        """An incremental fetch listing no partition waits for, and answers, an append to any."""
        sid = self.open()
        self.fetch(sid, 1, {})
        d = self.request(sid, 2, {}, wait=5000)
        self.assertNoResult(d)
        clock_of(self.broker).advance(1)
        self.assertNoResult(d)
        self.append(self.logs[2])
        response = self.successResultOf(d)
        self.assertEqual(list(self.parts(response)), [2])
        self.assertEqual(clock_of(self.broker).getDelayedCalls(), [])

    def test_long_poll_deadline(self) -> None:
        """An idle incremental fetch is answered empty at max_wait_ms."""
        sid = self.open()
        self.fetch(sid, 1, {})
        d = self.request(sid, 2, {}, wait=500)
        clock_of(self.broker).advance(0.499)
        self.assertNoResult(d)
        clock_of(self.broker).advance(0.001)
        self.assertEqual(self.successResultOf(d).responses, ())
        self.assertEqual(self.fetch(sid, 3, {}).error_code, 0)

    def test_cancelled_long_poll(self) -> None:
        """A parked incremental fetch that is cancelled leaves no timer, and the session goes on."""
        sid = self.open()
        self.fetch(sid, 1, {})
        d = self.request(sid, 2, {}, wait=5000)
        d.cancel()
        self.failureResultOf(d)
        self.assertEqual(clock_of(self.broker).getDelayedCalls(), [])
        self.append(self.logs[0])
        self.assertEqual(list(self.parts(self.fetch(sid, 3, {}))), [0])

    def test_topic_id_versions_do_not_mix(self) -> None:
        """A session created before v13 cannot go on at v13 (FETCH_SESSION_TOPIC_ID_ERROR)."""
        sid = self.open(version=12)
        response = self.fetch(sid, 1, {}, version=13)
        self.assertEqual(
            (response.error_code, response.session_id),
            (ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR, 0),
        )
        sid13 = self.open(version=13)
        self.assertEqual(
            self.fetch(sid13, 1, {}, version=12).error_code, ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR
        )

    def test_v13_session_by_topic_id(self) -> None:
        """A v13 session keys partitions by topic id and answers changes with it."""
        sid = self.open(version=13)
        self.assertEqual(self.fetch(sid, 1, {}, version=13).responses, ())
        self.append(self.logs[0])
        response = self.fetch(sid, 2, {}, version=13)
        (topic,) = response.responses
        self.assertEqual(topic.topic_id, self.broker.metadata.image.topics["t"].topic_id)
        self.assertEqual([p.partition_index for p in topic.partitions], [0])

    def test_unknown_topic_id_in_session(self) -> None:
        """A session partition of an unknown topic id is answered UNKNOWN_TOPIC_ID every time."""
        sid = self.open(version=13)
        unknown = FetchTopic(
            topic_id=uuid.UUID(int=5),
            partitions=(FetchPartition(partition=0, fetch_offset=0, partition_max_bytes=1),),
        )
        for epoch in (1, 2):
            request = FetchRequest(
                max_wait_ms=0,
                min_bytes=1,
                session_id=sid,
                session_epoch=epoch,
                topics=(unknown,) if epoch == 1 else (),
            )
            response = self.successResultOf(call(self.broker, fetch.SPEC, request, 13))
            (topic,) = response.responses
            self.assertEqual(
                (topic.topic_id, topic.partitions[0].error_code),
                (uuid.UUID(int=5), ErrorCode.UNKNOWN_TOPIC_ID),
            )

    def test_recreated_topic_is_inconsistent(self) -> None:
        """A v13 session's topic re-created under a new id is INCONSISTENT_TOPIC_ID."""
        sid = self.open(version=13)
        self.fetch(sid, 1, {}, version=13)
        old = self.broker.metadata.image.topics["t"]
        self.successResultOf(self.broker.controller.delete_topic(old))
        self.successResultOf(self.broker.controller.create_topic("t", 3))
        parts = self.parts(self.fetch(sid, 2, {}, version=13))
        self.assertEqual(
            {p: d.error_code for p, d in parts.items()},
            dict.fromkeys(range(3), ErrorCode.INCONSISTENT_TOPIC_ID),
        )

    def test_deleted_topic_in_v12_session(self) -> None:
        """A named session's deleted topic is answered UNKNOWN_TOPIC_OR_PARTITION."""
        sid = self.open()
        self.fetch(sid, 1, {})
        self.successResultOf(
            self.broker.controller.delete_topic(self.broker.metadata.image.topics["t"])
        )
        parts = self.parts(self.fetch(sid, 2, {}))
        self.assertEqual(
            {p: d.error_code for p, d in parts.items()},
            dict.fromkeys(range(3), ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
        )

    def test_no_slots_no_sessions(self) -> None:
        """With max.incremental.fetch.session.cache.slots 0, a full fetch gets session id 0."""
        self.broker = make_broker(
            config=BrokerConfig.from_properties({"max.incremental.fetch.session.cache.slots": "0"})
        )
        self.successResultOf(self.broker.controller.create_topic("t", 3))
        response = self.fetch(0, 0, {0: 0})
        self.assertEqual((response.session_id, list(self.parts(response))), (0, [0]))


class KafkaPythonSessionTests(SynchronousTestCase):
    """Session requests encoded by kafka-python, answers decoded by it."""

    def setUp(self) -> None:
        self.broker = make_broker()
        self.successResultOf(self.broker.controller.create_topic("t", 2))
        self.topic_id = self.broker.metadata.image.topics["t"].topic_id
        for p in range(2):
            self.successResultOf(append_batches(log_of(self.broker, "t", p), batch()))

    def roundtrip(self, version: int, session_id: int, epoch: int, **topics: Any) -> Any:
        request = ClientFetchRequest(
            replica_id=-1,
            max_wait_ms=0,
            min_bytes=1,
            max_bytes=1 << 20,
            isolation_level=0,
            session_id=session_id,
            session_epoch=epoch,
            rack_id="",
            **topics,
        )
        return client_roundtrip(
            self, self.broker, fetch.SPEC, request, ClientFetchResponse, version
        )

    def test_session_by_name(self) -> None:
        """v7 and v12: a session created, fetched incrementally and a partition forgotten."""
        for version in (7, 12):
            P = ClientFetchRequest.FetchTopic.FetchPartition
            parts = [P(partition=p, fetch_offset=1, partition_max_bytes=1 << 20) for p in (0, 1)]
            full = self.roundtrip(
                version, 0, 0, topics=[ClientFetchRequest.FetchTopic(topic="t", partitions=parts)]
            )
            self.assertNotEqual(full.session_id, 0)
            self.assertEqual(len(full.responses[0].partitions), 2)
            idle = self.roundtrip(version, full.session_id, 1, topics=[])
            self.assertEqual(
                (idle.error_code, idle.session_id, idle.responses), (0, full.session_id, [])
            )
            forget = [ClientFetchRequest.ForgottenTopic(topic="t", partitions=[1])]
            self.roundtrip(version, full.session_id, 2, topics=[], forgotten_topics_data=forget)
            session = self.broker.fetch_sessions.cache.get(full.session_id)
            assert session is not None
            self.assertEqual(list(session.partitions), [("t", 0)])

    def test_session_by_topic_id(self) -> None:
        """v13 and v17: the session's answers carry the topic id; stale epochs are refused."""
        for version in (13, 17):
            P = ClientFetchRequest.FetchTopic.FetchPartition
            parts = [P(partition=0, fetch_offset=0, partition_max_bytes=1 << 20)]
            topics = [ClientFetchRequest.FetchTopic(topic_id=self.topic_id, partitions=parts)]
            full = self.roundtrip(version, 0, 0, topics=topics)
            self.assertEqual(full.responses[0].topic_id, self.topic_id)
            again = self.roundtrip(version, full.session_id, 1, topics=[])
            self.assertEqual(again.responses[0].partitions[0].partition_index, 0)  # records again
            stale = self.roundtrip(version, full.session_id, 1, topics=[])
            self.assertEqual(stale.error_code, ErrorCode.INVALID_FETCH_SESSION_EPOCH)
