"""Tests for kafkatwist.topics."""
