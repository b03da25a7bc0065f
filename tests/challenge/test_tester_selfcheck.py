"""Self-checks for the tester port against bytes recorded from the real tester.

The hex below is copied from ``codecrafters-io/kafka-tester``'s ``pass``
fixtures (``internal/test_helpers/fixtures/*/pass``), which log what the Go
tester sent to a real Apache Kafka broker and what Kafka answered, and from
``/work/shared/challenge/starter-README.md``.  Requests must match byte for
byte; Kafka's answers must pass the ported assertions.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from tests.challenge import tester as t


def h(text: str) -> bytes:
    """Turn a hex dump (any whitespace) into bytes."""
    return bytes.fromhex("".join(text.split()))


# --- kafka-tester fixtures/base/pass and fixtures/fetch/pass (GS0/PV1) ------
APIVERSIONS_REQ_0A95C1BF = h("""
00 00 00 26 00 12 00 04 0a 95 c1 bf 00 0c 6b 61 66 6b 61 2d 74 65 73 74 65 72 00 0a 6b 61 66 6b
61 2d 63 6c 69 04 30 2e 31 00
""")
# Real Kafka 4.0's ApiVersions v4 answer (with SupportedFeatures/FinalizedFeatures tagged fields).
APIVERSIONS_RESP_0A95C1BF = h("""
00 00 02 19 0a 95 c1 bf 00 00 3e 00 00 00 00 00 0b 00 00 01 00 00 00 11 00 00 02 00 00 00 09 00
00 03 00 00 00 0c 00 00 08 00 00 00 09 00 00 09 00 00 00 09 00 00 0a 00 00 00 06 00 00 0b 00 00
00 09 00 00 0c 00 00 00 04 00 00 0d 00 00 00 05 00 00 0e 00 00 00 05 00 00 0f 00 00 00 05 00 00
10 00 00 00 05 00 00 11 00 00 00 01 00 00 12 00 00 00 04 00 00 13 00 00 00 07 00 00 14 00 00 00
06 00 00 15 00 00 00 02 00 00 16 00 00 00 05 00 00 17 00 00 00 04 00 00 18 00 00 00 05 00 00 19
00 00 00 04 00 00 1a 00 00 00 04 00 00 1b 00 00 00 01 00 00 1c 00 00 00 04 00 00 1d 00 00 00 03
00 00 1e 00 00 00 03 00 00 1f 00 00 00 03 00 00 20 00 00 00 04 00 00 21 00 00 00 02 00 00 22 00
00 00 02 00 00 23 00 00 00 04 00 00 24 00 00 00 02 00 00 25 00 00 00 03 00 00 26 00 00 00 03 00
00 27 00 00 00 02 00 00 28 00 00 00 02 00 00 29 00 00 00 03 00 00 2a 00 00 00 02 00 00 2b 00 00
00 02 00 00 2c 00 00 00 01 00 00 2d 00 00 00 00 00 00 2e 00 00 00 00 00 00 2f 00 00 00 00 00 00
30 00 00 00 01 00 00 31 00 00 00 01 00 00 32 00 00 00 00 00 00 33 00 00 00 00 00 00 37 00 00 00
02 00 00 39 00 00 00 01 00 00 3c 00 00 00 01 00 00 3d 00 00 00 00 00 00 40 00 00 00 00 00 00 41
00 00 00 00 00 00 42 00 00 00 01 00 00 44 00 00 00 00 00 00 45 00 00 00 00 00 00 4a 00 00 00 00
00 00 4b 00 00 00 00 00 00 50 00 00 00 00 00 00 51 00 00 00 00 00 00 00 00 00 03 00 3d 04 0e 67
72 6f 75 70 2e 76 65 72 73 69 6f 6e 00 00 00 01 00 0e 6b 72 61 66 74 2e 76 65 72 73 69 6f 6e 00
00 00 01 00 11 6d 65 74 61 64 61 74 61 2e 76 65 72 73 69 6f 6e 00 01 00 16 00 01 08 00 00 00 00
00 00 00 07 02 17 02 11 6d 65 74 61 64 61 74 61 2e 76 65 72 73 69 6f 6e 00 16 00 16 00
""")
# NV3: hard-coded correlation id 7.
APIVERSIONS_REQ_NV3 = h("""
00 00 00 26 00 12 00 04 00 00 00 07 00 0c 6b 61 66 6b 61 2d 74 65 73 74 65 72 00 0a 6b 61 66 6b
61 2d 63 6c 69 04 30 2e 31 00
""")
# NC5: api_version 1698, correlation id 1616512461; Kafka answers a v0 body with error 35.
APIVERSIONS_REQ_NC5 = h("""
00 00 00 26 00 12 06 a2 60 5a 05 cd 00 0c 6b 61 66 6b 61 2d 74 65 73 74 65 72 00 0a 6b 61 66 6b
61 2d 63 6c 69 04 30 2e 31 00
""")
APIVERSIONS_RESP_NC5 = h("00 00 00 10 60 5a 05 cd 00 23 00 00 00 01 00 12 00 00 00 04")

# --- /work/shared/challenge/starter-README.md ("Rough Work") ----------------
README_APIVERSIONS_V4 = h(
    "000000230012000450b2a73000096b61666b612d636c69000a6b61666b612d636c6904302e3100"
)
README_APIVERSIONS_V4_B = h(
    "00000023001200046f7fc66100096b61666b612d636c69000a6b61666b612d636c6904302e3100"
)
README_APIVERSIONS_BAD = h(
    "000000230012674a4f74d28b00096b61666b612d636c69000a6b61666b612d636c6904302e3100"
)
README_DTP_QUX = h(
    "00000031004b00002aa78ccf000c6b61666b612d746573746572000212756e6b6e6f776e2d746f7069632d7175780000000001ff00"
)

# --- fixtures/describe_topic_partitions/pass ---------------------------------
DTP_REQ_VT6 = h("""
00 00 00 30 00 4b 00 00 7d 7b 4a 94 00 0c 6b 61 66 6b 61 2d 74 65 73 74 65 72 00 02 11 55 4e 4b
4e 4f 57 4e 5f 54 4f 50 49 43 5f 39 32 00 00 00 00 01 ff 00
""")
DTP_RESP_VT6 = h("""
00 00 00 36 7d 7b 4a 94 00 00 00 00 00 02 00 03 11 55 4e 4b 4e 4f 57 4e 5f 54 4f 50 49 43 5f 39
32 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01 00 00 0d f8 00 ff 00
""")
DTP_REQ_EA7 = h("""
00 00 00 25 00 4b 00 00 70 76 db 55 00 0c 6b 61 66 6b 61 2d 74 65 73 74 65 72 00 02 06 6d 61 6e
67 6f 00 00 00 00 01 ff 00
""")
DTP_RESP_EA7 = h("""
00 00 00 47 70 76 db 55 00 00 00 00 00 02 00 00 06 6d 61 6e 67 6f 71 a5 9a 51 89 68 4f 8b 93 7e
2d 59 b2 dc 35 0e 00 02 00 00 00 00 00 00 00 00 00 01 00 00 00 00 02 00 00 00 01 02 00 00 00 01
01 01 01 00 00 00 0d f8 00 ff 00
""")
DTP_REQ_KU4 = h("""
00 00 00 25 00 4b 00 00 01 ee 84 7e 00 0c 6b 61 66 6b 61 2d 74 65 73 74 65 72 00 02 06 61 70 70
6c 65 00 00 00 00 02 ff 00
""")
DTP_RESP_KU4 = h("""
00 00 00 63 01 ee 84 7e 00 00 00 00 00 02 00 00 06 61 70 70 6c 65 71 a5 9a 51 89 68 4f 8b 93 7e
7e 97 cc da aa 9c 00 03 00 00 00 00 00 00 00 00 00 01 00 00 00 00 02 00 00 00 01 02 00 00 00 01
01 01 01 00 00 00 00 00 00 01 00 00 00 01 00 00 00 00 02 00 00 00 01 02 00 00 00 01 01 01 01 00
00 00 0d f8 00 ff 00
""")
DTP_REQ_WQ2 = h("""
00 00 00 31 00 4b 00 00 73 db a9 a0 00 0c 6b 61 66 6b 61 2d 74 65 73 74 65 72 00 03 07 62 61 6e
61 6e 61 00 0a 72 61 73 70 62 65 72 72 79 00 00 00 00 03 ff 00
""")
DTP_RESP_WQ2 = h("""
00 00 00 a3 73 db a9 a0 00 00 00 00 00 03 00 00 07 62 61 6e 61 6e 61 71 a5 9a 51 89 68 4f 8b 93
7e 00 00 00 00 01 ac 00 02 00 00 00 00 00 00 00 00 00 01 00 00 00 00 02 00 00 00 01 02 00 00 00
01 01 01 01 00 00 00 0d f8 00 00 00 0a 72 61 73 70 62 65 72 72 79 71 a5 9a 51 89 68 4f 8b 93 7e
00 00 00 00 04 cb 00 03 00 00 00 00 00 00 00 00 00 01 00 00 00 00 02 00 00 00 01 02 00 00 00 01
01 01 01 00 00 00 00 00 00 01 00 00 00 01 00 00 00 00 02 00 00 00 01 02 00 00 00 01 01 01 01 00
00 00 0d f8 00 ff 00
""")

# --- fixtures/fetch/pass -----------------------------------------------------
FETCH_REQ_DH6 = h("""
00 00 00 30 00 01 00 10 60 5a 05 cd 00 0c 6b 61 66 6b 61 2d 74 65 73 74 65 72 00 00 00 01 f4 00
00 00 01 7f ff ff ff 00 00 00 00 00 00 00 00 00 01 01 01 00
""")
FETCH_RESP_DH6 = h("00 00 00 11 60 5a 05 cd 00 00 00 00 00 00 00 02 e9 9f 03 01 00")
FETCH_REQ_HN6 = h("""
00 00 00 63 00 01 00 10 76 02 b0 58 00 0c 6b 61 66 6b 61 2d 74 65 73 74 65 72 00 00 00 01 f4 00
00 00 01 7f ff ff ff 00 00 00 00 00 00 00 00 00 02 71 a5 9a 51 89 68 4f 8b 93 7e 00 00 00 00 04
79 02 00 00 00 00 ff ff ff ff 00 00 00 00 00 00 00 00 ff ff ff ff ff ff ff ff ff ff ff ff 7f ff
ff ff 00 00 01 01 00
""")
FETCH_RESP_HN6 = h("""
00 00 00 48 76 02 b0 58 00 00 00 00 00 00 00 08 21 c6 b1 02 71 a5 9a 51 89 68 4f 8b 93 7e 00 00
00 00 04 79 02 00 00 00 00 00 64 ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff
ff ff ff 01 ff ff ff ff 01 00 00 00
""")
FETCH_REQ_CM4 = h("""
00 00 00 63 00 01 00 10 5c dd 07 a9 00 0c 6b 61 66 6b 61 2d 74 65 73 74 65 72 00 00 00 01 f4 00
00 00 01 7f ff ff ff 00 00 00 00 00 00 00 00 00 02 71 a5 9a 51 89 68 4f 8b 93 7e 71 08 75 85 a6
2d 02 00 00 00 00 ff ff ff ff 00 00 00 00 00 00 00 00 ff ff ff ff ff ff ff ff ff ff ff ff 7f ff
ff ff 00 00 01 01 00
""")
FETCH_RESP_CM4 = h("""
00 00 00 48 5c dd 07 a9 00 00 00 00 00 00 00 05 68 63 88 02 71 a5 9a 51 89 68 4f 8b 93 7e 71 08
75 85 a6 2d 02 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
00 00 00 00 ff ff ff ff 01 00 00 00
""")
FETCH_REQ_EG2 = h("""
00 00 00 63 00 01 00 10 01 8d 2f 37 00 0c 6b 61 66 6b 61 2d 74 65 73 74 65 72 00 00 00 01 f4 00
00 00 01 7f ff ff ff 00 00 00 00 00 00 00 00 00 02 71 a5 9a 51 89 68 4f 8b 93 7e b2 dc 35 0e 60
ec 02 00 00 00 00 ff ff ff ff 00 00 00 00 00 00 00 00 ff ff ff ff ff ff ff ff ff ff ff ff 7f ff
ff ff 00 00 01 01 00
""")
FETCH_RESP_EG2 = h("""
00 00 00 95 01 8d 2f 37 00 00 00 00 00 00 00 02 8d aa 57 02 71 a5 9a 51 89 68 4f 8b 93 7e b2 dc
35 0e 60 ec 02 00 00 00 00 00 00 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 01 00 00 00 00 00
00 00 00 00 ff ff ff ff 4e 00 00 00 00 00 00 00 00 00 00 00 41 00 00 00 00 02 cf 35 bf 62 00 00
00 00 00 00 00 00 01 91 e0 5b 6d 8b 00 00 01 91 e0 5b 6d 8b 00 00 00 00 00 00 00 00 00 00 00 00
00 00 00 00 00 01 1e 00 00 00 01 12 70 69 6e 65 61 70 70 6c 65 01 00 00 00
""")
FETCH_REQ_FD8 = h("""
00 00 00 63 00 01 00 10 0b 65 7e 30 00 0c 6b 61 66 6b 61 2d 74 65 73 74 65 72 00 00 00 01 f4 00
00 00 01 7f ff ff ff 00 00 00 00 00 00 00 00 00 02 71 a5 9a 51 89 68 4f 8b 93 7e aa a9 c9 b1 a6
2c 02 00 00 00 00 ff ff ff ff 00 00 00 00 00 00 00 00 ff ff ff ff ff ff ff ff ff ff ff ff 7f ff
ff ff 00 00 01 01 00
""")
FETCH_RESP_FD8 = h("""
00 00 00 e3 0b 65 7e 30 00 00 00 00 00 00 00 0d e9 af dd 02 71 a5 9a 51 89 68 4f 8b 93 7e aa a9
c9 b1 a6 2c 02 00 00 00 00 00 00 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00 02 00 00 00 00 00
00 00 00 00 ff ff ff ff 9b 01 00 00 00 00 00 00 00 00 00 00 00 41 00 00 00 00 02 b2 66 93 fc 00
00 00 00 00 00 00 00 01 91 e0 5b 6d 8b 00 00 01 91 e0 5b 6d 8b 00 00 00 00 00 00 00 00 00 00 00
00 00 00 00 00 00 01 1e 00 00 00 01 12 72 61 73 70 62 65 72 72 79 01 00 00 00 00 00 00 00 01 00
00 00 41 00 00 00 00 02 cf 35 bf 62 00 00 00 00 00 00 00 00 01 91 e0 5b 6d 8b 00 00 01 91 e0 5b
6d 8b 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01 1e 00 00 00 01 12 70 69 6e 65 61 70
70 6c 65 01 00 00 00
""")

# --- fixtures/produce/pass ---------------------------------------------------
PRODUCE_REQ_ZF2_A = h("""
00 00 00 78 00 00 00 0b 47 b3 69 78 00 0c 6b 61 66 6b 61 2d 74 65 73 74 65 72 00 00 ff ff 00 00
75 30 02 07 6f 72 61 6e 67 65 02 00 00 02 d0 4a 00 00 00 00 00 00 00 00 00 00 00 3d 00 00 00 00
02 72 bc 4a b0 00 00 00 00 00 00 00 00 01 91 e0 5b 6d 8b 00 00 01 91 e0 5b 6d 8b 00 00 00 00 00
00 00 00 00 00 00 00 00 00 00 00 00 01 16 00 00 00 01 0a 6d 61 6e 67 6f 00 00 00 00
""")
PRODUCE_RESP_ZF2_A = h("""
00 00 00 35 47 b3 69 78 00 02 07 6f 72 61 6e 67 65 02 00 00 02 d0 00 03 ff ff ff ff ff ff ff ff
ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff 01 00 00 00 00 00 00 00 00
""")
PRODUCE_REQ_ZF2_B = h("""
00 00 00 75 00 00 00 0b 27 11 57 36 00 0c 6b 61 66 6b 61 2d 74 65 73 74 65 72 00 00 ff ff 00 00
75 30 02 05 70 65 61 72 02 00 00 00 00 49 00 00 00 00 00 00 00 00 00 00 00 3c 00 00 00 00 02 74
be 71 fd 00 00 00 00 00 00 00 00 01 91 e0 5b 6d 8b 00 00 01 91 e0 5b 6d 8b 00 00 00 00 00 00 00
00 00 00 00 00 00 00 00 00 00 01 14 00 00 00 01 08 70 65 61 72 00 00 00 00
""")
PRODUCE_RESP_ZF2_B = h("""
00 00 00 33 27 11 57 36 00 02 05 70 65 61 72 02 00 00 00 00 00 03 ff ff ff ff ff ff ff ff ff ff
ff ff ff ff ff ff ff ff ff ff ff ff ff ff 01 00 00 00 00 00 00 00 00
""")
PRODUCE_REQ_GG1 = h("""
00 00 00 77 00 00 00 0b 51 7f 2d 86 00 0c 6b 61 66 6b 61 2d 74 65 73 74 65 72 00 00 ff ff 00 00
75 30 02 06 61 70 70 6c 65 02 00 00 00 00 4a 00 00 00 00 00 00 00 00 00 00 00 3d 00 00 00 00 02
a4 37 a6 ee 00 00 00 00 00 00 00 00 01 91 e0 5b 6d 8b 00 00 01 91 e0 5b 6d 8b 00 00 00 00 00 00
00 00 00 00 00 00 00 00 00 00 00 01 16 00 00 00 01 0a 61 70 70 6c 65 00 00 00 00
""")
PRODUCE_RESP_GG1 = h("""
00 00 00 34 51 7f 2d 86 00 02 06 61 70 70 6c 65 02 00 00 00 00 00 00 00 00 00 00 00 00 00 00 ff
ff ff ff ff ff ff ff 00 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 00
""")
PRODUCE_REQ_LS8 = h("""
00 00 00 7b 00 00 00 0b 7b 4d 6d 13 00 0c 6b 61 66 6b 61 2d 74 65 73 74 65 72 00 00 ff ff 00 00
75 30 02 0a 70 69 6e 65 61 70 70 6c 65 02 00 00 00 00 4a 00 00 00 00 00 00 00 00 00 00 00 3d 00
00 00 00 02 a4 37 a6 ee 00 00 00 00 00 00 00 00 01 91 e0 5b 6d 8b 00 00 01 91 e0 5b 6d 8b 00 00
00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01 16 00 00 00 01 0a 61 70 70 6c 65 00 00 00 00
""")
FETCH_REQ_LS8 = h("""
00 00 00 63 00 01 00 10 0e 29 0c c6 00 0c 6b 61 66 6b 61 2d 74 65 73 74 65 72 00 00 00 01 f4 00
00 00 01 7f ff ff ff 00 00 00 00 00 00 00 00 00 02 71 a5 9a 51 89 68 4f 8b 93 7e 49 37 9a 7e 97
cc 02 00 00 00 00 ff ff ff ff 00 00 00 00 00 00 00 00 ff ff ff ff ff ff ff ff ff ff ff ff 7f ff
ff ff 00 00 01 01 00
""")
FETCH_RESP_LS8 = h("""
00 00 00 91 0e 29 0c c6 00 00 00 00 00 00 00 00 42 a9 bc 02 71 a5 9a 51 89 68 4f 8b 93 7e 49 37
9a 7e 97 cc 02 00 00 00 00 00 00 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 01 00 00 00 00 00
00 00 00 00 ff ff ff ff 4a 00 00 00 00 00 00 00 00 00 00 00 3d 00 00 00 00 02 a4 37 a6 ee 00 00
00 00 00 00 00 00 01 91 e0 5b 6d 8b 00 00 01 91 e0 5b 6d 8b 00 00 00 00 00 00 00 00 00 00 00 00
00 00 00 00 00 01 16 00 00 00 01 0a 61 70 70 6c 65 00 00 00 00
""")
PRODUCE_REQ_YD8 = h("""
00 00 00 93 00 00 00 0b 0b 8b 5f 1d 00 0c 6b 61 66 6b 61 2d 74 65 73 74 65 72 00 00 ff ff 00 00
75 30 02 06 61 70 70 6c 65 02 00 00 00 00 66 00 00 00 00 00 00 00 00 00 00 00 59 00 00 00 00 02
6f d8 13 fb 00 00 00 00 00 02 00 00 01 91 e0 5b 6d 8b 00 00 01 91 e0 5b 6d 8b 00 00 00 00 00 00
00 00 00 00 00 00 00 00 00 00 00 03 20 00 00 00 01 14 73 74 72 61 77 62 65 72 72 79 00 14 00 00
02 01 08 70 65 61 72 00 16 00 00 04 01 0a 61 70 70 6c 65 00 00 00 00
""")
PRODUCE_RESP_YD8 = h("""
00 00 00 34 0b 8b 5f 1d 00 02 06 61 70 70 6c 65 02 00 00 00 00 00 00 00 00 00 00 00 00 00 00 ff
ff ff ff ff ff ff ff 00 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 00
""")
PRODUCE_REQ_CT4 = h("""
00 00 00 ec 00 00 00 0b 1c 7b f5 26 00 0c 6b 61 66 6b 61 2d 74 65 73 74 65 72 00 00 ff ff 00 00
75 30 02 07 6f 72 61 6e 67 65 03 00 00 00 00 5e 00 00 00 00 00 00 00 00 00 00 00 51 00 00 00 00
02 ba 75 25 78 00 00 00 00 00 01 00 00 01 91 e0 5b 6d 8b 00 00 01 91 e0 5b 6d 8b 00 00 00 00 00
00 00 00 00 00 00 00 00 00 00 00 00 02 1e 00 00 00 01 12 72 61 73 70 62 65 72 72 79 00 1e 00 00
02 01 12 70 69 6e 65 61 70 70 6c 65 00 00 00 00 00 01 5b 00 00 00 00 00 00 00 00 00 00 00 4e 00
00 00 00 02 34 41 4f 0e 00 00 00 00 00 01 00 00 01 91 e0 5b 6d 8b 00 00 01 91 e0 5b 6d 8b 00 00
00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 02 18 00 00 00 01 0c 6f 72 61 6e 67 65 00 1e 00 00
02 01 12 70 69 6e 65 61 70 70 6c 65 00 00 00 00
""")
# Kafka lists the partitions as 1, 0: the tester matches them by id.
PRODUCE_RESP_CT4 = h("""
00 00 00 56 1c 7b f5 26 00 02 07 6f 72 61 6e 67 65 03 00 00 00 01 00 00 00 00 00 00 00 00 00 00
ff ff ff ff ff ff ff ff 00 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
00 ff ff ff ff ff ff ff ff 00 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 00
""")
PRODUCE_REQ_OV0 = h("""
00 00 01 56 00 00 00 0b 50 01 f4 ec 00 0c 6b 61 66 6b 61 2d 74 65 73 74 65 72 00 00 ff ff 00 00
75 30 03 06 6d 61 6e 67 6f 02 00 00 00 00 63 00 00 00 00 00 00 00 00 00 00 00 56 00 00 00 00 02
79 29 43 60 00 00 00 00 00 02 00 00 01 91 e0 5b 6d 8b 00 00 01 91 e0 5b 6d 8b 00 00 00 00 00 00
00 00 00 00 00 00 00 00 00 00 00 03 16 00 00 00 01 0a 6d 61 6e 67 6f 00 18 00 00 02 01 0c 62 61
6e 61 6e 61 00 16 00 00 04 01 0a 61 70 70 6c 65 00 00 00 06 67 72 61 70 65 03 00 00 00 00 5a 00
00 00 00 00 00 00 00 00 00 00 4d 00 00 00 00 02 f3 c6 5f b3 00 00 00 00 00 01 00 00 01 91 e0 5b
6d 8b 00 00 01 91 e0 5b 6d 8b 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 02 20 00 00 00
01 14 73 74 72 61 77 62 65 72 72 79 00 14 00 00 02 01 08 70 65 61 72 00 00 00 00 00 01 5a 00 00
00 00 00 00 00 00 00 00 00 4d 00 00 00 00 02 53 f7 fe 9d 00 00 00 00 00 01 00 00 01 91 e0 5b 6d
8b 00 00 01 91 e0 5b 6d 8b 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 02 1e 00 00 00 01
12 72 61 73 70 62 65 72 72 79 00 16 00 00 02 01 0a 6d 61 6e 67 6f 00 00 00 00
""")
# Kafka lists grape before mango and grape's partitions as 1, 0.
PRODUCE_RESP_OV0 = h("""
00 00 00 7e 50 01 f4 ec 00 03 06 67 72 61 70 65 03 00 00 00 01 00 00 00 00 00 00 00 00 00 00 ff
ff ff ff ff ff ff ff 00 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
ff ff ff ff ff ff ff ff 00 00 00 00 00 00 00 00 01 00 00 00 06 6d 61 6e 67 6f 02 00 00 00 00 00
00 00 00 00 00 00 00 00 00 ff ff ff ff ff ff ff ff 00 00 00 00 00 00 00 00 01 00 00 00 00 00 00
00 00
""")

REAL_KAFKA_LOGS = "/work/shared/fixtures/kraft-combined-logs"


def uuid_of(suffix: str) -> str:
    """A tester topic UUID from its last 12 hex digits."""
    return t.TOPIC_UUID_PREFIX + suffix


class RequestEncodingTests(SynchronousTestCase):
    """Requests built by the port are byte-identical to the recorded ones."""

    def test_api_versions_v4(self) -> None:
        """ApiVersions v4 with client id kafka-tester matches the PV1/GS0 fixture."""
        self.assertEqual(t.encode_api_versions_request(0x0A95C1BF), APIVERSIONS_REQ_0A95C1BF)

    def test_api_versions_hardcoded_correlation_id(self) -> None:
        """The NV3 request carries correlation id 7."""
        self.assertEqual(t.encode_api_versions_request(7), APIVERSIONS_REQ_NV3)

    def test_api_versions_unsupported_version(self) -> None:
        """The NC5 request keeps the v4 body under a bogus header version."""
        self.assertEqual(
            t.encode_api_versions_request(0x605A05CD, api_version=1698),
            APIVERSIONS_REQ_NC5,
        )

    def test_api_versions_starter_readme(self) -> None:
        """The starter README's hand-made requests use client id kafka-cli."""
        self.assertEqual(
            t.encode_api_versions_request(0x50B2A730, client_id="kafka-cli"),
            README_APIVERSIONS_V4,
        )
        self.assertEqual(
            t.encode_api_versions_request(0x6F7FC661, client_id="kafka-cli"),
            README_APIVERSIONS_V4_B,
        )
        self.assertEqual(
            t.encode_api_versions_request(0x4F74D28B, api_version=0x674A, client_id="kafka-cli"),
            README_APIVERSIONS_BAD,
        )

    def test_describe_topic_partitions(self) -> None:
        """DescribeTopicPartitions v0 requests match VT6, EA7, KU4, WQ2 and the README."""
        cases = [
            (0x7D7B4A94, ["UNKNOWN_TOPIC_92"], 1, DTP_REQ_VT6),
            (0x7076DB55, ["mango"], 1, DTP_REQ_EA7),
            (0x01EE847E, ["apple"], 2, DTP_REQ_KU4),
            (0x73DBA9A0, ["banana", "raspberry"], 3, DTP_REQ_WQ2),
            (0x2AA78CCF, ["unknown-topic-qux"], 1, README_DTP_QUX),
        ]
        for correlation_id, names, limit, expected in cases:
            self.assertEqual(
                t.encode_describe_topic_partitions_request(correlation_id, names, limit),
                expected,
            )

    def test_fetch(self) -> None:
        """Fetch v16 requests match DH6, HN6, CM4, EG2, FD8 and the post-produce fetch."""
        cases = [
            (0x605A05CD, [], FETCH_REQ_DH6),
            (0x7602B058, [(uuid_of("000000000479"), [0])], FETCH_REQ_HN6),
            (0x5CDD07A9, [(uuid_of("71087585a62d"), [0])], FETCH_REQ_CM4),
            (0x018D2F37, [(uuid_of("b2dc350e60ec"), [0])], FETCH_REQ_EG2),
            (0x0B657E30, [(uuid_of("aaa9c9b1a62c"), [0])], FETCH_REQ_FD8),
            (0x0E290CC6, [(uuid_of("49379a7e97cc"), [0])], FETCH_REQ_LS8),
        ]
        for correlation_id, topics, expected in cases:
            self.assertEqual(t.encode_fetch_request(correlation_id, topics), expected)

    def test_produce_single_partition(self) -> None:
        """Produce v11 requests with one partition match ZF2, GG1, LS8 and YD8."""
        cases = [
            (0x47B36978, "orange", 720, ["mango"], PRODUCE_REQ_ZF2_A),
            (0x27115736, "pear", 0, ["pear"], PRODUCE_REQ_ZF2_B),
            (0x517F2D86, "apple", 0, ["apple"], PRODUCE_REQ_GG1),
            (0x7B4D6D13, "pineapple", 0, ["apple"], PRODUCE_REQ_LS8),
            (0x0B8B5F1D, "apple", 0, ["strawberry", "pear", "apple"], PRODUCE_REQ_YD8),
        ]
        for correlation_id, name, partition, messages, expected in cases:
            request = t.encode_produce_request(
                correlation_id, [(name, [(partition, t.produce_batch(messages))])]
            )
            self.assertEqual(request, expected)

    def test_produce_multiple_partitions_and_topics(self) -> None:
        """Produce v11 requests spanning partitions and topics match CT4 and OV0."""
        ct4 = t.encode_produce_request(
            0x1C7BF526,
            [
                (
                    "orange",
                    [
                        (0, t.produce_batch(["raspberry", "pineapple"])),
                        (1, t.produce_batch(["orange", "pineapple"])),
                    ],
                )
            ],
        )
        self.assertEqual(ct4, PRODUCE_REQ_CT4)
        ov0 = t.encode_produce_request(
            0x5001F4EC,
            [
                ("mango", [(0, t.produce_batch(["mango", "banana", "apple"]))]),
                (
                    "grape",
                    [
                        (0, t.produce_batch(["strawberry", "pear"])),
                        (1, t.produce_batch(["raspberry", "mango"])),
                    ],
                ),
            ],
        )
        self.assertEqual(ov0, PRODUCE_REQ_OV0)

    def test_generated_log_batch_crc(self) -> None:
        """A generated one-message log batch has the CRC Kafka served back in EG2/FD8."""
        self.assertEqual(
            t.signed32(t.record_batch_crc(t.tester_log_batch(0, "pineapple"))),
            -818561182,
        )
        self.assertEqual(
            t.signed32(t.record_batch_crc(t.tester_log_batch(0, "raspberry"))),
            -1301900292,
        )


