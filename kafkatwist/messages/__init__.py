"""kafkatwist.messages."""
