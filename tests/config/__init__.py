"""Tests for kafkatwist.config."""
