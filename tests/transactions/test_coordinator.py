"""The transaction coordinator's state machine, driven through its handlers on a Clock."""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed

from kafkatwist.apis import end_txn
from kafkatwist.errors import ErrorCode
from kafkatwist.messages.end_txn import EndTxnRequest
from kafkatwist.transactions import records as rec
from kafkatwist.transactions.markers import MarkerWrite
from kafkatwist.transactions.metadata import TopicPartition, TxnState
from tests.brokers import log_of, with_logs
from tests.transactions.support import TOPIC, TxnTestCase, stored_headers

T0: TopicPartition = (TOPIC, 0)
T1: TopicPartition = (TOPIC, 1)


class HeldMarkers:
    """
    A marker writer whose writes complete only when the test says so.

    Its partitions are led by other brokers (C{here} fires at once), unless
    C{hold_here}: then the markers "led here" are written at C{release_here}.
    """

    def __init__(self, hold_here: bool = False) -> None:
        self.pending: list[Deferred[None]] = []
        self.here: list[Deferred[None]] = []
        self.hold_here = hold_here
        self.written: list[tuple[frozenset[TopicPartition], int, int, bool]] = []

    def write(
        self,
        partitions: object,
        producer_id: int,
        producer_epoch: int,
        coordinator_epoch: int,
        commit: bool,
        transaction_version: int = 0,
    ) -> MarkerWrite:
        d: Deferred[None] = Deferred()
        self.pending.append(d)
        if not self.hold_here:
            return MarkerWrite(d, succeed(None))
        here: Deferred[None] = Deferred()
        self.here.append(here)
        return MarkerWrite(d, here)

    def release_here(self) -> None:
        here, self.here = self.here, []
        for d in here:
            d.callback(None)

    def release(self) -> None:
        pending, self.pending = self.pending, []
        for d in pending:
            d.callback(None)

    def stop(self) -> None:
        """Nothing to stop."""


