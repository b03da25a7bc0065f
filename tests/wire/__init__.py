"""Tests for kafkatwist.wire."""
