"""Tests for kafkatwist.transport."""
