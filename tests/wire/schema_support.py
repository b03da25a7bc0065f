"""Shared helpers for the schema tests: round trips and a fixed topic id."""

from __future__ import annotations

import uuid

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.wire.primitives import Reader
from kafkatwist.wire.schema import decode, encode_bytes

#: A topic id for requests that name topics by id.
TOPIC_ID = uuid.UUID("00000000-0000-4000-8000-000000000086")


def round_trip(test: SynchronousTestCase, cls: type, version: int, obj: object) -> bytes:
    """Encode C{obj}, decode it back and re-encode: both must match; return the bytes."""
    data = encode_bytes(obj, version)
    r = Reader(data)
    back: object = decode(cls, version, r)
    test.assertEqual(r.remaining, 0)
    test.assertEqual(back, obj)
    test.assertEqual(encode_bytes(back, version), data)
    return data