class RealKafkaResponseTests(SynchronousTestCase):
    """Real Kafka's recorded answers pass the ported assertions."""

    def test_api_versions(self) -> None:
        """
        Kafka's ApiVersions answer passes pv1, yk1, gs0 and um3 expectations, tagged fields
        included.
        """
        response = t.check_api_versions(
            APIVERSIONS_RESP_0A95C1BF,
            0x0A95C1BF,
            [(0, 0, 11), (1, 0, 16), (18, 0, 4), (75, 0, 0)],
        )
        self.assertEqual(len(response.api_keys), 61)

    def test_api_versions_correlation_only(self) -> None:
        """nv3/wa6 only look at the correlation id and ignore the size."""
        raw = b"\x00\x00\x00\x00" + APIVERSIONS_RESP_0A95C1BF[4:]
        t.check_correlation_id_only(raw, 0x0A95C1BF)

    def test_api_versions_error(self) -> None:
        """Kafka's v0 error answer to version 1698 passes the nc5 check."""
        t.check_api_versions_error_code(APIVERSIONS_RESP_NC5, 0x605A05CD, 35)

    def test_describe_topic_partitions(self) -> None:
        """Kafka's DescribeTopicPartitions answers pass vt6, ea7, ku4 and wq2."""
        t.check_describe_topic_partitions(
            DTP_RESP_VT6,
            0x7D7B4A94,
            [t.ExpectedTopic("UNKNOWN_TOPIC_92", 3, t.ZERO_UUID, ())],
        )
        t.check_describe_topic_partitions(
            DTP_RESP_EA7,
            0x7076DB55,
            [t.ExpectedTopic("mango", 0, uuid_of("2d59b2dc350e"), ((0, 0),))],
        )
        t.check_describe_topic_partitions(
            DTP_RESP_KU4,
            0x01EE847E,
            [t.ExpectedTopic("apple", 0, uuid_of("7e97ccdaaa9c"), ((0, 0), (1, 0)))],
        )
        t.check_describe_topic_partitions(
            DTP_RESP_WQ2,
            0x73DBA9A0,
            [
                t.ExpectedTopic("banana", 0, uuid_of("0000000001ac"), ((0, 0),)),
                t.ExpectedTopic("raspberry", 0, uuid_of("0000000004cb"), ((0, 0), (1, 0))),
            ],
        )

    def test_describe_topic_partitions_order_matters(self) -> None:
        """Topics are asserted positionally in name order."""
        expected = [
            t.ExpectedTopic("raspberry", 0, uuid_of("0000000004cb"), ((0, 0), (1, 0))),
            t.ExpectedTopic("banana", 0, uuid_of("0000000001ac"), ((0, 0),)),
        ]
        self.assertRaises(
            AssertionError,
            t.check_describe_topic_partitions,
            DTP_RESP_WQ2,
            0x73DBA9A0,
            expected,
        )

    def test_fetch_no_topics_and_unknown_topic(self) -> None:
        """Kafka's dh6 and hn6 answers pass, despite non-zero session ids."""
        t.check_fetch(FETCH_RESP_DH6, 0x605A05CD)
        t.check_fetch(
            FETCH_RESP_HN6,
            0x7602B058,
            topic_id=uuid_of("000000000479"),
            partition_index=0,
            partition_error_code=100,
        )

    def test_fetch_from_disk(self) -> None:
        """Kafka's cm4, eg2 and fd8 answers match the batches the tester generated."""
        t.check_fetch(
            FETCH_RESP_CM4,
            0x5CDD07A9,
            topic_id=uuid_of("71087585a62d"),
            partition_index=0,
            partition_error_code=0,
            expected_batches=t.PartitionSpec(0, ()).batches,
        )
        t.check_fetch(
            FETCH_RESP_EG2,
            0x018D2F37,
            topic_id=uuid_of("b2dc350e60ec"),
            partition_index=0,
            partition_error_code=0,
            expected_batches=t.PartitionSpec(0, ("pineapple",)).batches,
        )
        t.check_fetch(
            FETCH_RESP_FD8,
            0x0B657E30,
            topic_id=uuid_of("aaa9c9b1a62c"),
            partition_index=0,
            partition_error_code=0,
            expected_batches=t.PartitionSpec(0, ("raspberry", "pineapple")).batches,
        )

    def test_fetch_rejects_other_batches(self) -> None:
        """
        A different record value, or headers count 0 instead of -1, fails the batch comparison.
        """
        for batches in (
            t.PartitionSpec(0, ("raspberry",)).batches,
            (t.produce_batch(["pineapple"]),),
        ):
            self.assertRaises(
                AssertionError,
                t.check_fetch,
                FETCH_RESP_EG2,
                0x018D2F37,
                topic_id=uuid_of("b2dc350e60ec"),
                partition_index=0,
                partition_error_code=0,
                expected_batches=batches,
            )

    def test_fetch_after_produce(self) -> None:
        """The produced batch comes back unchanged in the post-produce fetch."""
        t.check_fetch(
            FETCH_RESP_LS8,
            0x0E290CC6,
            topic_id=uuid_of("49379a7e97cc"),
            partition_index=0,
            partition_error_code=0,
            expected_batches=[t.produce_batch(["apple"])],
        )

    def test_produce_errors(self) -> None:
        """Kafka's error 3 answers pass the ck2 expectations."""
        for raw, correlation_id, name, partition in (
            (PRODUCE_RESP_ZF2_A, 0x47B36978, "orange", 720),
            (PRODUCE_RESP_ZF2_B, 0x27115736, "pear", 0),
        ):
            expected = t.ExpectedProducePartition(partition, 3, -1, -1, -1)
            t.check_produce(raw, correlation_id, [(name, [expected])])

    def test_produce_success(self) -> None:
        """Kafka's success answers pass, with partitions and topics matched in any order."""
        t.check_produce(PRODUCE_RESP_GG1, 0x517F2D86, t.expected_produce_success([("apple", [0])]))
        t.check_produce(PRODUCE_RESP_YD8, 0x0B8B5F1D, t.expected_produce_success([("apple", [0])]))
        t.check_produce(
            PRODUCE_RESP_CT4,
            0x1C7BF526,
            t.expected_produce_success([("orange", [0, 1])]),
        )
        t.check_produce(
            PRODUCE_RESP_OV0,
            0x5001F4EC,
            t.expected_produce_success([("mango", [0]), ("grape", [0, 1])]),
        )


