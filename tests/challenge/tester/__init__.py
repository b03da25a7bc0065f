"""An independent Python port of CodeCrafters' C{kafka-tester}.

The package reproduces, byte for byte, what the Go tester
(C{codecrafters-io/kafka-tester}) writes to disk, sends on the wire and
asserts about the answers, for all 25 stages of the "Build your own Kafka"
course. See C{TESTER_NOTES.md} next to this package for the source survey.

It is deliberately independent of C{kafkatwist}: it uses only the standard
library and C{crc32c}, with its own hand-written encoders and decoders, so it
can serve as an oracle for the broker. Its modules follow the Go tester's
packages:

  - L{constants}: the values taken from the tester's source;
  - L{encoder}, L{record_batch}, L{metadata_records}: encoders (and the
    C{__cluster_metadata} record parser);
  - L{decoder}, L{response_decoders}: the field-by-field decoding;
  - L{request_encoders}: the requests each stage sends;
  - L{kafka_files_generator}, L{tester_random}: the files written before a
    stage starts, and the seeded randomness that shapes them;
  - L{response_assertions}: the checks, pure functions over response bytes;
  - L{connection}, L{context}, L{setups}, L{stages}: running a stage;
  - L{runner}: the command line (C{python -m tests.challenge.tester}).

Library use::

    ctx = StageContext(log_dir="/tmp/kraft-combined-logs", seed=1)
    STAGE_BY_SLUG["eg2"].setup(ctx)      # writes the log directory
    ...start the broker...
    STAGE_BY_SLUG["eg2"].run("localhost", 9092, ctx)   # raises AssertionError

Command line (from the repository root)::

    python -m tests.challenge.tester --program ./your_program.sh
    python -m tests.challenge.tester --program ./your_program.sh --stage eg2
    python -m tests.challenge.tester --program ./your_program.sh --real-paths
"""

__all__: list[str] = []
