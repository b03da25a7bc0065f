"""kafkatwist for tests: the C{kafka_broker} pytest fixture and fault injection."""
