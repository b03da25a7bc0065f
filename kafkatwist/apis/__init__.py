"""kafkatwist.apis."""