class BrokenResponseTests(SynchronousTestCase):
    """The ported assertions fail on the mistakes the tester catches."""

    def test_message_size_counting_itself(self) -> None:
        """A size that includes its own 4 bytes fails."""
        raw = bytearray(PRODUCE_RESP_GG1)
        raw[3] += 4
        self.assertRaises(
            AssertionError,
            t.check_produce,
            bytes(raw),
            0x517F2D86,
            t.expected_produce_success([("apple", [0])]),
        )

    def test_trailing_bytes(self) -> None:
        """Extra bytes after the response fail the size check (they are read within the window)."""
        self.assertRaises(AssertionError, t.check_fetch, FETCH_RESP_DH6 + b"\x00", 0x605A05CD)

    def test_trailing_bytes_inside_frame(self) -> None:
        """A correctly sized frame with undecoded bytes at the end fails in strict mode only."""
        raw = t.frame(FETCH_RESP_DH6[4:] + b"\x00")
        self.assertRaises(AssertionError, t.check_fetch, raw, 0x605A05CD)
        t.check_fetch(raw, 0x605A05CD, strict=False)

    def test_wrong_correlation_id(self) -> None:
        """A different correlation id fails."""
        self.assertRaises(
            AssertionError,
            t.check_api_versions,
            APIVERSIONS_RESP_0A95C1BF,
            1,
            [(18, 0, 4)],
        )

    def test_missing_api_key(self) -> None:
        """An ApiVersions answer without a required key fails."""
        self.assertRaises(
            AssertionError,
            t.check_api_versions,
            APIVERSIONS_RESP_0A95C1BF,
            0x0A95C1BF,
            [(18, 0, 4), (99, 0, 0)],
        )

    def test_corrupt_crc(self) -> None:
        """A flipped record byte fails the CRC-32C check while decoding."""
        raw = bytearray(FETCH_RESP_EG2)
        raw[raw.index(b"pineapple")] ^= 0x20
        self.assertRaises(
            AssertionError,
            t.check_fetch,
            bytes(raw),
            0x018D2F37,
            topic_id=uuid_of("b2dc350e60ec"),
            partition_index=0,
            partition_error_code=0,
        )


