"""Tests of the metrics listener, its hook and its collector (kafkatwist.metrics)."""
