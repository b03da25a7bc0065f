"""Constants taken from the tester's source (C{codecrafters-io/kafka-tester})."""

from __future__ import annotations

CLIENT_ID = "kafka-tester"
CLIENT_SOFTWARE_NAME = "kafka-cli"
CLIENT_SOFTWARE_VERSION = "0.1"

API_PRODUCE = 0
API_FETCH = 1
API_API_VERSIONS = 18
API_DESCRIBE_TOPIC_PARTITIONS = 75

API_VERSIONS_VERSION = 4
DESCRIBE_TOPIC_PARTITIONS_VERSION = 0
FETCH_VERSION = 16
PRODUCE_VERSION = 11

NO_ERROR = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
UNSUPPORTED_VERSION = 35
UNKNOWN_TOPIC_ID = 100

MAX_INT32 = 2**31 - 1

LOG_FILE_NAME = "00000000000000000000.log"
CLUSTER_METADATA_DIRECTORY = "__cluster_metadata-0"
PARTITION_METADATA_FILE_NAME = "partition.metadata"
META_PROPERTIES_FILE_NAME = "meta.properties"
KAFKA_CLEAN_SHUTDOWN_FILE_NAME = ".kafka_cleanshutdown"
REAL_SERVER_PROPERTIES_PATH = "/tmp/server.properties"
REAL_LOG_DIRECTORY = "/tmp/kraft-combined-logs"
REAL_PORT = 9092

DIRECTORY_UUID = "10000000-0000-4000-8000-000000000001"
CLUSTER_METADATA_TOPIC_ID = "AAAAAAAAAAAAAAAAAAAAAQ"
CLUSTER_ID = "IAAAAAAAQACAAAAAAAAAAQ"
NODE_ID = 1
META_VERSION = 1
CLEAN_SHUTDOWN_CONTENTS = '{"version":0,"brokerEpoch":10}'
ZERO_UUID = "00000000-0000-0000-0000-000000000000"
TOPIC_UUID_PREFIX = "71a59a51-8968-4f8b-937e-"

# Timestamps hard-coded by the tester's file generator and Produce builder.
RECORD_TIMESTAMP = 1726045973899
FEATURE_LEVEL_BATCH_TIMESTAMP = 1726045943832
TOPIC_BATCH_TIMESTAMP = 1726045957397
METADATA_VERSION_FEATURE_LEVEL = 20

# tester-utils/random's word list (RandomWord, RandomWords, RandomString).
RANDOM_WORDS = (
    "apple",
    "orange",
    "banana",
    "pear",
    "grape",
    "pineapple",
    "mango",
    "strawberry",
    "raspberry",
    "blueberry",
)

# The tester reads a response as: one blocking read for the first (up to)
# 4 bytes, then everything that arrives within 100 ms after that.
READ_WINDOW_SECONDS = 0.1
# tester-utils' default per-stage timeout; vi6 uses 15 s.
STAGE_TIMEOUT_SECONDS = 10.0
BIND_STAGE_TIMEOUT_SECONDS = 15.0

TAG_BUFFER = b"\x00"

# __cluster_metadata record types (frame 1).
FEATURE_LEVEL_RECORD_TYPE = 12
TOPIC_RECORD_TYPE = 2
PARTITION_RECORD_TYPE = 3
