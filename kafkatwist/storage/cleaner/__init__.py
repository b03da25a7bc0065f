"""Kafka's log cleaner for ``cleanup.policy=compact`` logs: the cleaning itself.

The entry point is L{clean_log} (one pass over one log, Kafka's
C{Cleaner.clean}); the manager that decides when and which logs to clean
calls it with the log's ``cleaner-offset-checkpoint`` entry
(L{kafkatwist.storage.checkpoints.read_cleaner_offset_checkpoint}) and
stores C{CleanStats.first_dirty_offset_after} back. L{cleanable_segments}
and L{cleanable_offsets} give it what its dirty ratio and lag bounds need.

Modules: L{offset_map} (the bounded key map), L{txn} (transactions seen by
the cleaner), L{batches} (reading segments, Kafka's C{filterTo} per batch),
L{clean} (the pass); the file dance is L{kafkatwist.storage.swap}.
"""

from kafkatwist.storage.cleaner.clean import (
    DEFAULT_DELETE_RETENTION_MS,
    CleanStats,
    clean_log,
    cleanable_offsets,
    cleanable_segments,
    group_segments,
)
from kafkatwist.storage.cleaner.offset_map import (
    DEFAULT_KERNELS,
    DEFAULT_LOAD_FACTOR,
    PYTHON_KERNELS,
    Kernels,
    OffsetMap,
)
from kafkatwist.storage.swap import CleaningAbortedError

__all__ = [
    "DEFAULT_DELETE_RETENTION_MS",
    "DEFAULT_KERNELS",
    "DEFAULT_LOAD_FACTOR",
    "PYTHON_KERNELS",
    "CleanStats",
    "CleaningAbortedError",
    "Kernels",
    "OffsetMap",
    "clean_log",
    "cleanable_offsets",
    "cleanable_segments",
    "group_segments",
]
