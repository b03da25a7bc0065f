"""kafkatwist.wire."""
