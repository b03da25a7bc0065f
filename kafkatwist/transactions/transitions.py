"""The checks before a transition: Kafka's C{prepareInitProducerIdTransit} and C{endTransaction}.

Pure functions of a transactional id's metadata and a request: each returns
the prepared transition (the metadata is then pending) or the answer to
give without writing anything.
"""

from __future__ import annotations

from twisted.logger import Logger

from kafkatwist.errors import ErrorCode
from kafkatwist.transactions.metadata import (
    NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID,
    SHORT_MAX,
    TransactionMetadata,
    TxnState,
    TxnTransit,
    is_epoch_exhausted,
)

_PC, _PA, _CC, _CA = (
    TxnState.PREPARE_COMMIT,
    TxnState.PREPARE_ABORT,
    TxnState.COMPLETE_COMMIT,
    TxnState.COMPLETE_ABORT,
)

#: An answer with a producer id and epoch: (error, producer id, epoch).
ProducerAnswer = tuple[ErrorCode, int, int]

_log = Logger()


def failed(code: ErrorCode) -> ProducerAnswer:
    """An error answer: producer id -1, epoch -1 (Kafka's C{initTransactionError})."""
    return code, NO_PRODUCER_ID, NO_PRODUCER_EPOCH


def prepare_init(
    txn: TransactionMetadata,
    timeout_ms: int,
    expected: tuple[int, int] | None,
    new_producer_id: int | None,
    now: int,
) -> TxnTransit | ErrorCode:
    """Kafka's C{prepareInitProducerIdTransit}."""
    if txn.pending is not None:
        return ErrorCode.CONCURRENT_TRANSACTIONS
    if expected is not None:
        pid, epoch = expected
        valid = (
            txn.producer_epoch == NO_PRODUCER_EPOCH
            or pid == txn.producer_id
            or (pid == txn.previous_producer_id and is_epoch_exhausted(epoch))
        )
        if not valid:
            return ErrorCode.PRODUCER_FENCED
    state = txn.state
    if state.is_prepare:
        return ErrorCode.CONCURRENT_TRANSACTIONS
    if state == TxnState.ONGOING:
        return txn.prepare_fence_epoch()
    if state in (TxnState.EMPTY, _CC, _CA):
        if txn.epoch_exhausted and (expected is None or expected[1] == txn.producer_epoch):
            if new_producer_id is None:
                return ErrorCode.CONCURRENT_TRANSACTIONS  # exhausted meanwhile: retry
            return txn.prepare_producer_id_rotation(
                new_producer_id, timeout_ms, now, expected is not None
            )
        if txn.epoch_exhausted:
            return ErrorCode.PRODUCER_FENCED
        transit = txn.prepare_increment_epoch(
            timeout_ms, None if expected is None else expected[1], now
        )
        return ErrorCode.PRODUCER_FENCED if transit is None else transit
    _log.error(
        "Transactional id {tid} is {state}: it cannot be initialized",
        tid=txn.transactional_id,
        state=state.kafka_name,
    )
    return ErrorCode.CONCURRENT_TRANSACTIONS


def prepare_end(
    txn: TransactionMetadata,
    producer_id: int,
    producer_epoch: int,
    commit: bool,
    client_version: int,
    from_client: bool,
    fence: TxnTransit | None,
    next_producer_id: int,
    now: int,
) -> TxnTransit | ProducerAnswer:
    """The checks of Kafka's C{endTransaction} before PrepareCommit/PrepareAbort is written."""
    state = txn.state
    fencing = fence is not None
    v2 = not fencing and txn.supports_epoch_bump
    retry_on_overflow = (
        v2
        and txn.previous_producer_id == producer_id
        and producer_epoch == SHORT_MAX - 1
        and txn.producer_epoch == 0
    )
    retry_on_bump = v2 and txn.producer_epoch == producer_epoch + 1
    if fencing:
        valid_epoch = True
    elif v2:
        if state in (TxnState.ONGOING, TxnState.EMPTY):
            valid_epoch = producer_epoch == txn.producer_epoch
        elif state.is_prepare:
            valid_epoch = retry_on_bump
        else:
            valid_epoch = retry_on_bump or retry_on_overflow
    else:
        valid_epoch = producer_epoch == txn.producer_epoch or (
            not from_client and producer_epoch >= txn.producer_epoch
        )
    if txn.producer_id != producer_id and not retry_on_overflow:
        return failed(ErrorCode.INVALID_PRODUCER_ID_MAPPING)
    if not valid_epoch:
        return failed(ErrorCode.PRODUCER_FENCED)
    if txn.pending is not None and not (fencing and txn.pending == TxnState.PREPARE_EPOCH_FENCE):
        return failed(ErrorCode.CONCURRENT_TRANSACTIONS)
    wanted_complete, wanted_prepare = (_CC, _PC) if commit else (_CA, _PA)
    if state == TxnState.ONGOING:
        if fence is not None:
            return txn.prepare_fenced_abort(fence, now)
        return txn.prepare_end(commit, client_version, next_producer_id, now)
    if state == wanted_complete:
        return ErrorCode.NONE, txn.producer_id, txn.producer_epoch
    if state == wanted_prepare:
        return failed(ErrorCode.CONCURRENT_TRANSACTIONS)
    return failed(ErrorCode.INVALID_TXN_STATE)
