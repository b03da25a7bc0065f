"""The log cleaner (Kafka's log compaction)."""
