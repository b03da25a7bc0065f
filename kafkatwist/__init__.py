"""kafkatwist: a Kafka-compatible broker on Twisted."""

__version__ = "0.1.0"