class InitProducerIdTests(TxnTestCase):
    def test_first_init_allocates_epoch_zero(self) -> None:
        """A new transactional id gets a producer id and epoch 0, recorded as Empty."""
        response = self.init("a")
        self.assertEqual((response.error_code, response.producer_epoch), (0, 0))
        txn = self.txn("a")
        self.assertEqual((txn.state, txn.producer_id), (TxnState.EMPTY, response.producer_id))

    def test_init_again_bumps_epoch(self) -> None:
        """Each InitProducerId bumps the epoch of the same producer id, fencing the last one."""
        first = self.init("a")
        second = self.init("a")
        self.assertEqual(second.producer_id, first.producer_id)
        self.assertEqual(second.producer_epoch, 1)
        fenced = self.add("a", first.producer_id, 0, [T0])
        self.assertEqual(fenced[T0], ErrorCode.PRODUCER_FENCED)

    def test_state_written_to_transaction_log(self) -> None:
        """The Empty state is a record of the id's __transaction_state partition."""
        self.init("a")
        p = rec.partition_for("a", 50)
        log = log_of(self.broker, rec.TRANSACTION_STATE_TOPIC, p)
        self.assertEqual(log.log_end_offset, 1)
        self.assertEqual(len(stored_headers(log)), 1)

    def test_timeout_above_max_is_invalid(self) -> None:
        """A timeout above transaction.max.timeout.ms is INVALID_TRANSACTION_TIMEOUT."""
        response = self.init("a", timeout_ms=900001)
        self.assertEqual(response.error_code, ErrorCode.INVALID_TRANSACTION_TIMEOUT)
        self.assertEqual((response.producer_id, response.producer_epoch), (-1, -1))

    def test_kip360_recovery_bumps_epoch(self) -> None:
        """v3+ with the id's producer id and epoch gets the next epoch."""
        first = self.init("a")
        again = self.init("a", version=4, pid=first.producer_id, epoch=0)
        self.assertEqual((again.error_code, again.producer_epoch), (0, 1))

    def test_kip360_wrong_producer_id_fenced(self) -> None:
        """Another producer id is PRODUCER_FENCED from v4, INVALID_PRODUCER_EPOCH at v3."""
        first = self.init("a")
        other = first.producer_id + 100
        self.assertEqual(
            self.init("a", version=4, pid=other, epoch=0).error_code, ErrorCode.PRODUCER_FENCED
        )
        self.assertEqual(
            self.init("a", version=3, pid=other, epoch=0).error_code,
            ErrorCode.INVALID_PRODUCER_EPOCH,
        )

    def test_ongoing_transaction_aborted_first(self) -> None:
        """Init on an Ongoing transaction aborts it and answers CONCURRENT_TRANSACTIONS."""
        first = self.init("a")
        self.add("a", first.producer_id, 0, [T0])
        self.assertEqual(self.produce("a", first.producer_id, 0).error_code, 0)
        busy = self.init("a")
        self.assertEqual(busy.error_code, ErrorCode.CONCURRENT_TRANSACTIONS)
        self.assertEqual(self.txn("a").state, TxnState.COMPLETE_ABORT)
        self.assertEqual(self.markers(0), [(first.producer_id, 1)])
        retried = self.init("a")
        self.assertEqual((retried.error_code, retried.producer_epoch), (0, 2))

    def test_exhausted_epoch_rotates_producer_id(self) -> None:
        """At epoch Short.MAX - 1 the next init gets a new producer id at epoch 0."""
        first = self.init("a")
        self.txn("a").producer_epoch = 32766
        rotated = self.init("a")
        self.assertEqual(rotated.error_code, 0)
        self.assertNotEqual(rotated.producer_id, first.producer_id)
        self.assertEqual(rotated.producer_epoch, 0)

    def test_concurrent_init_while_writing(self) -> None:
        """While an EndTxn's markers are written, InitProducerId is CONCURRENT_TRANSACTIONS."""
        held = HeldMarkers()
        self.service.coordinator.markers = held
        first = self.init("a")
        self.add("a", first.producer_id, 0, [T0])
        self.assertEqual(self.end("a", first.producer_id, 0).error_code, 0)
        self.assertEqual(self.init("a").error_code, ErrorCode.CONCURRENT_TRANSACTIONS)
        held.release()
        self.assertEqual(self.txn("a").state, TxnState.COMPLETE_COMMIT)
        self.assertEqual(self.init("a").error_code, 0)