class LogDirectoryTests(SynchronousTestCase):
    """prepare_log_dir writes the tester's tree with valid batches."""

    def setUp(self) -> None:
        self.root = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.root, True)
        self.log_dir = os.path.join(self.root, "kraft-combined-logs")

    def read(self, *parts: str) -> bytes:
        with open(os.path.join(self.log_dir, *parts), "rb") as handle:
            return handle.read()

    def test_base_files(self) -> None:
        """With no topics only meta.properties and .kafka_cleanshutdown exist."""
        t.prepare_log_dir(self.log_dir, topics=())
        self.assertEqual(
            sorted(os.listdir(self.log_dir)),
            [".kafka_cleanshutdown", "meta.properties"],
        )
        meta = self.read("meta.properties").decode()
        self.assertIn("cluster.id=IAAAAAAAQACAAAAAAAAAAQ\n", meta)
        self.assertIn("directory.id=EAAAAAAAQACAAAAAAAAAAQ==\n", meta)
        self.assertTrue(meta.endswith("node.id=1\nversion=1\n"))
        self.assertEqual(self.read(".kafka_cleanshutdown"), b'{"version":0,"brokerEpoch":10}')

    def test_metadata_log(self) -> None:
        """
        The metadata log decodes with valid CRCs into FeatureLevel, Topic and Partition records.
        """
        layout = t.prepare_log_dir(self.log_dir, seed=7)
        batches = t.decode_log_segment(
            self.read("__cluster_metadata-0", "00000000000000000000.log")
        )
        self.assertEqual(len(batches), 1 + len(layout.topics))
        self.assertEqual([b.base_offset for b in batches][:2], [0, 1])
        first = t.parse_metadata_payload(batches[0].records[0].value)
        self.assertEqual(
            (first["type"], first["name"], first["feature_level"]),
            (12, "metadata.version", 20),
        )
        for topic, batch in zip(layout.topics, batches[1:], strict=True):
            payloads = [t.parse_metadata_payload(r.value) for r in batch.records]
            self.assertEqual(payloads[0]["type"], 2)
            self.assertEqual(
                (payloads[0]["name"], payloads[0]["topic_id"]), (topic.name, topic.uuid)
            )
            self.assertEqual(
                [p["partition_id"] for p in payloads[1:]],
                [p.partition_id for p in topic.partitions],
            )
            for payload in payloads[1:]:
                self.assertEqual(payload["topic_id"], topic.uuid)
                self.assertEqual(
                    (payload["leader"], payload["replicas"], payload["isr"]),
                    (1, [1], [1]),
                )
                self.assertEqual(payload["directories"], [t.DIRECTORY_UUID])
            self.assertEqual((batch.partition_leader_epoch, batch.producer_id), (1, -1))
        self.assertEqual(
            self.read("__cluster_metadata-0", "partition.metadata"),
            b"version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAQ",
        )

    def test_partition_logs(self) -> None:
        """Partition logs hold one valid batch per message, or are empty."""
        layout = t.prepare_log_dir(self.log_dir, seed=11)
        for topic in layout.topics:
            for partition in topic.partitions:
                directory = f"{topic.name}-{partition.partition_id}"
                data = self.read(directory, "00000000000000000000.log")
                batches = t.decode_log_segment(data)
                self.assertEqual(
                    [b.records[0].value.decode() for b in batches],
                    list(partition.messages),
                )
                self.assertEqual(
                    [b.base_offset for b in batches],
                    list(range(len(partition.messages))),
                )
                self.assertTrue(all(b.records[0].headers is None for b in batches))
                self.assertEqual(
                    self.read(directory, "partition.metadata").decode(),
                    f"version: 0\ntopic_id: {t.uuid_to_base64(topic.uuid)}",
                )

    def test_same_shape_as_real_kafka(self) -> None:
        """Real Kafka's metadata and partition logs decode with the same parsers."""
        if not os.path.isdir(REAL_KAFKA_LOGS):
            raise self.skipTest("no real Kafka fixture in /work/shared")
        with open(
            os.path.join(REAL_KAFKA_LOGS, "__cluster_metadata-0", "00000000000000000000.log"),
            "rb",
        ) as handle:
            real = t.decode_log_segment(handle.read())
        real_payloads = [
            t.parse_metadata_payload(r.value) for b in real for r in b.records if r.value
        ]
        real_types = {p["type"] for p in real_payloads}
        self.assertTrue({12, 2, 3} <= real_types)
        real_partition = next(p for p in real_payloads if p["type"] == 3)
        layout = t.prepare_log_dir(self.log_dir, seed=3)
        ours = t.decode_log_segment(self.read("__cluster_metadata-0", "00000000000000000000.log"))
        our_partition = t.parse_metadata_payload(ours[1].records[1].value)
        self.assertEqual(
            set(real_partition) - {"tagged_fields"},
            set(our_partition) - {"tagged_fields"},
        )
        self.assertEqual((real_partition["frame_version"], real_partition["version"]), (1, 1))
        real_topic = next(p for p in real_payloads if p["type"] == 2)
        self.assertEqual(real_topic["name"], "foo")
        with open(
            os.path.join(REAL_KAFKA_LOGS, "foo-0", "00000000000000000000.log"), "rb"
        ) as handle:
            foo = t.decode_log_segment(handle.read())
        self.assertEqual(foo[0].records[0].value, b"Hello World!")
        self.assertTrue(layout.topics)

    def test_server_properties(self) -> None:
        """server.properties is the tester's text, ports and log dir substituted."""
        path = os.path.join(self.root, "server.properties")
        t.write_server_properties(path, "/tmp/kraft-combined-logs", 9092, 9093)
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        self.assertEqual(
            text,
            "process.roles=broker,controller\nnode.id=1\ncontroller.quorum.voters=1@localhost:9093\n"
            "listeners=PLAINTEXT://:9092,CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n"
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,"
            "SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL\nlog.dirs=/tmp/kraft-combined-logs",
        )


