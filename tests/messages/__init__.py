"""Tests for kafkatwist.messages."""