class EndTxnTests(TxnTestCase):
    def begin(self, tid: str = "a") -> tuple[int, int]:
        r = self.init(tid)
        self.assertEqual(self.add(tid, r.producer_id, r.producer_epoch, [T0, T1]), {T0: 0, T1: 0})
        return r.producer_id, r.producer_epoch

    def test_commit_writes_markers_then_completes(self) -> None:
        """EndTxn commit writes a marker to every partition and ends CompleteCommit."""
        pid, epoch = self.begin()
        self.assertEqual(self.txn("a").state, TxnState.ONGOING)
        response = self.end("a", pid, epoch)
        self.assertEqual(response.error_code, 0)
        self.assertEqual(self.markers(0), [(pid, epoch)])
        self.assertEqual(self.markers(1), [(pid, epoch)])
        txn = self.txn("a")
        self.assertEqual((txn.state, txn.partitions), (TxnState.COMPLETE_COMMIT, set()))

    def test_answered_after_the_markers_led_here(self) -> None:
        """EndTxn waits for the markers of the partitions this broker leads, not for the rest."""
        held = HeldMarkers(hold_here=True)
        self.service.coordinator.markers = held
        pid, epoch = self.begin()
        request = EndTxnRequest(
            transactional_id="a", producer_id=pid, producer_epoch=epoch, committed=True
        )
        d = self.call_later(end_txn.SPEC, request, 3)
        self.assertNoResult(d)
        self.assertEqual(self.txn("a").state, TxnState.PREPARE_COMMIT)
        held.release_here()
        self.assertEqual(self.successResultOf(d).error_code, 0)
        self.assertEqual(self.txn("a").state, TxnState.PREPARE_COMMIT)
        held.release()
        self.assertEqual(self.txn("a").state, TxnState.COMPLETE_COMMIT)

    def test_answered_after_prepare_commit(self) -> None:
        """EndTxn answers once PrepareCommit is written; a retry then is CONCURRENT_TRANSACTIONS."""
        held = HeldMarkers()
        self.service.coordinator.markers = held
        pid, epoch = self.begin()
        self.assertEqual(self.end("a", pid, epoch).error_code, 0)
        self.assertEqual(self.txn("a").state, TxnState.PREPARE_COMMIT)
        self.assertEqual(self.end("a", pid, epoch).error_code, ErrorCode.CONCURRENT_TRANSACTIONS)
        self.assertEqual(self.add("a", pid, epoch, [T0])[T0], ErrorCode.CONCURRENT_TRANSACTIONS)
        held.release()
        self.assertEqual(self.txn("a").state, TxnState.COMPLETE_COMMIT)
        self.assertEqual(self.end("a", pid, epoch).error_code, 0)  # a retry: done

    def test_abort_after_commit_is_invalid(self) -> None:
        """Aborting a committed transaction is INVALID_TXN_STATE; so is ending an Empty one."""
        pid, epoch = self.begin()
        self.end("a", pid, epoch)
        self.assertEqual(
            self.end("a", pid, epoch, commit=False).error_code, ErrorCode.INVALID_TXN_STATE
        )
        r = self.init("b")
        self.assertEqual(self.end("b", r.producer_id, 0).error_code, ErrorCode.INVALID_TXN_STATE)

    def test_fenced_epoch(self) -> None:
        """An older epoch is PRODUCER_FENCED (v2+) or INVALID_PRODUCER_EPOCH (v0-v1)."""
        pid, _ = self.begin()
        self.init("a")  # aborts and bumps
        self.assertEqual(self.end("a", pid, 0, version=2).error_code, ErrorCode.PRODUCER_FENCED)
        self.assertEqual(
            self.end("a", pid, 0, version=1).error_code, ErrorCode.INVALID_PRODUCER_EPOCH
        )

    def test_unknown_id(self) -> None:
        """An unknown transactional id is INVALID_PRODUCER_ID_MAPPING."""
        self.assertEqual(self.end("zz", 1, 0).error_code, ErrorCode.INVALID_PRODUCER_ID_MAPPING)

    def test_tv2_bumps_epoch_at_every_end(self) -> None:
        """EndTxn v5 (KIP-890) bumps the epoch, returns it, and a retry with the old one is NONE."""
        r = self.init("a")
        pid = r.producer_id
        self.assertEqual(self.produce("a", pid, 0, version=12).error_code, 0)  # implicit add
        self.assertEqual(self.txn("a").partitions, {T0})
        response = self.end("a", pid, 0, version=5)
        self.assertEqual((response.error_code, response.producer_id), (0, pid))
        self.assertEqual(response.producer_epoch, 1)
        self.assertEqual(self.markers(0), [(pid, 1)])
        retry = self.end("a", pid, 0, version=5)
        self.assertEqual((retry.error_code, retry.producer_epoch), (0, 1))
        # The next transaction goes on with epoch 1.
        self.assertEqual(self.produce("a", pid, 1, version=12).error_code, 0)
        self.assertEqual(self.end("a", pid, 1, version=5).producer_epoch, 2)

    def test_tv2_epoch_overflow_rotates(self) -> None:
        """A TV2 EndTxn at the last epoch switches to a new producer id at epoch 0."""
        r = self.init("a")
        self.produce("a", r.producer_id, 0, version=12)
        self.txn("a").producer_epoch = 32766
        response = self.end("a", r.producer_id, 32766, version=5)
        self.assertEqual(response.error_code, 0)
        self.assertNotEqual(response.producer_id, r.producer_id)
        self.assertEqual(response.producer_epoch, 0)
        self.assertEqual(self.txn("a").producer_id, response.producer_id)


