"""kafkatwist.storage."""