class RandomnessTests(SynchronousTestCase):
    """Random helpers follow the tester's ranges and formats."""

    def test_topic_uuids(self) -> None:
        """Topic UUIDs share the tester's prefix and encode without '+' or '/'."""
        rand = t.TesterRandom(5)
        for value in [rand.topic_uuid() for _ in range(50)] + rand.topic_uuids(3):
            self.assertTrue(value.startswith(t.TOPIC_UUID_PREFIX))
            self.assertNotIn("+", t.uuid_to_base64(value))
            self.assertNotIn("/", t.uuid_to_base64(value))

    def test_words(self) -> None:
        """RandomWords returns distinct fruit names; RandomString is six of them."""
        rand = t.TesterRandom(9)
        words = rand.words(4)
        self.assertEqual(len(set(words)), 4)
        self.assertTrue(set(words) <= set(t.RANDOM_WORDS))
        self.assertEqual(len(rand.string().split(" ")), 6)

    def test_stage_table(self) -> None:
        """There are 25 stages with unique slugs and the old produce slugs as aliases."""
        self.assertEqual(len(t.STAGES), 25)
        self.assertEqual(len({s.slug for s in t.STAGES}), 25)
        self.assertIs(t.STAGE_BY_SLUG["ls8"], t.STAGE_BY_SLUG["ps7"])