class TimerTests(TxnTestCase):
    def test_timed_out_transaction_aborted_and_fenced(self) -> None:
        """A transaction past its timeout is aborted with a bumped epoch at the next check."""
        self.service.start()
        r = self.init("a", timeout_ms=5000)
        self.add("a", r.producer_id, 0, [T0])
        self.clock.advance(4)
        self.assertEqual(self.txn("a").state, TxnState.ONGOING)
        self.clock.advance(10)  # the 10 s check after the timeout
        txn = self.txn("a")
        self.assertEqual((txn.state, txn.producer_epoch), (TxnState.COMPLETE_ABORT, 1))
        self.assertEqual(self.markers(0), [(r.producer_id, 1)])
        self.assertEqual(self.end("a", r.producer_id, 0).error_code, ErrorCode.PRODUCER_FENCED)
        self.service.stop()

    def test_idle_id_expires(self) -> None:
        """An id idle for transactional.id.expiration.ms is removed at the hourly check."""
        self.service.start()
        r = self.init("a")
        self.add("a", r.producer_id, 0, [T0])
        self.end("a", r.producer_id, 0)
        self.clock.advance(604800 - 3600)
        self.assertIn("a", self.service.coordinator.txns)
        self.clock.advance(7200)
        self.assertNotIn("a", self.service.coordinator.txns)
        log = log_of(self.broker, rec.TRANSACTION_STATE_TOPIC, rec.partition_for("a", 50))
        self.assertEqual(
            len(stored_headers(log)), 5
        )  # Empty, Ongoing, Prepare, Complete, tombstone
        self.service.stop()


class LoadTests(TxnTestCase):
    def restart(self) -> None:
        """Rebuild the broker over the same stores and start its transaction coordinator."""
        self.broker.transactions.stop()
        self.broker = with_logs(self.broker, self.broker.logs)
        self.broker.transactions.start()

    def test_load_in_progress(self) -> None:
        """While loading, the transaction APIs answer COORDINATOR_LOAD_IN_PROGRESS."""
        self.mark_loading("a")
        self.assertEqual(self.init("a").error_code, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS)
        self.assertEqual(self.add("a", 0, 0, [T0])[T0], ErrorCode.COORDINATOR_LOAD_IN_PROGRESS)
        self.assertEqual(self.end("a", 0, 0).error_code, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS)

    def test_ongoing_survives_restart(self) -> None:
        """An Ongoing transaction is Ongoing again after a restart, with its partitions."""
        r = self.init("a")
        self.add("a", r.producer_id, 0, [T0, T1])
        self.restart()
        txn = self.txn("a")
        self.assertEqual((txn.state, txn.partitions), (TxnState.ONGOING, {T0, T1}))
        self.assertEqual(self.end("a", r.producer_id, 0).error_code, 0)
        self.assertEqual(self.txn("a").state, TxnState.COMPLETE_COMMIT)

    def test_prepare_commit_completed_at_load(self) -> None:
        """A transaction left in PrepareCommit gets its markers and completes at load."""
        held = HeldMarkers()
        self.service.coordinator.markers = held
        r = self.init("a")
        self.add("a", r.producer_id, 0, [T0, T1])
        self.end("a", r.producer_id, 0)
        self.assertEqual(self.markers(0), [])
        self.restart()
        self.assertEqual(self.txn("a").state, TxnState.COMPLETE_COMMIT)
        self.assertEqual(self.markers(0), [(r.producer_id, 0)])
        self.assertEqual(self.markers(1), [(r.producer_id, 0)])
        self.assertEqual(self.init("a").producer_epoch, 1)
