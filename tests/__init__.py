"""kafkatwist tests."""
