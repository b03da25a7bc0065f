"""Tests for kafkatwist.storage."""
