"""Producer id allocation in blocks recorded in the KRaft metadata log.

Kafka's controller hands brokers blocks of 1000 producer ids
(``ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE``) and persists each hand-out as a
``ProducerIdsRecord`` whose ``next_producer_id`` is the first id of the
following block (``ProducerIdControlManager``); a broker then gives out ids
from its block (``RPCProducerIdManager``). This single node does both: when
its block is used up it appends a ProducerIdsRecord and waits for it to be
written before giving out an id of the new block. After a restart the
image's ``next_producer_id`` is past every block ever handed out, so no id
is reused (the rest of the last block is skipped, as in Kafka).
"""

from __future__ import annotations

from typing import Final

from attrs import define, field
from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure

from kafkatwist.errors import ErrorCode, KafkaError
from kafkatwist.messages import metadata_records as mr
from kafkatwist.storage.interfaces import IMetadataStore
from kafkatwist.storage.metadata_image import MetadataImage

BLOCK_SIZE: Final = 1000
_LONG_MAX: Final = (1 << 63) - 1


@define
class ProducerIdAllocator:
    """
    Gives out producer ids, one KRaft record per block of L{BLOCK_SIZE}.

    @ivar _metadata: Where the blocks are recorded (ProducerIdsRecords) and
        the next unused block is read from.
    @ivar _node_id: This broker, named in the records it writes.
    """

    _metadata: IMetadataStore
    _node_id: int
    block_size: int = BLOCK_SIZE
    #: The next id to give out and the end (exclusive) of the current block.
    _next: int = field(default=0, init=False)
    _end: int = field(default=0, init=False)
    #: Callers waiting for a block being written.
    _waiting: list[Deferred[int]] | None = field(default=None, init=False)

    def allocate(self) -> Deferred[int]:
        """A Deferred firing with a never-used producer id."""
        if self._next < self._end:
            pid = self._next
            self._next += 1
            return succeed(pid)
        d: Deferred[int] = Deferred()
        if self._waiting is not None:
            self._waiting.append(d)
            return d
        self._waiting = [d]
        block = self.block_size
        starts: list[int] = []

        def build(image: MetadataImage) -> list[mr.ProducerIdsRecord]:
            # Called again with the caught-up image when another broker took a block first.
            start = image.next_producer_id
            if start > _LONG_MAX - block:
                raise KafkaError(
                    ErrorCode.UNKNOWN_SERVER_ERROR,
                    "Exhausted all producerIds as the next block's end producerId would "
                    "exceed the long type limit",
                )
            starts.append(start)
            return [
                mr.ProducerIdsRecord(
                    broker_id=self._node_id, broker_epoch=-1, next_producer_id=start + block
                )
            ]

        self._metadata.append_when(build).addCallbacks(
            lambda _: self._block_written(starts[-1]), self._fail_waiters
        )
        return d

    def _block_written(self, start: int) -> None:
        self._next, self._end = start, start + self.block_size
        waiting, self._waiting = self._waiting or [], None
        for d in waiting:
            # Everyone queued gets an id, allocating a further block if needed.
            self.allocate().chainDeferred(d)

    def _fail_waiters(self, reason: BaseException | Failure) -> None:
        waiting, self._waiting = self._waiting or [], None
        for d in waiting:
            d.errback(reason)


__all__ = ["BLOCK_SIZE", "ProducerIdAllocator"]
