"""What Produce asks of transactions: the transactional-id check and partition verification.

Kafka's C{KafkaApis.handleProduceRequest}: a request holding transactional
batches needs a transactional id the principal may WRITE, else the whole
request is TRANSACTIONAL_ID_AUTHORIZATION_FAILED; its authorized partitions
are then verified with (or, from v12, added to) the producer's transaction
by the coordinator (KIP-890, C{AddPartitionsToTxnManager}).
"""

from __future__ import annotations

from collections.abc import Sequence

from kafkatwist.apis._spec import RequestContext
from kafkatwist.apis._txn import partition_verification_enabled, retry_concurrent
from kafkatwist.errors import ErrorCode, RecordsError
from kafkatwist.messages.produce import PartitionProduceData, ProduceRequest
from kafkatwist.security.acl import AclOperation, ResourceType
from kafkatwist.storage.kraft import TopicState
from kafkatwist.wire.batch import (
    ATTRIBUTES_OFFSET,
    BATCH_HEADER_SIZE,
    MAGIC_OFFSET,
    TRANSACTIONAL_FLAG_MASK,
    parse_batch_header,
)


def has_transactional_records(request: ProduceRequest) -> bool:
    """
    Whether the first batch of some partition is transactional (Kafka's
    C{RequestUtils.hasTransactionalRecords}): two bytes read per partition.
    """
    for td in request.topic_data:
        for pd in td.partition_data:
            buf = pd.records
            if (
                isinstance(buf, (bytes, bytearray, memoryview))
                and len(buf) >= BATCH_HEADER_SIZE
                and buf[MAGIC_OFFSET] == 2
                # The attributes are a big-endian int16: the flag is in its low byte.
                and buf[ATTRIBUTES_OFFSET + 1] & TRANSACTIONAL_FLAG_MASK
            ):
                return True
    return False


def transactional_id_authorized(ctx: RequestContext, request: ProduceRequest) -> bool:
    """
    Whether the request may carry its transactional batches, if any.

    As Kafka's C{handleProduceRequest}: transactional batches need a
    transactional id (even without an authorizer) and WRITE on it. Without
    an authorizer and with a transactional id, no batch is looked at.
    """
    tid = request.transactional_id
    if tid is not None and ctx.broker.authorizer is None:
        return True
    if not has_transactional_records(request):
        return True
    return tid is not None and ctx.authorize(AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, tid)


#: Verification errors a producer does not retry as Kafka means, and what it gets instead
#: (Kafka's C{ReplicaManager}: NOT_ENOUGH_REPLICAS is retried and refreshes no metadata).
_PRODUCE_ERRORS = {
    ErrorCode.PRODUCER_FENCED: ErrorCode.INVALID_PRODUCER_EPOCH,
    ErrorCode.CONCURRENT_TRANSACTIONS: ErrorCode.NOT_ENOUGH_REPLICAS,
    ErrorCode.COORDINATOR_LOAD_IN_PROGRESS: ErrorCode.NOT_ENOUGH_REPLICAS,
    ErrorCode.COORDINATOR_NOT_AVAILABLE: ErrorCode.NOT_ENOUGH_REPLICAS,
    ErrorCode.NOT_COORDINATOR: ErrorCode.NOT_ENOUGH_REPLICAS,
}

#: The first Produce version of transaction version 2 (KIP-890 part 2): its
#: partitions are added to the transaction, not verified.
TV2_PRODUCE_VERSION = 12
#: The first version that understands TRANSACTION_ABORTABLE (KIP-890 part 1).
ABORTABLE_PRODUCE_VERSION = 11


async def verify_transaction(
    ctx: RequestContext,
    transactional_id: str,
    partitions: Sequence[tuple[TopicState, PartitionProduceData]],
) -> dict[tuple[str, int], ErrorCode]:
    """
    The partitions of a transactional produce that are not (and cannot be) in its transaction.

    C{partitions} are the request's authorized partitions of existing
    topics (Kafka verifies only what it would append). One check per
    request, with the producer id and epoch of the first transactional
    batch (Kafka verifies a request's partitions together). As Kafka's
    C{KafkaApis.handleProduceRequest} and C{ReplicaManager}: v12+ adds the
    partitions (retrying CONCURRENT_TRANSACTIONS for a while, then
    answering it as it is); below v12 they are verified, unless
    ``transaction.partition.verification.enable`` is false, and a partition
    outside the transaction is TRANSACTION_ABORTABLE from v11,
    INVALID_TXN_STATE below.
    """
    add = ctx.api_version >= TV2_PRODUCE_VERSION
    if not add and not partition_verification_enabled(ctx.broker.configs):
        return {}
    wanted: list[tuple[str, int]] = []
    producer: tuple[int, int] | None = None
    for topic, pd in partitions:
        buf = pd.records
        if pd.index not in topic.partitions:
            continue
        if not isinstance(buf, (bytes, bytearray, memoryview)) or len(buf) < BATCH_HEADER_SIZE:
            continue
        try:
            header = parse_batch_header(buf)
        except RecordsError:
            continue  # validation refuses it
        if not header.is_transactional or header.producer_id < 0:
            continue
        producer = producer or (header.producer_id, header.producer_epoch)
        wanted.append((topic.name, pd.index))
    if producer is None:
        return {}
    transactions = ctx.broker.transactions
    tid = transactional_id
    codes = await transactions.ensure_partitions(tid, producer[0], producer[1], wanted, add)
    if add:
        codes = await retry_concurrent(
            ctx.broker.clock,
            codes,
            lambda: transactions.ensure_partitions(tid, producer[0], producer[1], wanted, add),
        )
    refused: dict[tuple[str, int], ErrorCode] = {}
    for tp, code in codes.items():
        if code == ErrorCode.NONE:
            continue
        if code == ErrorCode.TRANSACTION_ABORTABLE and ctx.api_version < ABORTABLE_PRODUCE_VERSION:
            code = ErrorCode.INVALID_TXN_STATE
        if code == ErrorCode.CONCURRENT_TRANSACTIONS and add:
            # Kafka leaves it as it is for TV2: the commit phase makes it common.
            refused[tp] = code
            continue
        refused[tp] = _PRODUCE_ERRORS.get(code, code)
    return refused
